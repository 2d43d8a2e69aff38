/* metrics_hooks.c — the httpd side of the metrics (metrics.c holds the block and the format):
 * the block is made in the parent at post_config and every child takes a slot at child_init;
 * "SetHandler secauth-metrics" answers the Prometheus text format; mod_status's status_hook
 * shows the same figures; each API request is timed under its route as its handler returns,
 * and logins and registrations are counted by the status the contract gives each outcome; the
 * bearer check is timed and its outcome read from its RFC 6750 challenge. */
#include "metrics_hooks.h"
#include "metrics.h"

#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "mod_status.h"
#include "apr_strings.h"
#include "log.h"

APLOG_USE_MODULE(secauth);

#define HANDLER "secauth-metrics"
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static const secauth_route_t *route_table;
static int route_count;
static int login_route = -1;
static int register_route = -1;

static int find_route(const char *method, const char *pattern)
{
    int i;
    for (i = 0; i < route_count; i++) {
        if (!strcmp(route_table[i].method, method) && !strcmp(route_table[i].pattern, pattern)) {
            return i;
        }
    }
    return -1;
}

int secauth_metrics_post_config(apr_pool_t *pconf, server_rec *s, const secauth_route_t *routes)
{
    const char **methods, **patterns;
    int daemons = 0, n;

    for (n = 0; routes[n].method; n++);
    if (n > SECAUTH_METRICS_MAX_ROUTES) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SECAUTH_LOGNO(830)
                     "mod_secauth: metrics time the first %d of %d routes only",
                     SECAUTH_METRICS_MAX_ROUTES, n);
        n = SECAUTH_METRICS_MAX_ROUTES;
    }
    methods = apr_palloc(pconf, sizeof(*methods) * (n + 1));
    patterns = apr_palloc(pconf, sizeof(*patterns) * (n + 1));
    for (route_count = 0; route_count < n; route_count++) {
        methods[route_count] = routes[route_count].method;
        patterns[route_count] = routes[route_count].pattern;
    }
    route_table = routes;
    login_route = find_route("POST", "/login");
    register_route = find_route("POST", "/register");
    secauth_metrics_set_routes(methods, patterns, n);

    /* room for an old generation still finishing its requests next to the new one */
    if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &daemons) != APR_SUCCESS || daemons < 1) {
        daemons = 1;
    }
    if (secauth_metrics_create(s->process->pool, daemons * 2 + 1) != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, SECAUTH_LOGNO(831)
                     "mod_secauth: cannot create the shared memory of the metrics");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

void secauth_metrics_child(apr_pool_t *pchild, server_rec *s)
{
    if (secauth_metrics_child_init(pchild) != 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SECAUTH_LOGNO(832)
                     "mod_secauth: no metrics slot left for this child: its gauges read 0");
    }
}

/* ---- outcomes ---- */

static secauth_counter_e login_result(int status)
{
    switch (status) {
    case HTTP_OK:                  return SECAUTH_M_LOGIN_OK;
    case HTTP_UNAUTHORIZED:        return SECAUTH_M_LOGIN_INVALID;
    case HTTP_TOO_MANY_REQUESTS:   return SECAUTH_M_LOGIN_LOCKED;
    case HTTP_FORBIDDEN:           return SECAUTH_M_LOGIN_ENROLMENT_PENDING;
    case HTTP_SERVICE_UNAVAILABLE: return SECAUTH_M_LOGIN_UNAVAILABLE;
    default:
        return status >= 500 ? SECAUTH_M_LOGIN_ERROR : SECAUTH_M_LOGIN_BAD_REQUEST;
    }
}

static secauth_counter_e registration_result(int status)
{
    switch (status) {
    case HTTP_CREATED:             return SECAUTH_M_REGISTER_OK;
    case HTTP_CONFLICT:            return SECAUTH_M_REGISTER_TAKEN;
    case HTTP_SERVICE_UNAVAILABLE: return SECAUTH_M_REGISTER_UNAVAILABLE;
    case HTTP_TOO_MANY_REQUESTS:   return SECAUTH_M_REGISTER_THROTTLED;
    default:
        return status >= 500 ? SECAUTH_M_REGISTER_ERROR : SECAUTH_M_REGISTER_INVALID;
    }
}

