/* access.c — "AuthType Bearer": reads the bearer token (header only), verifies it (token.c),
 * checks that the user still exists, is not disabled and the token is not revoked (state.c:
 * from the node's cache or in one query), then sets r->user and SECAUTH_* variables;
 * "Require secauth-role ..." authorizes on the user's current role. Errors follow RFC 6750 §3 with problem+json bodies. */
#include "access.h"
#include "config.h"
#include "http.h"
#include "metrics_hooks.h"
#include "state.h"
#include "token.h"

#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_auth.h"
#include "ap_provider.h"
#include "apr_strings.h"
#include "apr_lib.h"

APLOG_USE_MODULE(secauth);

int secauth_token_revoked(const secauth_claims_t *claims, apr_int64_t generation,
                          apr_int64_t not_before, const char *keep_jti)
{
    int older = claims->gen < generation || claims->iat < not_before;
    return older && !(keep_jti && *keep_jti && !strcmp(keep_jti, claims->jti));
}

apr_int64_t secauth_column_int(const char *value)
{
    return value ? apr_atoi64(value) : 0;
}

static int is_bearer(request_rec *r)
{
    const char *type = ap_auth_type(r);
    return type && !strcasecmp(type, "Bearer");
}

static const char *realm(request_rec *r)
{
    const char *name = ap_auth_name(r);
    char *quoted, *q;
    if (!name) {
        return "secauth";
    }
    quoted = q = apr_palloc(r->pool, strlen(name) * 2 + 1);
    for (; *name; name++) {
        if (*name == '"' || *name == '\\') *q++ = '\\';
        *q++ = *name;
    }
    *q = '\0';
    return quoted;
}

/* Sets the challenge and records the problem; returns status for httpd to send. */
static int challenge(request_rec *r, int status, const char *error, const char *description)
{
    const char *value = apr_psprintf(r->pool, "Bearer realm=\"%s\"", realm(r));
    if (error) {
        value = apr_psprintf(r->pool, "%s, error=\"%s\", error_description=\"%s\"", value, error,
                             description);
    }
    apr_table_setn(r->err_headers_out, "WWW-Authenticate", value);
    return secauth_for_httpd(r, secauth_problem(r, status, description ? description
                                                : "a bearer token is required", NULL));
}

