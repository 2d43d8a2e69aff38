/* db.c — the one place that talks to APR DBD: statements registered with mod_dbd so every
 * pooled connection prepares them once, binary parameters (no SQL is ever built from input),
 * rows copied out so the connection is free again, and errors logged but never shown. */
#include "db.h"
#include "metrics.h"
#include "request.h"

#include <pthread.h>
#include <signal.h>

#include "http_log.h"
#include "http_request.h"
#include "apr_strings.h"
#include "apr_optional.h"
#include "apr_thread_cond.h"
#include "apr_thread_mutex.h"
#include "apr_thread_proc.h"
#include "log.h"
#include "dberror.h"

APLOG_USE_MODULE(secauth);

static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;
static APR_OPTIONAL_FN_TYPE(ap_dbd_prepare) *dbd_prepare;

const secauth_stmt_t secauth_db_statements[] = {
    {"secauth_health", "SELECT 1", NULL},
    {"secauth_last_id", "SELECT LAST_INSERT_ID()", "SELECT last_insert_rowid()"},
    {NULL, NULL, NULL}
};

int secauth_db_init(void)
{
    dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    dbd_prepare = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare);
    return dbd_open && dbd_close && dbd_prepare;
}

void secauth_db_prepare(server_rec *s, const char *driver, const secauth_stmt_t *stmts)
{
    int sqlite = !strcmp(driver, "sqlite3");
    for (; stmts->label; stmts++) {
        dbd_prepare(s, (sqlite && stmts->sqlite) ? stmts->sqlite : stmts->mysql, stmts->label);
    }
}

/* SQLite lets one writer in at a time. APR DBD's driver runs every statement under one mutex
 * for the whole process and, when the database is busy, sleeps 100 ms with that mutex released
 * and tries again, 15 times. SQLite's own busy wait (PRAGMA busy_timeout) polls far more often
 * but runs under that mutex: a long one would stop the thread that holds the write lock in a
 * transaction from reaching its COMMIT, and both would wait the whole timeout. So each
 * connection waits inside SQLite for a short while only, and APR's retries (mutex released)
 * make up the rest: about 2 s in all before "database is locked" (503). Set once per
 * connection, marked in the connection's own pool. */
#define SQLITE_BUSY_TIMEOUT "PRAGMA busy_timeout = 50"
#define BUSY_MARK "secauth-busy-timeout"

static void sqlite_busy_timeout(request_rec *r, ap_dbd_t *dbd)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    void *done = NULL;
    int rv;

    if (strcmp(apr_dbd_name(dbd->driver), "sqlite3")
        || (apr_pool_userdata_get(&done, BUSY_MARK, dbd->pool) == APR_SUCCESS && done)) {
        return;
    }
    /* the pragma answers with a row (the new value): a select, not a query */
    rv = apr_dbd_select(dbd->driver, r->pool, dbd->handle, &res, SQLITE_BUSY_TIMEOUT, 0);
    while (rv == 0 && apr_dbd_get_row(dbd->driver, r->pool, res, &row, -1) == 0);
    if (rv != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SECAUTH_LOGNO(513)
                      "mod_secauth: could not set the SQLite busy timeout");
        return;
    }
    apr_pool_userdata_setn(BUSY_MARK, BUSY_MARK, NULL, dbd->pool);
}

/* ---- the request's connection, and reuse between requests ----
 *
 * mod_dbd checks a connection (for MySQL a ping: one more round trip, a third of the
 * database work of a read request) each time one is taken from its pool. A connection that a
 * request of this process gave back a moment ago is known to work, so under a threaded MPM it
 * rests on a short list and the next request of the same server takes it from there
 * unchecked. A resting connection still counts as taken for mod_dbd, so DBDMax bounds them
 * all. Connections go back to mod_dbd, which checks them on their next use, when they rested
 * longer than REUSE_WINDOW (a keeper thread returns them even when no request comes, so other
 * users of mod_dbd's pool never wait longer than that), when their request saw a database
 * error or left a transaction open, when a thread is about to wait in ap_dbd_open (mod_dbd
 * may share one pool between servers: every resting connection goes back first), and when
 * DBDPersist Off made them for one request only. */