/* The time since the request line, and the status the client gets. */
int secauth_metrics_route_done(request_rec *r, const secauth_route_t *route, int rc)
{
    apr_interval_time_t took = apr_time_now() - r->request_time;
    int index, status = (rc == OK || rc == DONE) ? r->status : rc;

    if (!route_table || route < route_table || route - route_table >= route_count) {
        return rc;
    }
    index = (int)(route - route_table);
    secauth_metrics_observe(SECAUTH_H_REQUEST, index, took);
    if (index == login_route) {
        secauth_metrics_observe(SECAUTH_H_LOGIN, 0, took);
        secauth_metrics_inc(login_result(status));
    }
    else if (index == register_route) {
        secauth_metrics_inc(registration_result(status));
    }
    return rc;
}

/* The check's outcome from what it answers: the challenge of RFC 6750 §3 that access.c sets
 * names the error, and its description the reason of an invalid_token. */
static secauth_counter_e check_result(request_rec *r, int rc)
{
    const char *challenge, *why;

    if (rc == OK) {
        return SECAUTH_M_TOKEN_CHECK_OK;
    }
    if (rc == HTTP_SERVICE_UNAVAILABLE) {
        return SECAUTH_M_TOKEN_CHECK_UNAVAILABLE;
    }
    challenge = apr_table_get(r->err_headers_out, "WWW-Authenticate");
    if (rc == HTTP_UNAUTHORIZED && challenge && !strstr(challenge, "error=")) {
        return SECAUTH_M_TOKEN_CHECK_MISSING;
    }
    if (challenge && (why = strstr(challenge, "error_description=\""))) {
        why += strlen("error_description=\"");
        if (!strncmp(why, "token expired\"", 14)) return SECAUTH_M_TOKEN_CHECK_EXPIRED;
        if (!strncmp(why, "token revoked\"", 14)) return SECAUTH_M_TOKEN_CHECK_REVOKED;
        if (!strncmp(why, "account disabled\"", 17)) return SECAUTH_M_TOKEN_CHECK_DISABLED;
    }
    return SECAUTH_M_TOKEN_CHECK_INVALID;
}

int secauth_metrics_access_check(request_rec *r, int (*check)(request_rec *r))
{
    apr_time_t start = apr_time_now();
    int rc = check(r);

    secauth_metrics_observe(SECAUTH_H_ACCESS_CHECK, 0, apr_time_now() - start);
    secauth_metrics_inc(check_result(r, rc));
    return rc;
}

/* ---- exposition ---- */

static const char *build_labels(apr_pool_t *p)
{
    return apr_psprintf(p, "version=\"%s\",mpm=\"%s\"", SECAUTH_VERSION, ap_show_mpm());
}

static int metrics_handler(request_rec *r)
{
    const char *text;
    apr_size_t len;

    if (!r->handler || strcmp(r->handler, HANDLER)) {
        return DECLINED;
    }
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!(text = secauth_metrics_render(r->pool, SECAUTH_METRICS_PROMETHEUS, build_labels(r->pool),
                                        apr_time_now()))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SECAUTH_LOGNO(833)
                      "mod_secauth: the metrics block is missing");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    len = strlen(text);
    ap_set_content_type(r, CONTENT_TYPE);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, len);
    if (!r->header_only) {
        ap_rwrite(text, (int)len, r);
    }
    return OK;
}

/* mod_status: the same series; ?auto as "name{labels}: value" lines, the page as a table. */
static int status_section(request_rec *r, int flags)
{
    const char *text = secauth_metrics_render(r->pool, SECAUTH_METRICS_STATUS,
                                              build_labels(r->pool), apr_time_now());
    char *lines, *line, *state = NULL, *colon, *value;

    if (!text) {
        return OK;
    }
    if (flags & AP_STATUS_SHORT) {
        ap_rputs(text, r);
        return OK;
    }
    ap_rputs("<hr />\n<h2>mod_secauth</h2>\n", r);
    ap_rputs((flags & AP_STATUS_NOTABLE) ? "<pre>\n"
             : "<table border=\"0\"><tr><th>series</th><th>value</th></tr>\n", r);
    lines = apr_pstrdup(r->pool, text);
    for (line = apr_strtok(lines, "\n", &state); line; line = apr_strtok(NULL, "\n", &state)) {
        if (!(colon = strrchr(line, ':'))) continue;
        *colon = '\0';
        for (value = colon + 1; *value == ' '; value++);
        ap_rprintf(r, (flags & AP_STATUS_NOTABLE) ? "%s: %s\n" : "<tr><td>%s</td><td>%s</td></tr>\n",
                   ap_escape_html(r->pool, line), ap_escape_html(r->pool, value));
    }
    ap_rputs((flags & AP_STATUS_NOTABLE) ? "</pre>\n" : "</table>\n", r);
    return OK;
}

void secauth_metrics_register_hooks(void)
{
    ap_hook_handler(metrics_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, status_section, NULL, NULL, APR_HOOK_MIDDLE);
}
