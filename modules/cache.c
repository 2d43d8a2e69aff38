/* cache.c — the per-node state cache (API.md §12). Entries live in httpd's socache "shmcb"
 * (shared by every child, bounded by SecAuthStateCacheSize, evicting by itself); a small APR
 * shared memory segment holds the generation counters that make entries unreachable when what
 * they depend on changes, the freshness of the change feed, and the hit and miss counts.
 *
 * Nothing is ever removed to invalidate: every key carries the generations of what its entry
 * depends on, so a change (one atomic increment) makes the old entries unreachable in every
 * child at once, and an entry filled from a database read that raced with a change is stored
 * under the old generation, where nobody looks. Counters are per hash slot, so two users
 * sharing a slot only cost each other a miss. An evicted entry is a miss, which asks the
 * database: the cache only holds what the database can say again. */
#include "cache.h"
#include "config.h"
#include "log.h"
#include "metrics.h"

#include "http_core.h"
#include "http_log.h"
#include "ap_provider.h"
#include "ap_socache.h"
#include "util_mutex.h"
#include "apr_atomic.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_hash.h"

APLOG_USE_MODULE(secauth);

#define MUTEX_TYPE "secauth-state"
#define SLOTS 4096
#define DEFAULT_REFRESH_MS 100
#define DEFAULT_MAX_STALE_MS 1000
#define DEFAULT_SIZE (8 * 1024 * 1024)
/* shmcb splits its memory into subcaches and an entry must fit in one: larger ones are not
 * stored, and no request reserves a buffer larger than this to read one */
#define ENTRY_SHARE 64

typedef struct {
    volatile apr_uint32_t epoch;            /* raised to drop everything */
    volatile apr_uint32_t list_gen;         /* raised by any product change */
    volatile apr_uint32_t slots[SLOTS];     /* per (kind, id) hash slot */
    volatile apr_uint64_t feed_ok;          /* start of the last complete read of the feed (us) */
    volatile apr_uint64_t feed_cursor;      /* the poller's place in the feed */
} shared_t;

static struct {
    int refresh_ms, max_stale_ms, size;     /* -1: not given */
} directives = {-1, -1, -1};

static shared_t *shared;
static ap_socache_provider_t *provider;
static ap_socache_instance_t *instance;
static apr_global_mutex_t *mutex;           /* NULL when the provider needs none */
static apr_size_t entry_max;

apr_interval_time_t secauth_cache_refresh(void)
{
    return apr_time_from_msec(directives.refresh_ms < 0 ? DEFAULT_REFRESH_MS
                                                         : directives.refresh_ms);
}

apr_interval_time_t secauth_cache_max_stale(void)
{
    return apr_time_from_msec(directives.max_stale_ms < 0 ? DEFAULT_MAX_STALE_MS
                                                           : directives.max_stale_ms);
}

const char *secauth_cache_set_directive(cmd_parms *cmd, void *dummy, const char *arg)
{
    const char *name = cmd->cmd->name;
    char *end;
    apr_int64_t v;
    int *field, min, max;
    (void)dummy;

    if (cmd->server->is_virtual) {
        return apr_psprintf(cmd->pool, "%s belongs in the main server: one cache and one "
                            "poller serve every virtual host of this httpd", name);
    }
    switch ((int)(apr_uintptr_t)cmd->info) {
    case SECAUTH_CACHE_SET_REFRESH:
        field = &directives.refresh_ms, min = 0, max = 60000;
        break;
    case SECAUTH_CACHE_SET_MAX_STALE:
        field = &directives.max_stale_ms, min = 100, max = 3600000;
        break;
    default:
        field = &directives.size, min = 64 * 1024, max = 1024 * 1024 * 1024;
    }
    errno = 0;
    v = apr_strtoi64(arg, &end, 10);
    if (errno || end == arg || *end || v < min || v > max) {
        return apr_psprintf(cmd->pool, "%s: '%s' must be an integer from %d to %d", name, arg,
                            min, max);
    }
    if (field == &directives.refresh_ms && v > 0 && v < 100) {
        return apr_psprintf(cmd->pool, "%s: '%s' must be 0 (no cache) or at least 100: the "
                            "feed is read by mod_watchdog, which wakes every 100 ms", name, arg);
    }
    *field = (int)v;
    return NULL;
}

