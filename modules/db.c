/* db.c — the one place that talks to APR DBD: statements registered with mod_dbd so every
 * pooled connection prepares them once, binary parameters (no SQL is ever built from input),
 * rows copied out so the connection is free again, and errors logged but never shown. */
#include "db.h"

#include "http_log.h"
#include "apr_strings.h"
#include "apr_optional.h"

APLOG_USE_MODULE(secauth);

static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *dbd_acquire;
static APR_OPTIONAL_FN_TYPE(ap_dbd_prepare) *dbd_prepare;

const secauth_stmt_t secauth_db_statements[] = {
    {"secauth_health", "SELECT 1", NULL},
    {"secauth_last_id", "SELECT LAST_INSERT_ID()", "SELECT last_insert_rowid()"},
    {NULL, NULL, NULL}
};

int secauth_db_init(void)
{
    dbd_acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    dbd_prepare = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare);
    return dbd_acquire && dbd_prepare;
}

void secauth_db_prepare(server_rec *s, const char *driver, const secauth_stmt_t *stmts)
{
    int sqlite = !strcmp(driver, "sqlite3");
    for (; stmts->label; stmts++) {
        dbd_prepare(s, (sqlite && stmts->sqlite) ? stmts->sqlite : stmts->mysql, stmts->label);
    }
}

/* SQLite lets one writer in at a time and APR DBD's driver retries a busy database for only
 * about 1.5 s, so parallel writers (logins recording failures, say) could fail with "database
 * is locked" under load. Each pooled SQLite connection therefore waits for the write lock up
 * to this long (of the order of InnoDB's own lock wait), set once per connection (marked in
 * the connection's own pool). */
#define SQLITE_BUSY_TIMEOUT_MS "30000"
#define BUSY_MARK "secauth-busy-timeout"

static void sqlite_busy_timeout(request_rec *r, ap_dbd_t *dbd)
{
    void *done = NULL;
    int nrows = 0;

    if (strcmp(apr_dbd_name(dbd->driver), "sqlite3")
        || (apr_pool_userdata_get(&done, BUSY_MARK, dbd->pool) == APR_SUCCESS && done)) {
        return;
    }
    if (apr_dbd_query(dbd->driver, dbd->handle, &nrows,
                      "PRAGMA busy_timeout = " SQLITE_BUSY_TIMEOUT_MS) != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, APLOGNO(10513)
                      "mod_secauth: could not set the SQLite busy timeout");
        return;
    }
    apr_pool_userdata_setn(BUSY_MARK, BUSY_MARK, NULL, dbd->pool);
}

/* After the database comes back, the pool still holds connections to the old server: mod_dbd
 * finds each dead one on its check, drops it and returns NULL. More tries get a live or fresh
 * connection instead of failing this request too. A pool holds about DBDKeep idle connections,
 * so a handful of tries drains it; the time budget bounds the tries while the server is really
 * down (each then fails at connect, itself bounded by connecttimeout in DBDParams). */
#define ACQUIRE_TRIES 8
#define ACQUIRE_BUDGET apr_time_from_msec(1000)

ap_dbd_t *secauth_db_acquire(request_rec *r)
{
    ap_dbd_t *dbd = NULL;
    apr_time_t deadline = apr_time_now() + ACQUIRE_BUDGET;
    int i;

    for (i = 0; i < ACQUIRE_TRIES && dbd_acquire && !dbd; i++) {
        if (i > 0 && apr_time_now() > deadline) {
            break;
        }
        dbd = dbd_acquire(r);
    }
    if (!dbd) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10510)
                      "mod_secauth: no database connection (see mod_dbd's messages)");
        return NULL;
    }
    sqlite_busy_timeout(r, dbd);
    return dbd;
}

static apr_dbd_prepared_t *statement(request_rec *r, ap_dbd_t *dbd, const char *label)
{
    apr_dbd_prepared_t *stmt = apr_hash_get(dbd->prepared, label, APR_HASH_KEY_STRING);
    if (!stmt) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10511)
                      "mod_secauth: statement %s is not prepared on this connection", label);
    }
    return stmt;
}

