/* feed.c — the one poller per node (API.md §12): a mod_watchdog singleton callback, run by
 * one child of the node every SecAuthStateRefresh ms, reads the change feed (auth_events,
 * written by database triggers) past its cursor and raises the cache generations of what
 * changed, then marks the cache fresh. It prunes events older than an hour now and then.
 *
 * AUTO_INCREMENT ids are not committed in order (a transaction may commit after a later one,
 * and Galera hands out ids interleaved by node), so an id skipped over is a gap: it is looked
 * for again on every poll for GAP_WINDOW, and the cursor (the id the next query starts after)
 * stays below the oldest open gap. An event applied twice only costs a miss. */
#include "feed.h"
#include "cache.h"
#include "config.h"
#include "log.h"

#include "http_core.h"
#include "http_log.h"
#include "mod_watchdog.h"
#include "mod_dbd.h"
#include "apr_optional.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"

APLOG_USE_MODULE(secauth);

#define POLL_LIMIT 5000                    /* events per query; more are read at the next */
#define GAP_WINDOW apr_time_from_sec(10)   /* longer than any transaction of the module */
#define MAX_GAPS 4096
#define PRUNE_EVERY apr_time_from_sec(60)
#define KEEP_EVENTS 3600                   /* seconds */

const secauth_stmt_t secauth_feed_statements[] = {
    {"secauth_feed_since",
     "SELECT id, kind, user_id, jti, product_id FROM auth_events WHERE id > %lld "
     "ORDER BY id LIMIT %d", NULL},
    {"secauth_feed_last", "SELECT COALESCE(MAX(id), 0) FROM auth_events", NULL},
    {"secauth_feed_prune", "DELETE FROM auth_events WHERE created_at < %lld", NULL},
    {NULL, NULL, NULL}
};

static APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *wd_get_instance;
static APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *wd_register_callback;
static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;

typedef struct {
    apr_int64_t id;
    apr_time_t since;
} gap_t;

/* The poller's state: only the child that holds the watchdog singleton touches it. */
static struct {
    server_rec *s;
    int started;
    apr_int64_t high;          /* the highest id read */
    gap_t gaps[MAX_GAPS];      /* ids below high not read yet, oldest first */
    int ngaps;
    apr_time_t last_prune;
    int failing;               /* the last poll failed: log once per outage */
    /* The poller keeps its connection between polls (no check, i.e. no ping, each time) and
     * gives it back before the child's pools go: mod_watchdog stops its thread only after
     * mod_dbd's pool is destroyed, so the child's pre-cleanup takes the connection away under
     * the mutex and no poll starts after it. */
    apr_thread_mutex_t *mutex;
    apr_pool_t *conn_pool;     /* the held connection's (DBDPersist Off makes it in there) */
    ap_dbd_t *dbd;
    int stopping;
} poller;

/* Runs a prepared statement; for a select, calls each(row) for every row. 0 or the error. */
static int run(apr_pool_t *p, ap_dbd_t *dbd, const char *label, const void **args,
               void (*each)(ap_dbd_t *dbd, apr_dbd_row_t *row, void *ctx), void *ctx)
{
    apr_dbd_prepared_t *stmt = apr_hash_get(dbd->prepared, label, APR_HASH_KEY_STRING);
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int rv, nrows;

    if (!stmt) {
        return -1;
    }
    if (!each) {
        return apr_dbd_pbquery(dbd->driver, p, dbd->handle, &nrows, stmt, args);
    }
    if ((rv = apr_dbd_pbselect(dbd->driver, p, dbd->handle, &res, stmt, 0, args)) != 0) {
        return rv;
    }
    while ((rv = apr_dbd_get_row(dbd->driver, p, res, &row, -1)) == 0) {
        each(dbd, row, ctx);
    }
    return rv == -1 ? 0 : rv;
}

static apr_int64_t entry_int(ap_dbd_t *dbd, apr_dbd_row_t *row, int col)
{
    const char *v = apr_dbd_get_entry(dbd->driver, row, col);
    return v ? apr_atoi64(v) : 0;
}

static void read_last(ap_dbd_t *dbd, apr_dbd_row_t *row, void *ctx)
{
    *(apr_int64_t *)ctx = entry_int(dbd, row, 0);
}