static int cache_on(void)
{
    return directives.refresh_ms != 0;
}

/* ---- keys and generations ---- */

static volatile apr_uint32_t *slot_of(secauth_cache_kind_e kind, const char *id)
{
    apr_ssize_t len = (apr_ssize_t)strlen(id);
    unsigned int h = apr_hashfunc_default(id, &len) * 31u + (unsigned int)kind;
    return kind == SECAUTH_CACHE_LIST ? &shared->list_gen : &shared->slots[h % SLOTS];
}

static int fresh(void)
{
    apr_uint64_t ok;
    if (!shared || !cache_on()) {
        return 0;
    }
    ok = apr_atomic_read64(&shared->feed_ok);
    return ok && apr_time_now() - (apr_time_t)ok <= secauth_cache_max_stale();
}

const char *secauth_cache_key(apr_pool_t *p, secauth_cache_kind_e k1, const char *id1,
                              secauth_cache_kind_e k2, const char *id2,
                              secauth_cache_kind_e k3, const char *id3)
{
    const secauth_cache_kind_e kinds[3] = {k1, k2, k3};
    const char *ids[3] = {id1, id2, id3};
    const char *key;
    int i;

    if (!fresh()) {
        return NULL;
    }
    key = apr_psprintf(p, "%u", apr_atomic_read32(&shared->epoch));
    for (i = 0; i < 3 && ids[i]; i++) {
        key = apr_psprintf(p, "%s|%d.%u:%s", key, (int)kinds[i],
                           apr_atomic_read32(slot_of(kinds[i], ids[i])), ids[i]);
    }
    return key;
}

void secauth_cache_changed(secauth_cache_kind_e kind, const char *id)
{
    if (!shared) {
        return;
    }
    apr_atomic_inc32(slot_of(kind, id));
    if (kind == SECAUTH_CACHE_PRODUCT) {
        apr_atomic_inc32(&shared->list_gen);
    }
}

void secauth_cache_changed_id(secauth_cache_kind_e kind, int id)
{
    char text[16];
    apr_snprintf(text, sizeof(text), "%d", id);
    secauth_cache_changed(kind, text);
}

void secauth_cache_flush(void)
{
    if (shared) {
        apr_atomic_inc32(&shared->epoch);
    }
}

void secauth_cache_feed_ok(apr_time_t when)
{
    if (shared) {
        apr_atomic_set64(&shared->feed_ok, (apr_uint64_t)when);
    }
    secauth_metrics_node_set(SECAUTH_N_STATE_FEED_READ, when);
}

apr_int64_t secauth_cache_feed_cursor(void)
{
    return shared ? (apr_int64_t)apr_atomic_read64(&shared->feed_cursor) : 0;
}

void secauth_cache_set_feed_cursor(apr_int64_t id)
{
    if (shared) {
        apr_atomic_set64(&shared->feed_cursor, (apr_uint64_t)id);
    }
}

apr_int64_t secauth_cache_feed_age_ms(void)
{
    apr_uint64_t ok = shared ? apr_atomic_read64(&shared->feed_ok) : 0;
    return ok ? apr_time_as_msec(apr_time_now() - (apr_time_t)ok) : -1;
}

/* ---- entries ---- */

char *secauth_cache_get(request_rec *r, const char *key, apr_size_t max, apr_size_t *len)
{
    unsigned char *buf;
    unsigned int got = (unsigned int)max;
    apr_status_t rv;

    if (!key || !instance || secauth_server_config(r->server)->own_database) {
        return NULL;
    }
    if (max > entry_max) {
        max = entry_max;
    }
    buf = apr_palloc(r->pool, max + 1);
    if (mutex) apr_global_mutex_lock(mutex);
    rv = provider->retrieve(instance, r->server, (const unsigned char *)key,
                            (unsigned int)strlen(key), buf, &got, r->pool);
    if (mutex) apr_global_mutex_unlock(mutex);
    if (rv != APR_SUCCESS) {
        secauth_metrics_inc(SECAUTH_M_STATE_CACHE_MISSES);
        return NULL;
    }
    secauth_metrics_inc(SECAUTH_M_STATE_CACHE_HITS);
    buf[got] = '\0';
    *len = got;
    return (char *)buf;
}