static int failure(request_rec *r, ap_dbd_t *dbd, const char *label, int rv)
{
    const char *msg = apr_dbd_error(dbd->driver, dbd->handle, rv);
    if (msg && (strstr(msg, "Duplicate entry") || strstr(msg, "UNIQUE constraint"))) {
        return SECAUTH_DB_DUPLICATE;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10512)
                  "mod_secauth: %s failed: %s", label, msg ? msg : "unknown error");
    return SECAUTH_DB_ERROR;
}

int secauth_db_exec(request_rec *r, ap_dbd_t *dbd, const char *label, const void **args,
                    int *affected)
{
    apr_dbd_prepared_t *stmt = statement(r, dbd, label);
    int nrows = 0, rv;

    if (!stmt) {
        return SECAUTH_DB_ERROR;
    }
    rv = apr_dbd_pbquery(dbd->driver, r->pool, dbd->handle, &nrows, stmt, args);
    if (rv) {
        return failure(r, dbd, label, rv);
    }
    if (affected) {
        *affected = nrows;
    }
    return SECAUTH_DB_OK;
}

int secauth_db_select(request_rec *r, ap_dbd_t *dbd, const char *label, const void **args,
                      secauth_rows_t *out)
{
    apr_dbd_prepared_t *stmt = statement(r, dbd, label);
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    apr_array_header_t *rows;
    int rv, j;

    memset(out, 0, sizeof(*out));
    if (!stmt) {
        return SECAUTH_DB_ERROR;
    }
    rv = apr_dbd_pbselect(dbd->driver, r->pool, dbd->handle, &res, stmt, 0, args);
    if (rv) {
        return failure(r, dbd, label, rv);
    }
    out->ncols = apr_dbd_num_cols(dbd->driver, res);
    rows = apr_array_make(r->pool, 4, sizeof(const char **));
    /* read to the end even when one row is wanted: a half-read result blocks the connection */
    while ((rv = apr_dbd_get_row(dbd->driver, r->pool, res, &row, -1)) == 0) {
        const char **values = apr_palloc(r->pool, sizeof(char *) * (out->ncols + 1));
        for (j = 0; j < out->ncols; j++) {
            const char *v = apr_dbd_get_entry(dbd->driver, row, j);
            values[j] = v ? apr_pstrdup(r->pool, v) : NULL;
        }
        *(const char ***)apr_array_push(rows) = values;
    }
    if (rv != -1) {
        return failure(r, dbd, label, rv);
    }
    out->nrows = rows->nelts;
    out->rows = (const char ***)rows->elts;
    return SECAUTH_DB_OK;
}

int secauth_db_last_id(request_rec *r, ap_dbd_t *dbd, int *id)
{
    secauth_rows_t rows;
    int rc = secauth_db_select(r, dbd, "secauth_last_id", NULL, &rows);

    if (rc != SECAUTH_DB_OK) {
        return rc;
    }
    if (rows.nrows != 1 || !rows.rows[0][0] || (*id = atoi(rows.rows[0][0])) <= 0) {
        return SECAUTH_DB_ERROR;
    }
    return SECAUTH_DB_OK;
}

int secauth_db_begin(request_rec *r, ap_dbd_t *dbd, apr_dbd_transaction_t **txn)
{
    int rv = apr_dbd_transaction_start(dbd->driver, r->pool, dbd->handle, txn);
    return rv ? failure(r, dbd, "transaction start", rv) : SECAUTH_DB_OK;
}

int secauth_db_end(request_rec *r, ap_dbd_t *dbd, apr_dbd_transaction_t *txn, int commit)
{
    int rv;
    apr_dbd_transaction_mode_set(dbd->driver, txn, commit ? APR_DBD_TRANSACTION_COMMIT
                                                          : APR_DBD_TRANSACTION_ROLLBACK);
    rv = apr_dbd_transaction_end(dbd->driver, r->pool, txn);
    return rv ? failure(r, dbd, "transaction end", rv) : SECAUTH_DB_OK;
}

const char *secauth_db_iso_time(apr_pool_t *p, const char *db_time)
{
    char *iso;
    if (!db_time || strlen(db_time) < 19) {
        return db_time;
    }
    iso = apr_pstrndup(p, db_time, 19);
    iso[10] = 'T';
    return apr_pstrcat(p, iso, "Z", NULL);
}
