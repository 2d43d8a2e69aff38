/* metrics_hooks.h — where the metrics meet httpd: the block made at post_config and a slot per
 * child, "SetHandler secauth-metrics" (Prometheus text format), the section of mod_status, the
 * accounting of each API request by route, and the timing of the bearer access check. */
#ifndef SECAUTH_METRICS_HOOKS_H
#define SECAUTH_METRICS_HOOKS_H

#include "httpd.h"
#include "http.h"

/* Parent, post_config: the shared block (kept across graceful restarts) and the route labels
 * of routes (NULL-terminated by a NULL method). */
int secauth_metrics_post_config(apr_pool_t *pconf, server_rec *s, const secauth_route_t *routes);

/* child_init: this process's slot for its gauges. */
void secauth_metrics_child(apr_pool_t *pchild, server_rec *s);

void secauth_metrics_register_hooks(void);

/* The handler of route answered r with rc (OK once it sent the response, else the status for
 * httpd to render): the request is timed and counted under the route's label, before httpd
 * finishes the response, so a client that has its answer finds it counted. Returns rc. */
int secauth_metrics_route_done(request_rec *r, const secauth_route_t *route, int rc);

/* Runs the bearer check, times it and counts its outcome. */
int secauth_metrics_access_check(request_rec *r, int (*check)(request_rec *r));

#endif
