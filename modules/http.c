/* http.c — request bodies, strict JSON, JSON and problem+json responses, routing relative to
 * the mount point, and the filter that turns httpd's own error pages into problem+json. */
#include "http.h"
#include "metrics_hooks.h"
#include "body.h"

#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "apr_strings.h"
#include "apr_lib.h"

APLOG_USE_MODULE(secauth);

#define JSON_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

static apr_status_t json_cleanup(void *value)
{
    json_decref(value);
    return APR_SUCCESS;
}

json_t *secauth_json_pool(apr_pool_t *p, json_t *value)
{
    if (value) {
        apr_pool_cleanup_register(p, value, json_cleanup, apr_pool_cleanup_null);
    }
    return value;
}

static void set_common_headers(request_rec *r)
{
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
}

int secauth_send_bytes(request_rec *r, int status, const char *content_type,
                       const void *data, apr_size_t len)
{
    secauth_request(r)->sent = 1;
    r->status = status;
    set_common_headers(r);
    if (status == HTTP_NO_CONTENT) {
        return status;
    }
    ap_set_content_type(r, content_type);
    ap_set_content_length(r, len);
    if (!r->header_only && len) {
        ap_rwrite(data, (int)len, r);
    }
    return status;
}

int secauth_send_not_modified(request_rec *r)
{
    secauth_request(r)->sent = 1;
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    r->status = HTTP_NOT_MODIFIED;
    return HTTP_NOT_MODIFIED;
}

static char *dump_json(apr_pool_t *p, json_t *value, apr_size_t *len)
{
    char *text = json_dumps(value, JSON_DUMP_FLAGS);
    char *copy;

    if (!text) {
        return NULL;
    }
    *len = strlen(text);
    copy = apr_pstrmemdup(p, text, *len);
    free(text);
    return copy;
}

char *secauth_json_text(apr_pool_t *p, json_t *value, apr_size_t *len)
{
    char *text = value ? dump_json(p, value, len) : NULL;
    json_decref(value);
    return text;
}

int secauth_send_json(request_rec *r, int status, json_t *value)
{
    apr_size_t len = 0;
    char *text = dump_json(r->pool, value, &len);

    json_decref(value);
    if (!text) {
        return secauth_problem(r, HTTP_INTERNAL_SERVER_ERROR, "response encoding failed", NULL);
    }
    return secauth_send_bytes(r, status, "application/json; charset=utf-8", text, len);
}

static const char *status_title(int status)
{
    const char *line = ap_get_status_line(status);
    return (line && strlen(line) > 4) ? line + 4 : "Error";
}

static json_t *problem_body(int status, const char *detail, json_t *extra)
{
    json_t *body = json_pack("{s:s, s:s, s:i}", "type", "about:blank",
                             "title", status_title(status), "status", status);
    if (detail) {
        json_object_set_new(body, "detail", json_string(detail));
    }
    if (extra) {
        json_object_update(body, extra);
        json_decref(extra);
    }
    return body;
}

/* The one problem+json renderer: the body of r's answer with status, with the detail (and extra
 * members) recorded in the context: for the module's own answers the problem of that status;
 * for an error page of httpd (error_page 1) the access check's detail, which is what httpd is
 * sending. JSON text from r->pool; NULL when it cannot be encoded. */
static char *problem_text(request_rec *r, int status, int error_page, apr_size_t *len)
{
    secauth_req_t *req = secauth_request_find(r);
    const secauth_problem_t *p = req ? &req->problem : NULL;
    int use = p && (error_page ? p->by_httpd : p->status == status);
    json_t *body;
    char *text;

    body = problem_body(status, use ? p->detail : NULL,
                        use && p->extra ? json_incref(p->extra) : NULL);
    text = dump_json(r->pool, body, len);
    json_decref(body);
    return text;
}

/* Sends the problem the module answers itself. */
static void render_problem(request_rec *r, int status)
{
    apr_size_t len = 0;
    char *text = problem_text(r, status, 0, &len);

    if (status == HTTP_REQUEST_ENTITY_TOO_LARGE || status == HTTP_UNSUPPORTED_MEDIA_TYPE) {
        /* the body was not read: close rather than let httpd read and discard all of it */
        r->connection->keepalive = AP_CONN_CLOSE;
    }
    secauth_send_bytes(r, status, "application/problem+json", text, len);
}

int secauth_problem(request_rec *r, int status, const char *detail, json_t *extra)
{
    secauth_req_t *req = secauth_request(r);

    req->api = 1;
    req->problem.status = status;
    req->problem.detail = detail;
    req->problem.extra = secauth_json_pool(r->pool, extra);
    req->problem.by_httpd = 0;
    return status;
}

