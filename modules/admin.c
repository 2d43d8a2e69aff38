/* admin.c — user administration for the role admin (API.md §6): the user list, role and
 * disabled flag under the last-admin rule, 2FA reset and unlock; and SecAuthBootstrapAdmin. */
#include "admin.h"
#include "access.h"
#include "cache.h"
#include "accounts.h"
#include "crypto.h"
#include "totp.h"

#include "http_log.h"
#include "http_protocol.h"
#include "apr_strings.h"
#include "apr_lib.h"
#include "log.h"

#include <openssl/crypto.h>

APLOG_USE_MODULE(secauth);

#define USER_COLUMNS "id, username, role, disabled, twofa_confirmed, locked_until, created_at"


/* Times written to updated_at come from the module (UTC), as in the other parts, so that both
 * drivers store the same thing whatever the database's clock and zone. */
const secauth_stmt_t secauth_admin_statements[] = {
    {"secauth_admin_list",
     "SELECT " USER_COLUMNS " FROM users WHERE id > %d ORDER BY id LIMIT %d", NULL},
    {"secauth_admin_get", "SELECT " USER_COLUMNS " FROM users WHERE id = %d", NULL},
    /* The last-admin rule reads the enabled admins and the target under a write lock, so two
     * admins demoting each other at once cannot both succeed. SQLite's transactions start
     * with BEGIN IMMEDIATE, which already serializes writers. */
    {"secauth_admin_admins",
     "SELECT id FROM users WHERE role = 'admin' AND disabled = 0 FOR UPDATE",
     "SELECT id FROM users WHERE role = 'admin' AND disabled = 0"},
    {"secauth_admin_get_locked",
     "SELECT " USER_COLUMNS " FROM users WHERE id = %d FOR UPDATE",
     "SELECT " USER_COLUMNS " FROM users WHERE id = %d"},
    {"secauth_admin_set",
     "UPDATE users SET role = %s, disabled = %d, updated_at = %s WHERE id = %d", NULL},
    /* "Revoke every token" raises the generation: each token carries the generation it was
     * issued under, so the cut is exact whatever the clocks of the nodes say (API.md §4). */
    {"secauth_admin_revoke",
     "UPDATE users SET token_generation = token_generation + 1, tokens_keep_jti = NULL "
     "WHERE id = %d", NULL},
    {"secauth_admin_reset_2fa",
     "UPDATE users SET twofa_secret = %s, twofa_confirmed = 0, last_totp_step = NULL, "
     "token_generation = token_generation + 1, tokens_keep_jti = NULL, updated_at = %s "
     "WHERE id = %d", NULL},
    {"secauth_admin_promote",
     "UPDATE users SET role = 'admin', updated_at = %s WHERE username = %s AND role <> 'admin'",
     NULL},
    {"secauth_admin_find", "SELECT id, role, disabled FROM users WHERE username = %s", NULL},
    {NULL, NULL, NULL}
};

static const char *const admin_only[] = {"admin", NULL};

/* ---- shared pieces ---- */

