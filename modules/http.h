/* http.h — the HTTP plumbing every route shares: the request context, body reading with a
 * limit, strict JSON parsing, JSON and problem+json (RFC 9457) responses, field validation
 * errors, the error filter that keeps httpd's own errors in problem+json, and routing. */
#ifndef SECAUTH_HTTP_H
#define SECAUTH_HTTP_H

#include "httpd.h"
#include <jansson.h>

#include "config.h"
#include "parse.h"

typedef struct {
    request_rec *r;
    secauth_server_conf *conf;
    const char *path;       /* the path below the mount point, e.g. "/products/7" */
    const char *param;      /* the {username} of /generate-qr/{username}, decoded */
    int id;                 /* the {id} of /products/{id} and /users/{id}/... */
    json_t *errors;         /* field errors collected by validation, or NULL */
} secauth_req_t;

typedef int (*secauth_handler_fn)(secauth_req_t *req);

typedef struct {
    const char *method;      /* "GET", "POST", ...; GET routes answer HEAD too */
    const char *pattern;     /* "/products/{id}", "/generate-qr/{name}", "/health" */
    secauth_handler_fn fn;
} secauth_route_t;

/* The whole handler: matches r against routes (relative to the mount point), answers 404 for
 * a malformed id, 405 with Allow for a known path with another method, and returns DECLINED
 * for paths that are not routes so the rest of httpd serves them. */
int secauth_dispatch(request_rec *r, const secauth_route_t *routes);

/* fixups, before mod_dir's: a route of the API is the API's even where the document root has
 * a directory of that name (htdocs/products/ for files under /products/...), which mod_dir
 * would otherwise answer with a 301 to "/products/". Always DECLINED. */
int secauth_claim_route(request_rec *r, const secauth_route_t *routes);

/* map_to_storage, before httpd's own TRACE answer: a TRACE of a route of the API is 405 with
 * the route's Allow (DONE, the answer sent), whatever TraceEnable says, since an echo would
 * hand back the caller's Authorization header and cookies; DECLINED for any other request. */
int secauth_refuse_trace(request_rec *r, const secauth_route_t *routes);

/* Reads and parses the request body: 415 unless application/json (charset utf-8 allowed),
 * 413 past SecAuthMaxBody (without reading further), 400 for invalid JSON, duplicate keys,
 * a top level that is not an object, or NUL characters. On success returns OK and sets *body
 * (freed with the request pool); otherwise the problem response is already sent and the
 * return value is what the handler returns. */
int secauth_read_json(secauth_req_t *req, json_t **body);

/* 400 naming the first member of body that is not in allowed (NULL-terminated); OK else. */
int secauth_reject_unknown_fields(secauth_req_t *req, json_t *body, const char *const *allowed);

/* ?limit=1..1000 (default 100) and ?after=ID (0 or absent: from the start), the paging of every
 * list route; other parameters are ignored and a repeated one is an error rather than a guess.
 * id_detail is the after error, e.g. "must be a product id". 1 when acceptable, else 0 with the
 * field errors collected. */
#define SECAUTH_PAGE_DEFAULT 100
#define SECAUTH_PAGE_MAX 1000
int secauth_parse_paging(secauth_req_t *req, const char *id_detail, int *limit, int *after);

/* Collects a field error; secauth_send_field_errors answers 400 with them all. */
void secauth_field_error(secauth_req_t *req, const char *field, const char *detail);
int secauth_send_field_errors(secauth_req_t *req);

/* Sends value (stolen: decref'd here) as application/json with status; returns OK. */
int secauth_send_json(request_rec *r, int status, json_t *value);

/* value (stolen: decref'd here) as the compact JSON text every response uses, in p; NULL when
 * it cannot be encoded. */
char *secauth_json_text(apr_pool_t *p, json_t *value, apr_size_t *len);

/* Sends bytes with a content type, Cache-Control: no-store; returns OK. */
int secauth_send_bytes(request_rec *r, int status, const char *content_type,
                       const void *data, apr_size_t len);

/* Sends an application/problem+json error; extra (stolen, may be NULL) is merged into the
 * body. Returns OK (the response is complete). */
int secauth_problem(request_rec *r, int status, const char *detail, json_t *extra);

/* 503 with Retry-After: the database cannot be reached. */
int secauth_unavailable(request_rec *r);

/* Registers an apr pool cleanup that json_decref's value. Returns value. */
json_t *secauth_json_pool(apr_pool_t *p, json_t *value);

/* The error filter that rewrites httpd's own error pages into problem+json for requests of
 * this module (the handler, or AuthType Bearer). */
void secauth_register_error_filter(void);
void secauth_insert_error_filter(request_rec *r);

/* Note for the error filter: the detail of an error httpd will render. */
void secauth_set_error_detail(request_rec *r, const char *detail);

/* Content negotiation: 1 when the Accept header names type (exactly, not through a wildcard). */
int secauth_accepts(request_rec *r, const char *type);

#endif