int secauth_for_httpd(request_rec *r, int status)
{
    secauth_request(r)->problem.by_httpd = 1;
    return status;
}

int secauth_unavailable(request_rec *r)
{
    apr_table_setn(r->err_headers_out, "Retry-After",
                   apr_itoa(r->pool, secauth_server_config(r->server)->db_retry_after));
    return secauth_problem(r, HTTP_SERVICE_UNAVAILABLE, "the database is unavailable", NULL);
}

void secauth_field_error(secauth_req_t *req, const char *field, const char *detail)
{
    if (!req->errors) {
        req->errors = secauth_json_pool(req->r->pool, json_array());
    }
    secauth_errors_add(req->errors, field, detail);
}

int secauth_send_field_errors(secauth_req_t *req)
{
    json_t *first = json_array_get(req->errors, 0);
    const char *detail = apr_psprintf(req->r->pool, "%s %s",
                                      json_string_value(json_object_get(first, "field")),
                                      json_string_value(json_object_get(first, "detail")));
    return secauth_problem(req->r, HTTP_BAD_REQUEST, detail,
                           json_pack("{s:O}", "errors", req->errors));
}

static int read_body(secauth_req_t *req, char **buf, apr_size_t *len)
{
    request_rec *r = req->r;
    apr_off_t limit = req->conf->max_body;
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_size_t cap = 8192, used = 0;
    char *data;
    long got;
    int rc;

    if (cl) {
        char *end;
        apr_off_t declared;
        if (apr_strtoff(&declared, cl, &end, 10) != APR_SUCCESS || *end || declared < 0) {
            return secauth_problem(r, HTTP_BAD_REQUEST, "invalid Content-Length", NULL);
        }
        if (declared > limit) {
            return secauth_problem(r, HTTP_REQUEST_ENTITY_TOO_LARGE,
                                   apr_psprintf(r->pool, "the body is larger than %" APR_OFF_T_FMT
                                                " bytes", limit), NULL);
        }
        cap = (apr_size_t)declared + 1;
    }
    if ((rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK) {
        /* httpd's own LimitRequestBody may be the smaller limit */
        return secauth_problem(r, rc == HTTP_REQUEST_ENTITY_TOO_LARGE ? rc : HTTP_BAD_REQUEST,
                               "the request body cannot be read", NULL);
    }
    data = apr_palloc(r->pool, cap);
    while ((got = ap_get_client_block(r, data + used, cap - used)) > 0) {
        used += (apr_size_t)got;
        if ((apr_off_t)used > limit) {
            return secauth_problem(r, HTTP_REQUEST_ENTITY_TOO_LARGE,
                                   apr_psprintf(r->pool, "the body is larger than %" APR_OFF_T_FMT
                                                " bytes", limit), NULL);
        }
        if (used == cap) {
            char *bigger;
            cap = cap * 2 > (apr_size_t)limit + 1 ? (apr_size_t)limit + 1 : cap * 2;
            bigger = apr_palloc(r->pool, cap);
            memcpy(bigger, data, used);
            data = bigger;
        }
    }
    if (got < 0) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return secauth_problem(r, HTTP_BAD_REQUEST, "the request body could not be read", NULL);
    }
    *buf = data;
    *len = used;
    return OK;
}

/* 400 naming the first member of body that is not in allowed (NULL-terminated); OK else. */
static int reject_unknown_fields(secauth_req_t *req, json_t *body, const char *const *allowed)
{
    json_t *unknown = secauth_json_pool(req->r->pool, json_array());
    json_t *e;
    size_t i;

    secauth_unknown_fields(body, allowed, unknown);
    json_array_foreach(unknown, i, e) {
        secauth_field_error(req, json_string_value(json_object_get(e, "field")),
                            json_string_value(json_object_get(e, "detail")));
    }
    return req->errors ? secauth_send_field_errors(req) : OK;
}

int secauth_read_object(secauth_req_t *req, const char *const *allowed, json_t **body)
{
    request_rec *r = req->r;
    const char *err = NULL;
    char *buf = NULL;
    apr_size_t len = 0;
    json_t *value;
    int rc;

    if (!secauth_json_media_type(apr_table_get(r->headers_in, "Content-Type"))) {
        return secauth_problem(r, HTTP_UNSUPPORTED_MEDIA_TYPE,
                               "the body must be application/json (charset utf-8)", NULL);
    }
    if ((rc = read_body(req, &buf, &len)) != OK) {
        return rc;
    }
    if (!(value = secauth_json_body(r->pool, buf, len, &err))) {
        return secauth_problem(r, HTTP_BAD_REQUEST, err, NULL);
    }
    *body = secauth_json_pool(r->pool, value);
    return reject_unknown_fields(req, *body, allowed);
}