static void apply(ap_dbd_t *dbd, apr_dbd_row_t *row)
{
    const char *kind = apr_dbd_get_entry(dbd->driver, row, 1);
    const char *jti = apr_dbd_get_entry(dbd->driver, row, 3);

    if (!kind) return;
    if (!strcmp(kind, "user")) {
        secauth_cache_changed_id(SECAUTH_CACHE_USER, (int)entry_int(dbd, row, 2));
    }
    else if (!strcmp(kind, "token") && jti) {
        secauth_cache_changed(SECAUTH_CACHE_TOKEN, jti);
    }
    else if (!strcmp(kind, "product")) {
        secauth_cache_changed_id(SECAUTH_CACHE_PRODUCT, (int)entry_int(dbd, row, 4));
    }
    else {
        /* unknown to this version: drop everything rather than guess */
        secauth_cache_flush();
    }
}

static void note_gap(apr_int64_t id, apr_time_t now)
{
    if (poller.ngaps == MAX_GAPS) {
        memmove(poller.gaps, poller.gaps + 1, sizeof(gap_t) * (MAX_GAPS - 1));
        poller.ngaps--;
    }
    poller.gaps[poller.ngaps].id = id;
    poller.gaps[poller.ngaps].since = now;
    poller.ngaps++;
}

/* 1 when id was an open gap (now closed), 0 when it was read before. */
static int close_gap(apr_int64_t id)
{
    int i;
    for (i = 0; i < poller.ngaps; i++) {
        if (poller.gaps[i].id == id) {
            memmove(poller.gaps + i, poller.gaps + i + 1, sizeof(gap_t) * (poller.ngaps - i - 1));
            poller.ngaps--;
            return 1;
        }
    }
    return 0;
}

typedef struct {
    apr_time_t now;
    int rows;
} batch_t;

static void read_event(ap_dbd_t *dbd, apr_dbd_row_t *row, void *ctx)
{
    batch_t *batch = ctx;
    apr_int64_t id = entry_int(dbd, row, 0), skipped;

    batch->rows++;
    if (id <= poller.high) {
        if (close_gap(id)) apply(dbd, row);
        return;
    }
    for (skipped = id - poller.high > MAX_GAPS ? id - MAX_GAPS : poller.high + 1; skipped < id;
         skipped++) {
        note_gap(skipped, batch->now);
    }
    poller.high = id;
    apply(dbd, row);
}

/* The id the next query starts after: below the oldest gap still worth waiting for. */
static apr_int64_t cursor(apr_time_t now)
{
    int old = 0;
    while (old < poller.ngaps && now - poller.gaps[old].since > GAP_WINDOW) old++;
    if (old) {
        memmove(poller.gaps, poller.gaps + old, sizeof(gap_t) * (poller.ngaps - old));
        poller.ngaps -= old;
    }
    return poller.ngaps ? poller.gaps[0].id - 1 : poller.high;
}

static int poll_feed(apr_pool_t *p, ap_dbd_t *dbd, apr_time_t start)
{
    batch_t batch;
    apr_int64_t after;
    const void *args[2];
    int rv, rounds = 0, limit = POLL_LIMIT;

    if (!poller.started) {
        /* a new node starts at the end of the feed (its cache is empty); a child taking over
         * from another one re-reads from where that one stopped */
        poller.high = secauth_cache_feed_cursor() - 1;
        poller.ngaps = 0;
        if (poller.high < 0 && (rv = run(p, dbd, "secauth_feed_last", NULL, read_last,
                                      &poller.high)) != 0) {
            return rv;
        }
        poller.started = 1;
    }
    do {
        after = cursor(start);
        batch.now = start;
        batch.rows = 0;
        args[0] = &after;
        args[1] = &limit;
        if ((rv = run(p, dbd, "secauth_feed_since", args, read_event, &batch)) != 0) {
            return rv;
        }
    } while (batch.rows == POLL_LIMIT && ++rounds < 10);
    secauth_cache_set_feed_cursor(cursor(start) + 1);
    return 0;
}

static void prune(apr_pool_t *p, ap_dbd_t *dbd, apr_time_t now)
{
    apr_int64_t before = apr_time_sec(now) - KEEP_EVENTS;
    const void *args[1];

    if (now - poller.last_prune < PRUNE_EVERY) return;
    poller.last_prune = now;
    args[0] = &before;
    if (run(p, dbd, "secauth_feed_prune", args, NULL, NULL) != 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, poller.s, SECAUTH_LOGNO(810)
                     "mod_secauth: could not prune old events of the change feed");
    }
}

