/* feed.h — the change-feed poller of API.md §12: one mod_watchdog singleton per node reads
 * auth_events every SecAuthStateRefresh ms and invalidates the state cache (cache.h). */
#ifndef SECAUTH_FEED_H
#define SECAUTH_FEED_H

#include "httpd.h"
#include "db.h"

extern const secauth_stmt_t secauth_feed_statements[];

/* The child_init hook that lets the poller keep a connection and give it back at child exit. */
void secauth_feed_register_hooks(apr_pool_t *p);

/* Registers the poller with mod_watchdog (post_config, before mod_watchdog's own). */
int secauth_feed_post_config(apr_pool_t *pconf, server_rec *s);

#endif