#define REUSE_WINDOW apr_time_from_msec(250)

typedef struct resting {
    ap_dbd_t *dbd;
    server_rec *s;
    apr_time_t since;
    struct resting *next;
} resting_t;

typedef struct secauth_held_t {
    ap_dbd_t *dbd;
    server_rec *s;
    apr_pool_t *pool;             /* the initial request's */
    apr_dbd_transaction_t *txn;   /* open transaction, rolled back at release */
    int broken;                   /* a statement failed: mod_dbd must check it again */
} held_t;

static apr_thread_mutex_t *reuse_mutex;   /* NULL: no reuse; guards everything below */
static apr_thread_cond_t *keeper_wake;
static apr_thread_t *keeper;
static int keeper_stop;
static apr_pool_t *reuse_pool;
static resting_t *resting_list;           /* most recently released first */
static resting_t *spare_entries;
static int threads_in_dbd_open;

/* Hands the entries of list back to mod_dbd (without the mutex) and recycles them. */
static void give_back(resting_t *list)
{
    resting_t *e, *last = NULL;

    for (e = list; e; e = e->next) {
        dbd_close(e->s, e->dbd);
        last = e;
    }
    if (last) {
        apr_thread_mutex_lock(reuse_mutex);
        last->next = spare_entries;
        spare_entries = list;
        apr_thread_mutex_unlock(reuse_mutex);
    }
}

/* With the mutex held: unlinks and returns the entries that rested longer than the window
 * (the list is newest first, so they are its tail). */
static resting_t *detach_stale(apr_time_t now)
{
    resting_t **link, *stale;

    for (link = &resting_list; *link && now - (*link)->since <= REUSE_WINDOW;
         link = &(*link)->next);
    stale = *link;
    *link = NULL;
    return stale;
}

static void *APR_THREAD_FUNC keep_fresh(apr_thread_t *thread, void *data)
{
    resting_t *stale;
    (void)data;

    apr_thread_mutex_lock(reuse_mutex);
    while (!keeper_stop) {
        apr_thread_cond_timedwait(keeper_wake, reuse_mutex, REUSE_WINDOW);
        stale = detach_stale(apr_time_now());
        apr_thread_mutex_unlock(reuse_mutex);
        give_back(stale);
        apr_thread_mutex_lock(reuse_mutex);
    }
    apr_thread_mutex_unlock(reuse_mutex);
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

/* Before mod_dbd's pools (children of pchild) go: its pool must have every connection back. */
static apr_status_t stop_reuse(void *data)
{
    apr_status_t rv;
    resting_t *all;
    (void)data;

    apr_thread_mutex_lock(reuse_mutex);
    keeper_stop = 1;
    apr_thread_cond_signal(keeper_wake);
    apr_thread_mutex_unlock(reuse_mutex);
    apr_thread_join(&rv, keeper);
    apr_thread_mutex_lock(reuse_mutex);
    all = resting_list;
    resting_list = NULL;
    apr_thread_mutex_unlock(reuse_mutex);
    give_back(all);
    reuse_mutex = NULL;
    return APR_SUCCESS;
}

int secauth_db_child_init(apr_pool_t *pchild, int threaded)
{
    sigset_t all, saved;
    apr_status_t rv;

    if (!threaded) {
        /* one request at a time per child: nothing to gain, and no thread to keep */
        return 0;
    }
    if (apr_pool_create(&reuse_pool, pchild) != APR_SUCCESS
        || apr_thread_mutex_create(&reuse_mutex, APR_THREAD_MUTEX_DEFAULT, pchild) != APR_SUCCESS
        || apr_thread_cond_create(&keeper_wake, pchild) != APR_SUCCESS) {
        reuse_mutex = NULL;
        return -1;
    }
    /* child_init runs before the MPM blocks signals in its threads: the keeper must never be
     * the thread a signal meant for the child lands on */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved);
    rv = apr_thread_create(&keeper, NULL, keep_fresh, NULL, pchild);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (rv != APR_SUCCESS) {
        reuse_mutex = NULL;
        return -1;
    }
    apr_pool_pre_cleanup_register(pchild, NULL, stop_reuse);
    return 0;
}

