/* mod_secauth.c — the module's table of contents: the routes of the account and product API,
 * the hooks it plugs into httpd, and the directive table (modules/config.c). */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_provider.h"
#include "ap_mpm.h"

#include "modules/access.h"
#include "modules/accounts.h"
#include "modules/admin.h"
#include "modules/cache.h"
#include "modules/config.h"
#include "modules/db.h"
#include "modules/feed.h"
#include "modules/http.h"
#include "modules/metrics.h"
#include "modules/metrics_hooks.h"
#include "modules/ops.h"
#include "modules/password.h"
#include "modules/products.h"
#include "modules/state.h"
#include "modules/idempotency.h"
#include "modules/totp.h"
#include "modules/log.h"


APLOG_USE_MODULE(secauth);

/* Every route of API.md; paths are relative to where "SetHandler secauth" mounts the API. */
static const secauth_route_t routes[] = {
    /* accounts and two-factor enrolment (§2, §3) */
    {"POST",   "/register",              secauth_register},
    {"GET",    "/generate-qr/{name}",    secauth_generate_qr},
    {"POST",   "/verify-2fa",            secauth_verify_2fa},
    {"POST",   "/login",                 secauth_login},
    {"POST",   "/logout",                secauth_logout},
    {"GET",    "/me",                    secauth_me},
    {"POST",   "/password",              secauth_password_change},
    /* products (§5) */
    {"GET",    "/products",              secauth_products_list},
    {"POST",   "/products",              secauth_products_create},
    {"GET",    "/products/{id}",         secauth_products_get},
    {"PUT",    "/products/{id}",         secauth_products_update},
    {"PATCH",  "/products/{id}",         secauth_products_update},
    {"DELETE", "/products/{id}",         secauth_products_delete},
    /* administration (§6) */
    {"GET",    "/users",                 secauth_users_list},
    {"PATCH",  "/users/{id}",            secauth_users_patch},
    {"DELETE", "/users/{id}/2fa",        secauth_users_reset_2fa},
    {"POST",   "/users/{id}/unlock",     secauth_users_unlock},
    /* operations (§4, §7) */
    {"GET",    "/health",                secauth_health},
    {"GET",    "/.well-known/jwks.json", secauth_jwks},
    {NULL, NULL, NULL}
};

/* Statement tables of every part, prepared on each pooled connection. */
static const secauth_stmt_t *const statement_tables[] = {
    secauth_db_statements,
    secauth_state_statements,
    secauth_feed_statements,
    secauth_account_statements,
    secauth_product_statements,
    secauth_idempotency_statements,
    secauth_admin_statements,
    NULL
};

static int secauth_handler(request_rec *r)
{
    return secauth_dispatch(r, routes);
}

static int secauth_trace(request_rec *r)
{
    return secauth_refuse_trace(r, routes);
}

static int secauth_fixups(request_rec *r)
{
    return secauth_claim_route(r, routes);
}

static int secauth_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                               server_rec *s)
{
    const secauth_stmt_t *const *table;
    server_rec *vs;
    int rc;
    (void)plog;

    if ((rc = secauth_config_post_config(pconf, ptemp, s)) != OK) {
        return rc;
    }
    if ((rc = secauth_metrics_post_config(pconf, s, routes)) != OK) {
        return rc;
    }
    if (!secauth_db_init()) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, SECAUTH_LOGNO(503)
                     "mod_secauth needs mod_dbd: LoadModule dbd_module modules/mod_dbd.so");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* in the SQL of each server's own driver: the main server's are handed down by mod_dbd to
     * the virtual hosts that share its database; one with a database and SecAuth directives
     * of its own prepares on its own connections */
    for (vs = s; vs; vs = vs->next) {
        if (!secauth_config_prepares_here(s, vs)) {
            continue;
        }
        secauth_server_config(vs)->own_database = vs != s;
        for (table = statement_tables; *table; table++) {
            secauth_db_prepare(vs, secauth_server_config(vs)->db_driver, *table);
        }
    }
    /* the per-node state cache's poller (API.md §12) */
    return secauth_feed_post_config(pconf, s);
}

