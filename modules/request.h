/* request.h — the one per-request context of the module, kept in r->request_config: who the
 * caller is (the access check), the database connection the request holds (db.c), where the API
 * is mounted and the path below it (the handler), the field errors of validation, and the problem
 * the request is answered with. Every part reads these from here rather than from side channels. */
#ifndef SECAUTH_REQUEST_H
#define SECAUTH_REQUEST_H

#include "httpd.h"
#include <jansson.h>

#include "config.h"

/* What the access check learnt about the caller, for the handlers behind it. */
typedef struct {
    int user_id;
    const char *username;
    const char *role;
    const char *jti;
    apr_int64_t exp;
    apr_int64_t iat;
    apr_int64_t gen;          /* the token's generation (claim gen) */
} secauth_caller_t;

/* The problem+json answer of a request that failed (secauth_problem records it). */
typedef struct {
    int status;               /* 0: none recorded */
    const char *detail;
    json_t *extra;            /* members merged into the body (owned by the request pool) */
    int by_httpd;             /* answered by the access check: httpd's error path sends it, with
                               * the RFC 6750 challenge of err_headers_out, and the error filter
                               * renders the body */
} secauth_problem_t;

struct secauth_held_t;        /* db.c: the connection this request holds */

typedef struct {
    request_rec *r;
    secauth_server_conf_t *conf;
    const secauth_caller_t *caller;  /* NULL until the access check accepted a token */
    struct secauth_held_t *held;     /* set on the initial request only (see db.c) */
    const char *mount;               /* the URI above the routes: "" at /, "/api" at /api */
    const char *path;                /* the path below the mount point, e.g. "/products/7" */
    const char *param;               /* the {username} of /generate-qr/{username}, decoded */
    int id;                          /* the {id} of /products/{id} and /users/{id}/... */
    json_t *errors;                  /* field errors collected by validation, or NULL */
    secauth_problem_t problem;
    const char *scope;               /* the roles a failed "Require secauth-role" asked for */
    int api;                         /* a request of the API: its error pages are problem+json */
    int sent;                        /* the answer is sent (whatever its status) */
    int mounted;                     /* r->uri is under the mount */
} secauth_req_t;

/* The context of r, made on first use. */
secauth_req_t *secauth_request(request_rec *r);

/* The context of r, or NULL when nothing of the module has looked at r. */
secauth_req_t *secauth_request_find(request_rec *r);

/* The authenticated caller of this request, or NULL when the access check did not run. */
const secauth_caller_t *secauth_caller(request_rec *r);

#endif