/* A connection of server s that rested for less than REUSE_WINDOW, or NULL; then the caller
 * goes to ap_dbd_open and must call left_dbd_open after. */
static ap_dbd_t *take_resting(server_rec *s)
{
    resting_t **link, *e, *back;
    ap_dbd_t *dbd = NULL;

    if (!reuse_mutex) return NULL;
    apr_thread_mutex_lock(reuse_mutex);
    back = detach_stale(apr_time_now());
    for (link = &resting_list; (e = *link) && e->s != s; link = &e->next);
    if (e) {
        *link = e->next;
        dbd = e->dbd;
        e->next = spare_entries;
        spare_entries = e;
    }
    else if (resting_list) {
        /* the others may come from the pool this thread is about to wait on */
        for (e = resting_list; e->next; e = e->next);
        e->next = back;
        back = resting_list;
        resting_list = NULL;
    }
    if (!dbd) {
        threads_in_dbd_open++;
    }
    apr_thread_mutex_unlock(reuse_mutex);
    give_back(back);
    return dbd;
}

static void left_dbd_open(void)
{
    if (!reuse_mutex) return;
    apr_thread_mutex_lock(reuse_mutex);
    threads_in_dbd_open--;
    apr_thread_mutex_unlock(reuse_mutex);
}

/* The open transaction of a connection whose request ends (or whose BEGIN failed) is rolled
 * back, so that the driver does not keep a pointer into a request pool about to be freed. */
static void end_transaction(ap_dbd_t *dbd, apr_dbd_transaction_t *txn)
{
    apr_pool_t *scratch;

    if (apr_pool_create(&scratch, NULL) == APR_SUCCESS) {
        apr_dbd_transaction_mode_set(dbd->driver, txn, APR_DBD_TRANSACTION_ROLLBACK);
        apr_dbd_transaction_end(dbd->driver, scratch, txn);
        apr_pool_destroy(scratch);
    }
}

/* At the end of the request, before its subpools go (DBDPersist Off makes the connection in
 * one): to the resting list, or back to mod_dbd. */
static apr_status_t release_connection(void *data)
{
    held_t *held = data;
    resting_t *e = NULL;

    if (held->txn) {
        end_transaction(held->dbd, held->txn);
        held->broken = 1;
    }
    if (!held->broken && reuse_mutex && !apr_pool_is_ancestor(held->pool, held->dbd->pool)) {
        apr_thread_mutex_lock(reuse_mutex);
        if (threads_in_dbd_open == 0) {
            if ((e = spare_entries)) {
                spare_entries = e->next;
            }
            else {
                e = apr_palloc(reuse_pool, sizeof(*e));
            }
            e->dbd = held->dbd;
            e->s = held->s;
            e->since = apr_time_now();
            e->next = resting_list;
            resting_list = e;
        }
        apr_thread_mutex_unlock(reuse_mutex);
    }
    if (!e) {
        dbd_close(held->s, held->dbd);
    }
    return APR_SUCCESS;
}

/* Subrequests and internal redirects share the initial request's connection, as with
 * ap_dbd_acquire. */
static request_rec *initial_request(request_rec *r)
{
    while (!ap_is_initial_req(r)) {
        r = r->prev ? r->prev : r->main;
    }
    return r;
}

static void log_failure(request_rec *r, secauth_fail_t cause, const char *label,
                        const char *msg);