static const char *iso_from_unix(apr_pool_t *p, apr_int64_t seconds)
{
    apr_time_exp_t tm;
    apr_time_exp_gmt(&tm, apr_time_from_sec(seconds));
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* A row of USER_COLUMNS as the API shows it; locked_until is null unless a lock is running. */
static json_t *user_json(apr_pool_t *p, const char *const *row, apr_int64_t now)
{
    apr_int64_t locked = row[5] ? apr_atoi64(row[5]) : 0;
    return json_pack("{s:i, s:s, s:s, s:b, s:b, s:o, s:s?}",
                     "id", atoi(row[0]),
                     "username", row[1],
                     "role", row[2],
                     "disabled", atoi(row[3]) != 0,
                     "twofa_confirmed", atoi(row[4]) != 0,
                     "locked_until", locked > now ? json_string(iso_from_unix(p, locked))
                                                  : json_null(),
                     "created_at", secauth_db_iso_time(p, row[6]));
}

/* Both checks on every admin route: the configuration's "Require secauth-role admin" may not
 * cover every mount point of the API (a prefix mount, a forgotten <Location>). */
static int require_admin(secauth_req_t *req, const secauth_caller_t **caller)
{
    int rc = secauth_require_caller(req->r, caller);
    if (rc != OK) {
        return rc;
    }
    return secauth_require_role(req->r, *caller, admin_only);
}

/* Reads the user {id} of the path into *row: USER_FOUND, USER_MISSING or USER_DB_ERROR. */
#define USER_FOUND 0
#define USER_MISSING 1
#define USER_DB_ERROR -1
static int fetch_user(secauth_req_t *req, ap_dbd_t *dbd, const char *label, const char ***row)
{
    secauth_rows_t rows;
    const void *args[1];

    args[0] = &req->id;
    if (secauth_db_select(req->r, dbd, label, args, &rows) != SECAUTH_DB_OK) {
        return USER_DB_ERROR;
    }
    if (rows.nrows != 1) {
        return USER_MISSING;
    }
    *row = rows.rows[0];
    return USER_FOUND;
}

/* The answer when fetch_user found nothing usable. */
static int fetch_failed(secauth_req_t *req, int outcome)
{
    return outcome == USER_MISSING
        ? secauth_problem(req->r, HTTP_NOT_FOUND, "no such user", NULL)
        : secauth_unavailable(req->r);
}

/* The admin routes on the user {id}: OK with the caller, the request's connection and the
 * user's row, else the status of the answer (401/403, 404, 503). */
static int admin_target(secauth_req_t *req, const secauth_caller_t **caller, ap_dbd_t **dbd,
                        const char ***row)
{
    int rc, found;

    if ((rc = require_admin(req, caller)) != OK) {
        return rc;
    }
    if (!(*dbd = secauth_db_acquire(req->r))) {
        return secauth_unavailable(req->r);
    }
    found = fetch_user(req, *dbd, "secauth_admin_get", row);
    return found == USER_FOUND ? OK : fetch_failed(req, found);
}

static int send_user(secauth_req_t *req, ap_dbd_t *dbd)
{
    const char **row = NULL;
    int found = fetch_user(req, dbd, "secauth_admin_get", &row);

    if (found != USER_FOUND) {
        return fetch_failed(req, found);
    }
    return secauth_send_json(req->r, HTTP_OK, user_json(req->r->pool, row, secauth_now_sec()));
}

/* ---- GET /users ---- */

int secauth_users_list(secauth_req_t *req)
{
    request_rec *r = req->r;
    const secauth_caller_t *caller;
    secauth_rows_t rows;
    const void *args[2];
    ap_dbd_t *dbd;
    json_t *list;
    apr_int64_t now = secauth_now_sec();
    int rc, limit, after, fetch, i, shown;

    if ((rc = require_admin(req, &caller)) != OK) {
        return rc;
    }
    if (!secauth_parse_paging(req, "must be a user id", &limit, &after)) {
        return secauth_send_field_errors(req);
    }
    if (!(dbd = secauth_db_acquire(r))) {
        return secauth_unavailable(r);
    }
    /* one row more than the page tells whether a next page exists */
    fetch = limit + 1;
    args[0] = &after;
    args[1] = &fetch;
    if (secauth_db_select(r, dbd, "secauth_admin_list", args, &rows) != SECAUTH_DB_OK) {
        return secauth_unavailable(r);
    }
    shown = rows.nrows > limit ? limit : rows.nrows;
    list = json_array();
    for (i = 0; i < shown; i++) {
        json_array_append_new(list, user_json(r->pool, rows.rows[i], now));
    }
    if (rows.nrows > limit) {
        /* the link keeps the mount prefix: where the client reached the API */
        apr_table_setn(r->headers_out, "Link",
                       apr_psprintf(r->pool, "<%s/users?after=%s&limit=%d>; rel=\"next\"",
                                    req->mount, rows.rows[shown - 1][0], limit));
    }
    return secauth_send_json(r, HTTP_OK, list);
}

/* ---- PATCH /users/{id} ---- */

static int valid_role(const char *role)
{
    return !strcmp(role, "viewer") || !strcmp(role, "editor") || !strcmp(role, "admin");
}

typedef struct {
    const char *role;        /* new role */
    int disabled;            /* new flag */
    const char *old_role;
    int old_disabled;
    const char *username;
} patch_t;

/* The whole change inside the caller's transaction: OK, or the status of the answer to send
 * (404, 409, 503) after a rollback. */
static int apply_patch(secauth_req_t *req, ap_dbd_t *dbd, patch_t *patch, int role_given,
                       int disabled_given)
{
    request_rec *r = req->r;
    secauth_rows_t admins;
    const char **row = NULL;
    const void *args[4];
    int found;

    if (secauth_db_select(r, dbd, "secauth_admin_admins", NULL, &admins) != SECAUTH_DB_OK) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    found = fetch_user(req, dbd, "secauth_admin_get_locked", &row);
    if (found != USER_FOUND) {
        return found == USER_MISSING ? HTTP_NOT_FOUND : HTTP_SERVICE_UNAVAILABLE;
    }
    patch->username = row[1];
    patch->old_role = row[2];
    patch->old_disabled = atoi(row[3]) != 0;
    if (!role_given) patch->role = patch->old_role;
    if (!disabled_given) patch->disabled = patch->old_disabled;

    if (!strcmp(patch->old_role, "admin") && !patch->old_disabled
        && (strcmp(patch->role, "admin") || patch->disabled) && admins.nrows <= 1) {
        return HTTP_CONFLICT;
    }
    args[0] = patch->role;
    args[1] = &patch->disabled;
    args[2] = secauth_db_time(r->pool, apr_time_now());
    args[3] = &req->id;
    if (secauth_db_exec(r, dbd, "secauth_admin_set", args, NULL) != SECAUTH_DB_OK) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (patch->disabled) {
        /* The access check refuses a disabled user anyway; a new generation also keeps the
         * old tokens dead should the account be enabled again. */
        args[0] = &req->id;
        if (secauth_db_exec(r, dbd, "secauth_admin_revoke", args, NULL) != SECAUTH_DB_OK) {
            return HTTP_SERVICE_UNAVAILABLE;
        }
    }
    return OK;
}

int secauth_users_patch(secauth_req_t *req)
{
    static const char *const fields[] = {"role", "disabled", NULL};
    request_rec *r = req->r;
    const secauth_caller_t *caller;
    apr_dbd_transaction_t *txn = NULL;
    json_t *body, *role, *disabled;
    patch_t patch;
    ap_dbd_t *dbd;
    int rc;

    if ((rc = require_admin(req, &caller)) != OK) {
        return rc;
    }
    if ((rc = secauth_read_object(req, fields, &body)) != OK) {
        return rc;
    }
    memset(&patch, 0, sizeof(patch));
    role = json_object_get(body, "role");
    disabled = json_object_get(body, "disabled");
    if (role && !(json_is_string(role) && valid_role(json_string_value(role)))) {
        secauth_field_error(req, "role", "must be one of viewer, editor, admin");
    }
    if (disabled && !json_is_boolean(disabled)) {
        secauth_field_error(req, "disabled", "must be true or false");
    }
    if (req->errors) {
        return secauth_send_field_errors(req);
    }
    patch.role = role ? json_string_value(role) : NULL;
    patch.disabled = disabled ? json_is_true(disabled) : 0;

    if (!(dbd = secauth_db_acquire(r))) {
        return secauth_unavailable(r);
    }
    if (!role && !disabled) {
        return send_user(req, dbd);     /* {} changes nothing, as PATCH /products/{id} */
    }
    if (secauth_db_begin(r, dbd, &txn) != SECAUTH_DB_OK) {
        return secauth_unavailable(r);
    }
    rc = apply_patch(req, dbd, &patch, role != NULL, disabled != NULL);
    if (secauth_db_end(r, dbd, txn, rc == OK) != SECAUTH_DB_OK && rc == OK) {
        rc = HTTP_SERVICE_UNAVAILABLE;
    }
    if (rc == HTTP_NOT_FOUND) {
        return secauth_problem(r, HTTP_NOT_FOUND, "no such user", NULL);
    }
    if (rc == HTTP_CONFLICT) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(700)
                      "mod_secauth: admin %s (id %d) from %s was refused to demote or disable "
                      "%s (id %d): the last enabled admin", caller->username, caller->user_id,
                      secauth_client_ip(r), patch.username, req->id);
        return secauth_problem(r, HTTP_CONFLICT, "this is the last enabled admin: make "
                               "another admin first", NULL);
    }
    if (rc != OK) {
        return secauth_unavailable(r);
    }
    secauth_cache_changed_id(SECAUTH_CACHE_USER, req->id);
    if (strcmp(patch.role, patch.old_role) || patch.disabled != patch.old_disabled) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(701)
                      "mod_secauth: admin %s (id %d) from %s changed user %s (id %d): "
                      "role %s -> %s, disabled %d -> %d%s", caller->username, caller->user_id,
                      secauth_client_ip(r), patch.username, req->id, patch.old_role, patch.role,
                      patch.old_disabled, patch.disabled,
                      patch.disabled ? ", every token revoked" : "");
    }
    return send_user(req, dbd);
}