/* With the mutex held: gives the held connection back (to be checked on its next use). */
static void release_connection(void)
{
    if (poller.dbd) {
        dbd_close(poller.s, poller.dbd);
        poller.dbd = NULL;
        apr_pool_clear(poller.conn_pool);
    }
}

static apr_status_t stop_poller(void *data)
{
    (void)data;
    apr_thread_mutex_lock(poller.mutex);
    poller.stopping = 1;
    release_connection();
    apr_thread_mutex_unlock(poller.mutex);
    return APR_SUCCESS;
}

/* One poll with the held connection (opened when there is none); 0 or the error, whose text
 * is in *why. The connection is given back after an error. */
static int poll_once(apr_pool_t *pool, apr_time_t start, const char **why)
{
    int rv = -1;

    apr_thread_mutex_lock(poller.mutex);
    if (poller.stopping) {
        apr_thread_mutex_unlock(poller.mutex);
        *why = "the child is stopping";
        return -1;
    }
    if (!poller.dbd) {
        poller.dbd = dbd_open(poller.conn_pool, poller.s);
    }
    *why = "no connection";
    if (poller.dbd) {
        rv = poll_feed(pool, poller.dbd, start);
        if (rv == 0) {
            prune(pool, poller.dbd, start);
        }
        else {
            *why = apr_pstrdup(pool, apr_dbd_error(poller.dbd->driver, poller.dbd->handle, rv));
            release_connection();
        }
    }
    apr_thread_mutex_unlock(poller.mutex);
    return rv;
}

static apr_status_t on_tick(int state, void *data, apr_pool_t *pool)
{
    apr_time_t start = apr_time_now();
    apr_int64_t age = secauth_cache_feed_age_ms();
    const char *why = NULL;
    (void)data;

    if (state != AP_WATCHDOG_STATE_RUNNING || !poller.mutex) {
        return APR_SUCCESS;
    }
    if (poll_once(pool, start, &why) != 0) {
        if (!poller.failing) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, poller.s, SECAUTH_LOGNO(811)
                         "mod_secauth: cannot read the change feed (%s); requests ask the "
                         "database until it can be read again", why ? why : "unknown error");
        }
        poller.failing = 1;
        return APR_SUCCESS;   /* anything else would stop mod_watchdog calling again */
    }
    if (poller.failing || age < 0 || age > apr_time_as_msec(secauth_cache_max_stale())) {
        /* while the feed was not read, events may have been pruned or skipped: start over */
        secauth_cache_flush();
        if (poller.failing) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, poller.s, SECAUTH_LOGNO(812)
                         "mod_secauth: the change feed is read again; the state cache starts "
                         "empty");
        }
        poller.failing = 0;
    }
    secauth_cache_feed_ok(start);
    return APR_SUCCESS;
}

static void feed_child_init(apr_pool_t *pchild, server_rec *s)
{
    (void)s;
    if (!poller.s || apr_pool_create(&poller.conn_pool, pchild) != APR_SUCCESS
        || apr_thread_mutex_create(&poller.mutex, APR_THREAD_MUTEX_DEFAULT, pchild)
           != APR_SUCCESS) {
        poller.mutex = NULL;
        return;
    }
    apr_pool_pre_cleanup_register(pchild, NULL, stop_poller);
}

void secauth_feed_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_child_init(feed_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}

int secauth_feed_post_config(apr_pool_t *pconf, server_rec *s)
{
    ap_watchdog_t *watchdog;
    apr_status_t rv;

    poller.s = NULL;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        || !secauth_cache_refresh()) {
        return OK;
    }
    for (; s && !secauth_server_config(s)->used; s = s->next);
    if (!s) {
        return OK;
    }
    wd_get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    wd_register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if (!wd_get_instance || !wd_register_callback || !dbd_open || !dbd_close) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, SECAUTH_LOGNO(813)
                     "mod_secauth: the state cache needs mod_watchdog (LoadModule "
                     "watchdog_module modules/mod_watchdog.so); or SecAuthStateRefresh 0");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    memset(&poller, 0, sizeof(poller));
    poller.s = s;
    if ((rv = wd_get_instance(&watchdog, "secauth-feed", 0, 1, pconf)) != APR_SUCCESS
        || (rv = wd_register_callback(watchdog, secauth_cache_refresh(), &poller, on_tick))
           != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, SECAUTH_LOGNO(814)
                     "mod_secauth: cannot start the change-feed poller (mod_watchdog)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}