/* A query value as a decimal in [min, max]; -1 when malformed. */
static apr_int64_t bounded_number(const char *v, apr_int64_t min, apr_int64_t max)
{
    apr_int64_t n = 0;
    const char *c;

    if (!*v || strlen(v) > 10) return -1;
    for (c = v; *c; c++) {
        if (!apr_isdigit(*c)) return -1;
        n = n * 10 + (*c - '0');
    }
    return n >= min && n <= max ? n : -1;
}

/* One paging parameter: stored in *out when valid, else a field error. */
static void paging_param(secauth_req_t *req, const char *name, apr_int64_t min, apr_int64_t max,
                         const char *detail, int *out)
{
    int repeated = 0;
    const char *v = secauth_query_param(req->r->pool, req->r->args, name, &repeated);
    apr_int64_t n;

    if (!v) return;
    if (repeated) {
        secauth_field_error(req, name, "is given more than once");
    }
    else if ((n = bounded_number(v, min, max)) < 0) {
        secauth_field_error(req, name, detail);
    }
    else {
        *out = (int)n;
    }
}

int secauth_parse_paging(secauth_req_t *req, const char *id_detail, int *limit, int *after)
{
    *limit = SECAUTH_PAGE_DEFAULT;
    *after = 0;
    paging_param(req, "limit", 1, SECAUTH_PAGE_MAX, "must be an integer from 1 to 1000", limit);
    paging_param(req, "after", 0, 2147483647, id_detail, after);
    return req->errors ? 0 : 1;
}

/* Where the API is mounted for r (the per-directory configuration of the <Location> that says
 * "SetHandler secauth", config.c) and the path below it; 0 when r->uri is under no mount (the
 * path is then the whole URI). */
static int locate(secauth_req_t *req)
{
    const secauth_dir_conf_t *dir = secauth_dir_config(req->r);
    const char *uri = req->r->uri, *m = dir ? dir->mount : NULL;
    apr_size_t n = m ? strlen(m) : 0;

    if (m && (strncmp(uri, m, n) || (uri[n] != '/' && uri[n] != '\0'))) {
        m = NULL;
    }
    req->mount = m ? m : "";
    req->path = !m ? uri : uri[n] ? uri + n : "/";
    req->mounted = m != NULL;
    return req->mounted;
}

int secauth_note_mount(request_rec *r)
{
    const secauth_dir_conf_t *dir = secauth_dir_config(r);

    if (dir && dir->mount) {
        locate(secauth_request(r));
    }
    return DECLINED;
}

/* The Allow value of a known path (every route's method, HEAD with GET), or NULL when path
 * is not a route or holds a malformed id (then *bad_id is 1, when given). */
static const char *route_allow(apr_pool_t *p, const secauth_route_t *routes, const char *path,
                               int *bad_id)
{
    const secauth_route_t *route;
    const char *allow = NULL, *param;
    int id, m;

    for (route = routes; route->method; route++) {
        m = secauth_route_match(p, route->pattern, path, &id, &param);
        if (m < 0 && bad_id) {
            *bad_id = 1;
        }
        if (m > 0) {
            allow = allow ? apr_pstrcat(p, allow, ", ", route->method, NULL) : route->method;
            if (!strcmp(route->method, "GET")) {
                allow = apr_pstrcat(p, allow, ", HEAD", NULL);
            }
        }
    }
    return allow;
}

/* What the handler hands to httpd once a route answered with status: an answer sent is done;
 * a problem the module renders is rendered now; any other status (the access check's answers)
 * is httpd's to send. */
static int answer(request_rec *r, int status)
{
    secauth_req_t *req = secauth_request(r);

    if (req->sent) {
        return OK;
    }
    if (status == req->problem.status && !req->problem.by_httpd) {
        render_problem(r, status);
        return OK;
    }
    return status;
}

/* The route of req->path and r->method: 1 with *found, or 0 with the reason in *known (the
 * path is a route's, with another method) and *bad_id (a route's path, with a malformed id). */
static int find_route(secauth_req_t *req, const secauth_route_t *routes,
                      const secauth_route_t **found, int *known, int *bad_id)
{
    request_rec *r = req->r;
    const secauth_route_t *route;

    for (route = routes; route->method; route++) {
        int m = secauth_route_match(r->pool, route->pattern, req->path, &req->id, &req->param);
        if (!m) continue;
        *known = 1;
        if (m < 0) {
            *bad_id = 1;
            continue;
        }
        if (!strcmp(r->method, route->method)
            || (r->header_only && !strcmp(route->method, "GET"))) {
            *found = route;
            return 1;
        }
    }
    return 0;
}