/* ---- DELETE /users/{id}/2fa ---- */

int secauth_users_reset_2fa(secauth_req_t *req)
{
    request_rec *r = req->r;
    const secauth_caller_t *caller;
    apr_dbd_transaction_t *txn = NULL;
    unsigned char secret[SECAUTH_TOTP_SECRET_LEN];
    const char *sealed, **row = NULL;
    const void *args[4];
    ap_dbd_t *dbd;
    int rc, ok;

    if ((rc = admin_target(req, &caller, &dbd, &row)) != OK) {
        return rc;
    }
    if (secauth_random_bytes(secret, sizeof(secret)) != 0
        || !(sealed = secauth_account_seal_secret(r->pool, req->conf, req->id, row[1], secret,
                                                  sizeof(secret)))) {
        OPENSSL_cleanse(secret, sizeof(secret));
        return secauth_problem(r, HTTP_INTERNAL_SERVER_ERROR, "could not make a new secret",
                               NULL);
    }
    OPENSSL_cleanse(secret, sizeof(secret));

    /* Back to the state of a new registration: pending enrolment and no session, and no
     * enrolment token of before either (a new generation ends both kinds). */
    args[0] = sealed;
    args[1] = secauth_db_time(r->pool, apr_time_now());
    args[2] = &req->id;
    if (secauth_db_begin(r, dbd, &txn) != SECAUTH_DB_OK) {
        return secauth_unavailable(r);
    }
    ok = secauth_db_exec(r, dbd, "secauth_admin_reset_2fa", args, NULL) == SECAUTH_DB_OK;
    args[0] = &req->id;
    ok = ok && secauth_account_drop_recovery(req, dbd, req->id) == SECAUTH_DB_OK;
    if (secauth_db_end(r, dbd, txn, ok) != SECAUTH_DB_OK || !ok) {
        return secauth_unavailable(r);
    }
    secauth_cache_changed_id(SECAUTH_CACHE_USER, req->id);
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(702)
                  "mod_secauth: admin %s (id %d) from %s reset the two-factor enrolment of "
                  "%s (id %d): new pending secret, recovery codes and tokens revoked",
                  caller->username, caller->user_id, secauth_client_ip(r), row[1], req->id);
    return send_user(req, dbd);
}