/* The connection the request holds: in the context of the initial request (request.h). */
static held_t *held_connection(request_rec *r)
{
    secauth_req_t *req = secauth_request_find(initial_request(r));
    return req ? req->held : NULL;
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
    request_rec *initial = initial_request(r);
    held_t *held = held_connection(r);
    ap_dbd_t *dbd;
    apr_time_t deadline;
    int i;

    if (held) {
        return held->dbd;
    }
    dbd = dbd_open ? take_resting(initial->server) : NULL;
    if (!dbd && dbd_open) {
        deadline = apr_time_now() + ACQUIRE_BUDGET;
        for (i = 0; i < ACQUIRE_TRIES && !dbd; i++) {
            if (i > 0 && apr_time_now() > deadline) {
                break;
            }
            dbd = dbd_open(initial->pool, initial->server);
        }
        left_dbd_open();
    }
    if (!dbd) {
        secauth_metrics_inc(SECAUTH_M_DB_ERROR_CONNECT);
        log_failure(r, SECAUTH_FAIL_CONNECT, "acquire", NULL);
        return NULL;
    }
    held = apr_pcalloc(initial->pool, sizeof(*held));
    held->dbd = dbd;
    held->s = initial->server;
    held->pool = initial->pool;
    secauth_request(initial)->held = held;
    apr_pool_pre_cleanup_register(initial->pool, held, release_connection);
    sqlite_busy_timeout(r, dbd);
    return dbd;
}

static apr_dbd_prepared_t *statement(request_rec *r, ap_dbd_t *dbd, const char *label)
{
    apr_dbd_prepared_t *stmt = apr_hash_get(dbd->prepared, label, APR_HASH_KEY_STRING);
    if (!stmt) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SECAUTH_LOGNO(511)
                      "mod_secauth: statement %s is not prepared on this connection", label);
    }
    return stmt;
}

/* ---- failures: what they mean, and what is said about them ----
 * A Galera cluster adds three outcomes to "it failed": a certification conflict (nothing was
 * written; the whole transaction may run again), a node outside the primary component (answer
 * 503 at once: that node refuses everything until it rejoins) and a connection lost during a
 * statement or COMMIT (the write may have committed on the cluster: 503, never retried here;
 * the client retries with its Idempotency-Key). During an outage every request fails the same
 * way, so each cause writes one line a second with the count of the lines held back. */
static void log_failure(request_rec *r, secauth_fail_t cause, const char *label,
                        const char *msg)
{
    apr_uint32_t held_back = 0;
    const char *more;

    if (!secauth_fail_should_log(cause, apr_time_now(), &held_back)) {
        return;
    }
    more = held_back ? apr_psprintf(r->pool, " (and %u more like it in the last second%s)",
                                    held_back, held_back > 1 ? "s" : "")
                     : "";
    switch (cause) {
    case SECAUTH_FAIL_NOT_PRIMARY:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SECAUTH_LOGNO(851)
                      "mod_secauth: %s refused: the database node is not part of the cluster's "
                      "primary component; answered 503 with Retry-After%s", label, more);
        break;
    case SECAUTH_FAIL_UNKNOWN:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SECAUTH_LOGNO(852)
                      "mod_secauth: connection lost during %s (%s): its outcome is unknown; "
                      "answered 503 with Retry-After%s", label, msg ? msg : "", more);
        break;
    case SECAUTH_FAIL_CONFLICT:
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SECAUTH_LOGNO(853)
                      "mod_secauth: %s lost %d certification conflicts in a row; answered 503%s",
                      label, SECAUTH_DB_RETRIES + 1, more);
        break;
    case SECAUTH_FAIL_CONNECT:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SECAUTH_LOGNO(510)
                      "mod_secauth: no database connection (see mod_dbd's messages)%s", more);
        break;
    default:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SECAUTH_LOGNO(512)
                      "mod_secauth: %s failed: %s%s", label, msg && *msg ? msg : "unknown error",
                      more);
        break;
    }
}