int secauth_dispatch(request_rec *r, const secauth_route_t *routes)
{
    secauth_req_t *req;
    const secauth_route_t *route = NULL;
    int known = 0, bad_id = 0, status;

    if (!r->handler || strcmp(r->handler, "secauth")) {
        return DECLINED;
    }
    req = secauth_request(r);
    locate(req);
    if (!find_route(req, routes, &route, &known, &bad_id) && !known) {
        return DECLINED;
    }
    req->api = 1;
    if (!route) {
        if (bad_id) {
            return answer(r, secauth_problem(r, HTTP_NOT_FOUND, "no such resource", NULL));
        }
        apr_table_setn(r->headers_out, "Allow", route_allow(r->pool, routes, req->path, NULL));
        if (r->method_number == M_OPTIONS) {
            return answer(r, secauth_send_bytes(r, HTTP_NO_CONTENT, NULL, NULL, 0));
        }
        return answer(r, secauth_problem(r, HTTP_METHOD_NOT_ALLOWED,
                                         apr_psprintf(r->pool, "%s is not allowed here",
                                                      r->method), NULL));
    }
    if (!req->conf->used) {
        return answer(r, secauth_problem(r, HTTP_SERVICE_UNAVAILABLE,
                                         "mod_secauth is not configured for this server", NULL));
    }
    status = route->fn(req);
    secauth_metrics_route_done(r, route, status);
    return answer(r, status);
}

int secauth_claim_route(request_rec *r, const secauth_route_t *routes)
{
    secauth_req_t *req;

    if (r->handler && !strcmp(r->handler, "secauth") && r->finfo.filetype == APR_DIR) {
        req = secauth_request(r);
        locate(req);
        if (route_allow(r->pool, routes, req->path, NULL)) {
            r->finfo.filetype = APR_NOFILE;
        }
    }
    return DECLINED;
}

int secauth_refuse_trace(request_rec *r, const secauth_route_t *routes)
{
    secauth_req_t *req;
    const char *allow;
    int bad_id = 0;

    if (r->method_number != M_TRACE || !secauth_server_config(r->server)->used
        || !(req = secauth_request_find(r)) || !req->mounted) {
        return DECLINED;
    }
    allow = route_allow(r->pool, routes, req->path, &bad_id);
    if (!allow && !bad_id) {
        return DECLINED;
    }
    req->api = 1;
    if (!allow) {
        /* a route's path with a malformed id: what any method gets there */
        render_problem(r, secauth_problem(r, HTTP_NOT_FOUND, "no such resource", NULL));
        return DONE;
    }
    apr_table_setn(r->headers_out, "Allow", allow);
    render_problem(r, secauth_problem(r, HTTP_METHOD_NOT_ALLOWED, "TRACE is not allowed here",
                                      NULL));
    return DONE;
}

const char *secauth_client_ip(request_rec *r)
{
    return r->useragent_ip ? r->useragent_ip : "-";
}

int secauth_accepts(request_rec *r, const char *type)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");
    apr_size_t n = strlen(type);
    const char *at;

    for (at = accept; at && (at = ap_strcasestr(at, type)); at += n) {
        char before = at == accept ? ',' : at[-1];
        char after = at[n];
        if ((before == ',' || before == ' ') && (after == '\0' || after == ',' || after == ';'
                                                 || after == ' ')) {
            return 1;
        }
    }
    return 0;
}

/* Drops httpd's HTML error page and sends problem+json instead: the error pages of the API's
 * locations (401/403 from the access check, 413 from LimitRequestBody...) stay machine-readable. */
static apr_status_t problem_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    apr_bucket *b, *next;

    if (!f->ctx) {
        f->ctx = r;
        ap_set_content_type(r, "application/problem+json");
        apr_table_unset(r->headers_out, "Content-Length");
        set_common_headers(r);
    }
    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = next) {
        next = APR_BUCKET_NEXT(b);
        if (APR_BUCKET_IS_EOS(b)) {
            apr_size_t len = 0;
            char *text = problem_text(r, r->status, 1, &len);
            if (text) {
                APR_BUCKET_INSERT_BEFORE(b, apr_bucket_pool_create(text, len, r->pool,
                                                                   f->c->bucket_alloc));
            }
            break;
        }
        if (!APR_BUCKET_IS_METADATA(b)) {
            apr_bucket_delete(b);
        }
    }
    return ap_pass_brigade(f->next, bb);
}

void secauth_register_error_filter(void)
{
    ap_register_output_filter("SECAUTH_PROBLEM", problem_filter, NULL, AP_FTYPE_CONTENT_SET);
}

void secauth_insert_error_filter(request_rec *r)
{
    secauth_req_t *req = secauth_request_find(r);
    if (req && req->api) {
        ap_add_output_filter("SECAUTH_PROBLEM", NULL, r, r->connection);
    }
}