/* ---- POST /users/{id}/unlock ---- */

int secauth_users_unlock(secauth_req_t *req)
{
    request_rec *r = req->r;
    const secauth_caller_t *caller;
    const char **row = NULL;
    ap_dbd_t *dbd;
    int rc;

    if ((rc = admin_target(req, &caller, &dbd, &row)) != OK) {
        return rc;
    }
    if (secauth_account_clear_failures(req, dbd, req->id) != SECAUTH_DB_OK) {
        return secauth_unavailable(r);
    }
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, SECAUTH_LOGNO(703)
                  "mod_secauth: admin %s (id %d) from %s unlocked %s (id %d)",
                  caller->username, caller->user_id, secauth_client_ip(r), row[1], req->id);
    return secauth_send_bytes(r, HTTP_NO_CONTENT, NULL, NULL, 0);
}

/* ---- SecAuthBootstrapAdmin ---- */

static void bootstrap_server(apr_pool_t *p, server_rec *s, const char *name)
{
    ap_dbd_t *dbd = secauth_db_open_outside(p, s);
    const void *args[2];
    const char **row = NULL;
    int promoted = 0;

    if (!dbd) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SECAUTH_LOGNO(722)
                     "mod_secauth: SecAuthBootstrapAdmin %s: the database cannot be reached; "
                     "the next httpd child to start tries again", name);
        return;
    }
    args[0] = secauth_db_time(p, apr_time_now());
    args[1] = name;
    /* only a change of role is news: every child runs this, the first one promotes */
    if (secauth_db_run_outside(p, s, dbd, "secauth_admin_promote", args, &promoted, NULL) == 0
        && secauth_db_run_outside(p, s, dbd, "secauth_admin_find", args + 1, NULL, &row) == 0) {
        if (promoted > 0) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, SECAUTH_LOGNO(723)
                         "mod_secauth: SecAuthBootstrapAdmin promoted %s to admin", name);
        }
        if (!row) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SECAUTH_LOGNO(724)
                         "mod_secauth: SecAuthBootstrapAdmin %s: no such account (register "
                         "it, then restart httpd)", name);
        }
        else if (atoi(row[2]) != 0) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SECAUTH_LOGNO(725)
                         "mod_secauth: SecAuthBootstrapAdmin %s is an admin but disabled: "
                         "enable it with PATCH /users/%s", name, row[0]);
        }
    }
    secauth_db_close_outside(s, dbd);
}

void secauth_admin_bootstrap(apr_pool_t *p, server_rec *s)
{
    secauth_server_conf_t *main_conf = secauth_server_config(s);
    server_rec *vs;
    apr_pool_t *scratch;

    apr_pool_create(&scratch, p);
    /* The main server, and each virtual host whose own SecAuthBootstrapAdmin line names an
     * account (it may have a database of its own). A virtual host that merely inherits the
     * main server's line shares its pointer, and mostly its database: once is enough. */
    for (vs = s; vs; vs = vs->next) {
        secauth_server_conf_t *conf = secauth_server_config(vs);
        if (conf->used && conf->bootstrap_admin
            && (vs == s || conf->bootstrap_admin != main_conf->bootstrap_admin)) {
            bootstrap_server(scratch, vs, conf->bootstrap_admin);
            apr_pool_clear(scratch);
        }
    }
    apr_pool_destroy(scratch);
}