static int in_transaction(request_rec *r, ap_dbd_t *dbd)
{
    held_t *held = held_connection(r);
    return held && held->dbd == dbd && held->txn;
}

static int failure(request_rec *r, ap_dbd_t *dbd, const char *label, int rv)
{
    const char *msg = apr_dbd_error(dbd->driver, dbd->handle, rv);
    secauth_fail_t cause = secauth_fail_classify(apr_dbd_name(dbd->driver), rv, msg);
    held_t *held;

    if (cause == SECAUTH_FAIL_DUPLICATE) {
        secauth_metrics_inc(SECAUTH_M_DB_ERROR_CONFLICT);
        return SECAUTH_DB_DUPLICATE;
    }
    if (cause == SECAUTH_FAIL_CONFLICT) {
        /* the connection is fine; the caller runs the transaction again */
        secauth_metrics_inc(SECAUTH_M_DB_ERROR_CONFLICT);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, SECAUTH_LOGNO(854)
                      "mod_secauth: %s: certification conflict (%s)", label, msg ? msg : "");
        return SECAUTH_DB_CONFLICT;
    }
    if ((held = held_connection(r)) && held->dbd == dbd) {
        held->broken = 1;
    }
    secauth_metrics_inc(SECAUTH_M_DB_ERROR_QUERY);
    log_failure(r, cause, label, msg);
    return SECAUTH_DB_ERROR;
}

int secauth_db_retry(request_rec *r, int rc, int attempt, const char *label)
{
    if (rc != SECAUTH_DB_CONFLICT) {
        return 0;
    }
    if (attempt >= SECAUTH_DB_RETRIES) {
        log_failure(r, SECAUTH_FAIL_CONFLICT, label, NULL);
        return 0;
    }
    /* the winner's write set is being applied: a short, growing, spread pause lets it land
     * and keeps the losers of one race from meeting again */
    apr_sleep(apr_time_from_msec(2 + 4 * attempt) + (apr_time_now() % 4000));
    return 1;
}

