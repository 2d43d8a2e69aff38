/* http.h — the HTTP plumbing every route shares: body reading with a limit, strict JSON
 * parsing, JSON responses, the one problem+json (RFC 9457) renderer, field validation errors,
 * the error filter that keeps httpd's own errors in problem+json, and routing.
 *
 * The error convention: a handler returns the HTTP status of its answer. A success is sent by
 * secauth_send_json/secauth_send_bytes, which return the status they sent; a failure is recorded
 * by secauth_problem (or secauth_unavailable, secauth_send_field_errors), which returns its
 * status, and the dispatcher renders it. What the access check answers (its RFC 6750 challenges)
 * httpd's error path sends, and the error filter renders with the same renderer. */
#ifndef SECAUTH_HTTP_H
#define SECAUTH_HTTP_H

#include "httpd.h"
#include <jansson.h>

#include "config.h"
#include "parse.h"
#include "request.h"

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

/* translate_name, first: notes where the API is mounted for r while the per-directory
 * configuration of its <Location>s is at hand (httpd sets it back to the server's for
 * map_to_storage). Always DECLINED. */
int secauth_note_mount(request_rec *r);

/* map_to_storage, before httpd's own TRACE answer: a TRACE of a route of the API is 405 with
 * the route's Allow (DONE, the answer sent), whatever TraceEnable says, since an echo would
 * hand back the caller's Authorization header and cookies; DECLINED for any other request. */
int secauth_refuse_trace(request_rec *r, const secauth_route_t *routes);

/* The one body reader: reads and parses the request body: 415 unless application/json
 * (charset utf-8 allowed), 413 past SecAuthMaxBody (without reading further), 400 for invalid
 * JSON, duplicate keys, a top level that is not an object, or NUL characters, and 400 with a
 * field error for each member not in allowed (NULL-terminated). On success returns OK and sets
 * *body (freed with the request pool); otherwise the status of the problem recorded, for the
 * handler to return. */
int secauth_read_object(secauth_req_t *req, const char *const *allowed, json_t **body);

/* ?limit=1..1000 (default 100) and ?after=ID (0 or absent: from the start), the paging of every
 * list route; other parameters are ignored and a repeated one is an error rather than a guess.
 * id_detail is the after error, e.g. "must be a product id". 1 when acceptable, else 0 with the
 * field errors collected. */
#define SECAUTH_PAGE_DEFAULT 100
#define SECAUTH_PAGE_MAX 1000
int secauth_parse_paging(secauth_req_t *req, const char *id_detail, int *limit, int *after);

/* Collects a field error; secauth_send_field_errors records the 400 answer with them all and
 * returns 400. */
void secauth_field_error(secauth_req_t *req, const char *field, const char *detail);
int secauth_send_field_errors(secauth_req_t *req);

/* Sends value (stolen: decref'd here) as application/json with status; returns status (500
 * recorded when it cannot be encoded). */
int secauth_send_json(request_rec *r, int status, json_t *value);

/* value (stolen: decref'd here) as the compact JSON text every response uses, in p; NULL when
 * it cannot be encoded. */
char *secauth_json_text(apr_pool_t *p, json_t *value, apr_size_t *len);

/* Sends bytes with a content type, Cache-Control: no-store; returns status. */
int secauth_send_bytes(request_rec *r, int status, const char *content_type,
                       const void *data, apr_size_t len);

/* 304 Not Modified (no body); returns 304. */
int secauth_send_not_modified(request_rec *r);

/* Records the request's application/problem+json answer; extra (stolen, may be NULL) is merged
 * into the body. Returns status, for the handler to return: the dispatcher renders it. */
int secauth_problem(request_rec *r, int status, const char *detail, json_t *extra);

/* For the access check's answers: the problem just recorded is httpd's to send (the access
 * hook returns status to httpd, whose error path sends err_headers_out: the RFC 6750 challenge),
 * and the error filter renders its body. Returns status. */
int secauth_for_httpd(request_rec *r, int status);

/* 503 with Retry-After: the database cannot be reached. Returns 503 (recorded as above). */
int secauth_unavailable(request_rec *r);

/* Registers an apr pool cleanup that json_decref's value. Returns value. */
json_t *secauth_json_pool(apr_pool_t *p, json_t *value);

/* The error filter that rewrites httpd's own error pages into problem+json for requests of
 * this module (the handler, or AuthType Bearer). */
void secauth_register_error_filter(void);
void secauth_insert_error_filter(request_rec *r);

/* The client's address for a log line ("-" when unknown). */
const char *secauth_client_ip(request_rec *r);

/* Content negotiation: 1 when the Accept header names type (exactly, not through a wildcard). */
int secauth_accepts(request_rec *r, const char *type);

#endif
