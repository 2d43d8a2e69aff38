/* cache.h — the per-node state cache of API.md §12: what the access check and product reads
 * need, in shared memory for every child of one httpd (socache shmcb under a global mutex),
 * invalidated by generation counters that this node's writes and the change-feed poller
 * (feed.c) raise, and trusted only while the feed is fresh. */
#ifndef SECAUTH_CACHE_H
#define SECAUTH_CACHE_H

#include "httpd.h"
#include "http_config.h"

/* What a cached access decision depends on, by kind; the generation of each is in every key. */
typedef enum {
    SECAUTH_CACHE_USER,       /* id: user id: role, disabled, generation, not-before, kept jti */
    SECAUTH_CACHE_TOKEN,      /* id: jti: not in revoked_tokens */
    SECAUTH_CACHE_PRODUCT,    /* id: product id: GET /products/{id} */
    SECAUTH_CACHE_LIST        /* every list page: any product write changes them all */
} secauth_cache_kind_e;

/* The directives (inserted into the module's directive table by config.c). */
const char *secauth_cache_set_directive(cmd_parms *cmd, void *dummy, const char *arg);
/* cmd->info of each: which setting (cache.c's table of settings) */
enum { SECAUTH_CACHE_SET_REFRESH = 1, SECAUTH_CACHE_SET_MAX_STALE, SECAUTH_CACHE_SET_SIZE };
#define SECAUTH_CACHE_DIRECTIVES \
    AP_INIT_TAKE1("SecAuthStateRefresh", secauth_cache_set_directive, \
                  (void *)SECAUTH_CACHE_SET_REFRESH, RSRC_CONF, \
                  "milliseconds between two reads of the change feed (default 100; 0: no cache)"), \
    AP_INIT_TAKE1("SecAuthStateMaxStale", secauth_cache_set_directive, \
                  (void *)SECAUTH_CACHE_SET_MAX_STALE, RSRC_CONF, \
                  "milliseconds without a good read of the feed before the cache is not trusted (default 1000)"), \
    AP_INIT_TAKE1("SecAuthStateCacheSize", secauth_cache_set_directive, \
                  (void *)SECAUTH_CACHE_SET_SIZE, RSRC_CONF, \
                  "bytes of shared memory for the state cache (default 8388608)")

void secauth_cache_register_hooks(apr_pool_t *p);

/* SecAuthStateRefresh in microseconds (0: off), SecAuthStateMaxStale likewise. */
apr_interval_time_t secauth_cache_refresh(void);
apr_interval_time_t secauth_cache_max_stale(void);

/* A key for an entry that depends on the given kinds and ids (up to three pairs, ending with
 * a NULL id), made from their current generations: read it BEFORE asking the database, so that
 * a change committed in between makes what is stored under it unreachable. NULL when the cache
 * is off or not trusted now (the feed is stale): then ask the database and store nothing. */
const char *secauth_cache_key(apr_pool_t *p, secauth_cache_kind_e k1, const char *id1,
                              secauth_cache_kind_e k2, const char *id2,
                              secauth_cache_kind_e k3, const char *id3);

/* The entry under key (NUL-terminated copy in r->pool, *len without the NUL), or NULL. max is
 * the largest entry the caller could have stored under it. Counts a hit or a miss. */
char *secauth_cache_get(request_rec *r, const char *key, apr_size_t max, apr_size_t *len);

/* Stores an entry until expiry; one that does not fit is simply not cached. */
void secauth_cache_put(request_rec *r, const char *key, apr_time_t expiry, const char *data,
                       apr_size_t len);

/* A change of that state (this node's write, or an event of the feed): every entry that
 * depends on it becomes unreachable at once, in every child. A product change also changes
 * every list page. Harmless when repeated. */
void secauth_cache_changed(secauth_cache_kind_e kind, const char *id);
void secauth_cache_changed_id(secauth_cache_kind_e kind, int id);

/* For the poller: the feed was read completely, having started at when; and everything cached
 * is dropped (after the feed was stale, events may have been missed). */
void secauth_cache_feed_ok(apr_time_t when);
void secauth_cache_flush(void);
/* The poller's place in the feed plus one, kept in shared memory so that a child taking over
 * the poller goes on where the last one stopped (0: no poller has run since startup). */
apr_int64_t secauth_cache_feed_cursor(void);
void secauth_cache_set_feed_cursor(apr_int64_t id);

/* For operators: the age of the last good read of the feed in milliseconds (-1 when never read
 * or the cache is off); hits and misses are counted in the metrics. */
apr_int64_t secauth_cache_feed_age_ms(void);

#endif