int secauth_db_exec(request_rec *r, ap_dbd_t *dbd, const char *label, const void **args,
                    int *affected)
{
    apr_dbd_prepared_t *stmt = statement(r, dbd, label);
    int nrows = 0, rv, rc, attempt;

    if (!stmt) {
        return SECAUTH_DB_ERROR;
    }
    secauth_metrics_inc(SECAUTH_M_DB_CALLS);
    /* on its own (autocommit) the statement is the whole transaction: retried here */
    for (attempt = 0; (rv = apr_dbd_pbquery(dbd->driver, r->pool, dbd->handle, &nrows, stmt,
                                            args)) != 0; attempt++) {
        rc = failure(r, dbd, label, rv);
        if (in_transaction(r, dbd) || !secauth_db_retry(r, rc, attempt, label)) {
            return rc;
        }
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
    int rv, rc, attempt, j;

    memset(out, 0, sizeof(*out));
    if (!stmt) {
        return SECAUTH_DB_ERROR;
    }
    secauth_metrics_inc(SECAUTH_M_DB_CALLS);
    for (attempt = 0; (rv = apr_dbd_pbselect(dbd->driver, r->pool, dbd->handle, &res, stmt, 0,
                                             args)) != 0; attempt++) {
        rc = failure(r, dbd, label, rv);
        if (in_transaction(r, dbd) || !secauth_db_retry(r, rc, attempt, label)) {
            return rc;
        }
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
    held_t *held = held_connection(r);
    int rv;

    /* in the pool the connection is held for: the driver keeps a pointer to it */
    *txn = NULL;
    rv = apr_dbd_transaction_start(dbd->driver, initial_request(r)->pool, dbd->handle, txn);
    if (rv) {
        if (*txn) {
            end_transaction(dbd, *txn);
        }
        return failure(r, dbd, "transaction start", rv);
    }
    if (held && held->dbd == dbd) {
        held->txn = *txn;
    }
    return SECAUTH_DB_OK;
}

int secauth_db_end(request_rec *r, ap_dbd_t *dbd, apr_dbd_transaction_t *txn, int commit)
{
    int rv, rc = SECAUTH_DB_OK, nrows = 0;
    held_t *held = held_connection(r);

    /* APR's MySQL driver reports a failed COMMIT without its error (the autocommit reset
     * after it clears the text), yet that error is the one that tells a certification conflict
     * (retry) from a lost connection (outcome unknown): COMMIT is sent here, and the driver's
     * own end then only restores autocommit, or rolls back when COMMIT failed. */
    if (commit && !strcmp(apr_dbd_name(dbd->driver), "mysql")) {
        rv = apr_dbd_query(dbd->driver, dbd->handle, &nrows, "COMMIT");
        if (rv) {
            rc = failure(r, dbd, "COMMIT", rv);
            commit = 0;
        }
    }
    apr_dbd_transaction_mode_set(dbd->driver, txn, commit ? APR_DBD_TRANSACTION_COMMIT
                                                          : APR_DBD_TRANSACTION_ROLLBACK);
    rv = apr_dbd_transaction_end(dbd->driver, r->pool, txn);
    if (held && held->txn == txn) {
        held->txn = NULL;
    }
    if (rc == SECAUTH_DB_OK && rv) {
        rc = failure(r, dbd, "transaction end", rv);
    }
    return rc;
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

const char *secauth_db_time(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t tm;
    apr_time_exp_gmt(&tm, t);
    return apr_psprintf(p, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

apr_int64_t secauth_now_sec(void)
{
    return (apr_int64_t)apr_time_sec(apr_time_now());
}

/* ---- outside any request (child_init) ---- */

ap_dbd_t *secauth_db_open_outside(apr_pool_t *p, server_rec *s)
{
    return dbd_open ? dbd_open(p, s) : NULL;
}

void secauth_db_close_outside(server_rec *s, ap_dbd_t *dbd)
{
    dbd_close(s, dbd);
}

/* The first row of a query's results copied into p (*row stays NULL without one); every row is
 * fetched so that the connection is free again. 0, or the driver's error. */
static int first_row_outside(apr_pool_t *p, ap_dbd_t *dbd, apr_dbd_prepared_t *stmt,
                             const void **args, const char ***row)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *dbrow = NULL;
    int rv, ncols, j;

    if ((rv = apr_dbd_pbselect(dbd->driver, p, dbd->handle, &res, stmt, 0, args))) {
        return rv;
    }
    *row = NULL;
    ncols = apr_dbd_num_cols(dbd->driver, res);
    while ((rv = apr_dbd_get_row(dbd->driver, p, res, &dbrow, -1)) == 0) {
        const char **values = apr_pcalloc(p, sizeof(char *) * (ncols + 1));
        for (j = 0; j < ncols; j++) {
            const char *v = apr_dbd_get_entry(dbd->driver, dbrow, j);
            values[j] = v ? apr_pstrdup(p, v) : NULL;
        }
        if (!*row) *row = values;
    }
    return rv == -1 ? 0 : rv;
}

int secauth_db_run_outside(apr_pool_t *p, server_rec *s, ap_dbd_t *dbd, const char *label,
                           const void **args, int *affected, const char ***row)
{
    apr_dbd_prepared_t *stmt = apr_hash_get(dbd->prepared, label, APR_HASH_KEY_STRING);
    int rv;

    if (!stmt) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, SECAUTH_LOGNO(720)
                     "mod_secauth: statement %s is not prepared", label);
        return -1;
    }
    rv = row ? first_row_outside(p, dbd, stmt, args, row)
             : apr_dbd_pbquery(dbd->driver, p, dbd->handle, affected, stmt, args);
    if (rv) {
        const char *msg = apr_dbd_error(dbd->driver, dbd->handle, rv);
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, SECAUTH_LOGNO(721)
                     "mod_secauth: %s failed: %s", label, msg ? msg : "unknown error");
        return -1;
    }
    return 0;
}