/* The largest argon2id costs of any virtual host: the hash memory a child keeps, and the
 * bound on what a stored hash may ask for. */
static secauth_argon2_params_t largest_hash_costs(server_rec *s)
{
    secauth_argon2_params_t largest = {0, 0, 0};

    for (; s; s = s->next) {
        const secauth_server_conf_t *conf = secauth_server_config(s);
        if (conf->argon2.m_cost > largest.m_cost) largest.m_cost = conf->argon2.m_cost;
        if (conf->argon2.t_cost > largest.t_cost) largest.t_cost = conf->argon2.t_cost;
    }
    return largest;
}

/* Places in the hashing gate: SecAuthHashConcurrency, but no more than the threads that could
 * use them. Under a threaded MPM a child serves many clients for a long time, so it maps its
 * hash memory at start: its size is then known from the first minute and does not grow under
 * the first burst of logins. A prefork child maps its one block at its first hash. */
static void hash_gate_init(apr_pool_t *p, server_rec *s, int threaded)
{
    int places = secauth_server_config(s)->hash_concurrency, threads = 1;
    secauth_argon2_params_t largest;

    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS || threads < 1) threads = 1;
    if (places > threads) places = threads;
    largest = largest_hash_costs(s);
    if (secauth_password_gate_init(p, places, &largest, threaded) != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, SECAUTH_LOGNO(505)
                     "mod_secauth: cannot create the password hashing gate");
        return;
    }
    secauth_metrics_gauge_set(SECAUTH_G_HASH_SLOTS, places);
}

static void secauth_child_init(apr_pool_t *p, server_rec *s)
{
    int threaded = 0;

    secauth_metrics_child(p, s);
    if (secauth_totp_init() != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, SECAUTH_LOGNO(504)
                     "mod_secauth: liboath failed to initialise");
    }
    if (ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded) != APR_SUCCESS) {
        threaded = AP_MPMQ_NOT_SUPPORTED;
    }
    threaded = threaded != AP_MPMQ_NOT_SUPPORTED;
    if (secauth_db_child_init(p, threaded) != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, SECAUTH_LOGNO(506)
                     "mod_secauth: cannot set up the reuse of database connections");
    }
    hash_gate_init(p, s, threaded);
    secauth_admin_bootstrap(p, s);
}

static void secauth_register_hooks(apr_pool_t *p)
{
    /* statements must reach mod_dbd before its post_config prepares them */
    static const char *const before_dbd[] = {"mod_dbd.c", NULL};
    /* SecAuthBootstrapAdmin borrows a connection from mod_dbd's pool, made in its child_init */
    static const char *const after_dbd[] = {"mod_dbd.c", NULL};

    ap_hook_post_config(secauth_post_config, NULL, before_dbd, APR_HOOK_MIDDLE);
    ap_hook_child_init(secauth_child_init, after_dbd, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(secauth_handler, NULL, NULL, APR_HOOK_MIDDLE);
    /* where the API is mounted, while the <Location>s' configuration is merged */
    ap_hook_translate_name(secauth_note_mount, NULL, NULL, APR_HOOK_REALLY_FIRST);
    /* before http_core's own TRACE answer, which runs in the middle of map_to_storage */
    ap_hook_map_to_storage(secauth_trace, NULL, NULL, APR_HOOK_FIRST);
    /* mod_dir's trailing-slash redirect runs last among the fixups */
    ap_hook_fixups(secauth_fixups, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(secauth_insert_error_filter, NULL, NULL, APR_HOOK_MIDDLE);
    secauth_register_error_filter();
    secauth_access_register_hooks(p);
    secauth_metrics_register_hooks();
    secauth_cache_register_hooks(p);
    secauth_feed_register_hooks(p);
}

module AP_MODULE_DECLARE_DATA secauth_module = {
    STANDARD20_MODULE_STUFF,
    secauth_create_dir_conf,     /* per directory: the mount point of the API */
    secauth_merge_dir_conf,
    secauth_create_server_conf,
    secauth_merge_server_conf,
    secauth_directives,
    secauth_register_hooks,
    AP_MODULE_FLAG_NONE
};