void secauth_cache_put(request_rec *r, const char *key, apr_time_t expiry, const char *data,
                       apr_size_t len)
{
    if (!key || !instance || len > entry_max || secauth_server_config(r->server)->own_database) {
        return;
    }
    if (mutex) apr_global_mutex_lock(mutex);
    /* shmcb refuses what is larger than one of its subcaches: then it is simply not cached */
    (void)provider->store(instance, r->server, (const unsigned char *)key,
                          (unsigned int)strlen(key), expiry, (unsigned char *)data,
                          (unsigned int)len, r->pool);
    if (mutex) apr_global_mutex_unlock(mutex);
}

/* ---- life cycle ---- */

static int cache_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog, (void)ptemp;
    directives.refresh_ms = directives.max_stale_ms = directives.size = -1;
    shared = NULL;
    provider = NULL;
    instance = NULL;
    mutex = NULL;
    return ap_mutex_register(pconf, MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0) == APR_SUCCESS
           ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

static apr_status_t destroy_instance(void *data)
{
    server_rec *s = data;
    if (instance) {
        provider->destroy(instance, s);
        instance = NULL;
    }
    return APR_SUCCESS;
}

static int any_server_uses_module(server_rec *s)
{
    for (; s; s = s->next) {
        if (secauth_server_config(s)->used) return 1;
    }
    return 0;
}

static int fail(server_rec *s, const char *what, apr_status_t rv)
{
    ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, SECAUTH_LOGNO(800)
                 "mod_secauth: the state cache (SecAuthStateCacheSize, SecAuthStateRefresh): %s",
                 what);
    return HTTP_INTERNAL_SERVER_ERROR;
}

static int cache_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s)
{
    struct ap_socache_hints hints = {48, 512, apr_time_from_sec(60)};
    int size = directives.size < 0 ? DEFAULT_SIZE : directives.size;
    apr_shm_t *shm;
    const char *err;
    apr_status_t rv;
    (void)plog;

    if (!cache_on() || !any_server_uses_module(s)) {
        return OK;
    }
    if (directives.max_stale_ms >= 0 && secauth_cache_max_stale() < secauth_cache_refresh()) {
        return fail(s, "SecAuthStateMaxStale must not be shorter than SecAuthStateRefresh", 0);
    }
    provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, "shmcb",
                                  AP_SOCACHE_PROVIDER_VERSION);
    if (!provider) {
        return fail(s, "needs mod_socache_shmcb: LoadModule socache_shmcb_module "
                    "modules/mod_socache_shmcb.so (or a2enmod socache_shmcb), or turn the "
                    "cache off with SecAuthStateRefresh 0", 0);
    }
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;   /* the first, trial pass: shared memory is made for the real one */
    }
    if ((rv = apr_shm_create(&shm, sizeof(shared_t), NULL, pconf)) != APR_SUCCESS) {
        return fail(s, "cannot create shared memory", rv);
    }
    shared = apr_shm_baseaddr_get(shm);
    entry_max = (apr_size_t)size / ENTRY_SHARE;
    memset((void *)shared, 0, sizeof(*shared));
    err = provider->create(&instance, apr_psprintf(ptemp, "%s(%d)",
                           ap_runtime_dir_relative(ptemp, "secauth-state"), size), ptemp, pconf);
    if (err) {
        instance = NULL;
        return fail(s, err, 0);
    }
    if ((rv = provider->init(instance, "secauth-state", &hints, s, pconf)) != APR_SUCCESS) {
        instance = NULL;
        return fail(s, "cannot initialise the shmcb cache", rv);
    }
    apr_pool_cleanup_register(pconf, s, destroy_instance, apr_pool_cleanup_null);
    if ((provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE)
        && (rv = ap_global_mutex_create(&mutex, NULL, MUTEX_TYPE, NULL, s, pconf, 0))
           != APR_SUCCESS) {
        return fail(s, "cannot create its mutex", rv);
    }
    return OK;
}

static void cache_child_init(apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;
    if (mutex && (rv = apr_global_mutex_child_init(&mutex, apr_global_mutex_lockfile(mutex), p))
                 != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, SECAUTH_LOGNO(801)
                     "mod_secauth: the state cache's mutex does not open in this child: "
                     "the cache is off here");
        instance = NULL;
    }
}

void secauth_cache_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(cache_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(cache_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(cache_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}