static int is_token_char(char c)
{
    return apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

/* RFC 6750 §2.1: "Bearer" 1*SP b64token. Returns 1 and *token when well formed, 0 when the
 * header is not a bearer header at all, -1 when it is a malformed one. */
static int parse_authorization(request_rec *r, const char *header, const char **token)
{
    const char *t, *end;

    if (strncasecmp(header, "Bearer", 6) || (header[6] && header[6] != ' ')) {
        return 0;
    }
    for (t = header + 6; *t == ' '; t++);
    for (end = t; *end && is_token_char(*end); end++);
    while (*end == '=') end++;
    if (end == t || *end) {
        return -1;
    }
    *token = apr_pstrmemdup(r->pool, t, end - t);
    return 1;
}

/* The caller, for the handlers (the request's context) and for what runs after them: r->user,
 * and the environment of CGI, SSI and logs. */
static void publish(request_rec *r, secauth_caller_t *caller)
{
    r->user = (char *)caller->username;
    r->ap_auth_type = "Bearer";
    apr_table_setn(r->subprocess_env, "SECAUTH_USER_ID", apr_itoa(r->pool, caller->user_id));
    apr_table_setn(r->subprocess_env, "SECAUTH_USERNAME", caller->username);
    apr_table_setn(r->subprocess_env, "SECAUTH_ROLE", caller->role);
    apr_table_setn(r->subprocess_env, "SECAUTH_TOKEN_ID", caller->jti);
    secauth_request(r)->caller = caller;
}

/* The whole check: OK with the caller published, or an error status whose challenge and
 * problem detail are already set for the error filter. */
static int authenticate(request_rec *r)
{
    secauth_req_t *req = secauth_request(r);
    secauth_server_conf_t *conf = req->conf;
    const char *header, *token = NULL, *why = NULL;
    secauth_claims_t claims;
    secauth_caller_t *caller;
    secauth_access_state_t state;
    int rc;

    req->api = 1;
    if (!conf->used) {
        return secauth_for_httpd(r, secauth_problem(r, HTTP_SERVICE_UNAVAILABLE, "mod_secauth "
                                                    "is not configured for this server", NULL));
    }
    header = apr_table_get(r->headers_in, "Authorization");
    if (!header || !(rc = parse_authorization(r, header, &token))) {
        return challenge(r, HTTP_UNAUTHORIZED, NULL, NULL);
    }
    if (rc < 0) {
        return challenge(r, HTTP_BAD_REQUEST, "invalid_request",
                         "the Authorization header must be Bearer and one token");
    }
    if (secauth_token_verify(r->pool, &conf->token, SECAUTH_TOKEN_ACCESS, token,
                             apr_time_now(), &claims, &why) != 0) {
        return challenge(r, HTTP_UNAUTHORIZED, "invalid_token", why);
    }

    caller = apr_pcalloc(r->pool, sizeof(*caller));
    caller->user_id = secauth_parse_id(claims.sub);
    caller->jti = claims.jti;
    caller->exp = claims.exp;
    caller->iat = claims.iat;
    caller->gen = claims.gen;
    if (!caller->user_id) {
        return challenge(r, HTTP_UNAUTHORIZED, "invalid_token", "invalid subject");
    }
    /* from the node's state cache, or one database query (state.c) */
    if (secauth_access_state(r, caller->user_id, claims.jti, claims.exp, &state) != OK) {
        return secauth_for_httpd(r, secauth_unavailable(r));
    }
    if ((why = secauth_access_refusal(&state, &claims))) {
        return challenge(r, HTTP_UNAUTHORIZED, "invalid_token", why);
    }
    caller->username = state.username;
    caller->role = state.role;
    publish(r, caller);
    return OK;
}

static int check_bearer(request_rec *r)
{
    return is_bearer(r) ? secauth_metrics_access_check(r, authenticate) : DECLINED;
}

int secauth_require_caller(request_rec *r, const secauth_caller_t **caller)
{
    int rc = OK;
    if (!secauth_caller(r)) {
        rc = secauth_metrics_access_check(r, authenticate);
    }
    *caller = secauth_caller(r);
    return rc;
}

int secauth_require_enrollment(request_rec *r, secauth_claims_t *claims)
{
    secauth_req_t *req = secauth_request(r);
    const char *header = apr_table_get(r->headers_in, "Authorization");
    const char *token = NULL, *why = NULL;
    int rc;

    req->api = 1;
    if (!header || !(rc = parse_authorization(r, header, &token))) {
        return challenge(r, HTTP_UNAUTHORIZED, NULL, NULL);
    }
    if (rc < 0) {
        return challenge(r, HTTP_BAD_REQUEST, "invalid_request",
                         "the Authorization header must be Bearer and one token");
    }
    if (secauth_token_verify(r->pool, &req->conf->token, SECAUTH_TOKEN_ENROLL, token,
                             apr_time_now(), claims, &why) != 0) {
        return challenge(r, HTTP_UNAUTHORIZED, "invalid_token", why);
    }
    return OK;
}

int secauth_refuse_token(request_rec *r, const char *why)
{
    return challenge(r, HTTP_UNAUTHORIZED, "invalid_token", why);
}

static int note_bearer_failure(request_rec *r, const char *auth_type)
{
    if (strcasecmp(auth_type, "Bearer")) {
        return DECLINED;
    }
    if (!apr_table_get(r->err_headers_out, "WWW-Authenticate")) {
        challenge(r, HTTP_UNAUTHORIZED, NULL, NULL);
    }
    return OK;
}

/* Remove incoming headers that would pose as the variables set above once CGI or
 * mod_headers turn headers into environment (SECAUTH-ROLE, Secauth_User_Id, ...). */
static int strip_spoofed_headers(request_rec *r)
{
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i;

    for (i = arr->nelts - 1; i >= 0; i--) {
        if (e[i].key && !strncasecmp(e[i].key, "secauth", 7)
            && (e[i].key[7] == '-' || e[i].key[7] == '_')) {
            apr_table_unset(r->headers_in, e[i].key);
        }
    }
    return DECLINED;
}

/* Require secauth-role ROLE...: granted when the user's current role is one of them. */
static authz_status role_check(request_rec *r, const char *require_args,
                               const void *parsed_require_args)
{
    const secauth_caller_t *caller = secauth_caller(r);
    const char *roles = require_args, *w;
    (void)parsed_require_args;

    if (!r->user) {
        return AUTHZ_DENIED_NO_USER;
    }
    if (caller) {
        while (*(w = ap_getword_white(r->pool, &roles))) {
            if (!strcmp(w, caller->role)) {
                return AUTHZ_GRANTED;
            }
        }
    }
    /* only noted: httpd may still grant through another Require; the answer, if any, is
     * made by forbid_authenticated when the error response starts */
    secauth_request(r)->scope = require_args;
    return AUTHZ_DENIED;
}

static const char *role_parse(cmd_parms *cmd, const char *require_line, const void **parsed)
{
    const char *w, *line = require_line;
    (void)parsed;
    if (!*require_line) {
        return "Require secauth-role needs at least one role (viewer, editor, admin)";
    }
    while (*(w = ap_getword_white(cmd->temp_pool, &line))) {
        if (strcmp(w, "viewer") && strcmp(w, "editor") && strcmp(w, "admin")) {
            return apr_psprintf(cmd->pool, "Require secauth-role: unknown role '%s' "
                                "(viewer, editor, admin)", w);
        }
    }
    return NULL;
}

static const authz_provider role_provider = {role_check, role_parse};

/* 403 insufficient_scope (RFC 6750 §3.1): the token is good, its user may not do this. */
static int insufficient_scope(request_rec *r, const char *roles)
{
    const char *why = roles ? apr_psprintf(r->pool, "requires role: %s", roles)
                            : "not allowed by the access rules of this location";
    apr_table_setn(r->err_headers_out, "WWW-Authenticate",
                   apr_psprintf(r->pool, "Bearer realm=\"%s\", error=\"insufficient_scope\", "
                                "error_description=\"%s\"", realm(r), why));
    return secauth_for_httpd(r, secauth_problem(r, HTTP_FORBIDDEN, roles
                                                ? apr_psprintf(r->pool, "this needs one of the "
                                                               "roles: %s", roles)
                                                : "access denied", NULL));
}

/* httpd answers a failed Require with 401 even for an authenticated user (unless
 * AuthzSendForbiddenOnFailure is on), which tells a bearer client to fetch a new token; a
 * valid token that is not enough is 403 insufficient_scope (RFC 6750 §3.1). Runs when the
 * error response starts, before the problem+json filter is chosen. */
static void forbid_authenticated(request_rec *r)
{
    if (r->status == HTTP_UNAUTHORIZED && r->user && is_bearer(r) && secauth_caller(r)) {
        r->status = insufficient_scope(r, secauth_request(r)->scope);
    }
}

int secauth_require_role(request_rec *r, const secauth_caller_t *caller,
                         const char *const *roles)
{
    const char *const *role;
    const char *list = "";

    for (role = roles; *role; role++) {
        if (!strcmp(caller->role, *role)) {
            return OK;
        }
        list = apr_pstrcat(r->pool, list, *list ? " " : "", *role, NULL);
    }
    return insufficient_scope(r, list);
}

void secauth_access_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_read_request(strip_spoofed_headers, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_authn(check_bearer, NULL, NULL, APR_HOOK_MIDDLE, AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_note_auth_failure(note_bearer_failure, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(forbid_authenticated, NULL, NULL, APR_HOOK_FIRST);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "secauth-role", AUTHZ_PROVIDER_VERSION,
                              &role_provider, AP_AUTH_INTERNAL_PER_CONF);
}
