/* ops.c — GET /health (no authentication, no secrets: is the database reachable) and the
 * JWKS document that lets other services verify RS256/ES256 tokens. */
#include "ops.h"
#include "db.h"
#include "token.h"

#include "http_protocol.h"
#include "apr_strings.h"

int secauth_health(secauth_req_t *req)
{
    request_rec *r = req->r;
    ap_dbd_t *dbd = secauth_db_acquire(r);
    secauth_rows_t rows;
    int up = dbd && secauth_db_select(r, dbd, "secauth_health", NULL, &rows) == SECAUTH_DB_OK;

    if (!up) {
        apr_table_setn(r->headers_out, "Retry-After",
                       apr_itoa(r->pool, req->conf->db_retry_after));
    }
    return secauth_send_json(r, up ? HTTP_OK : HTTP_SERVICE_UNAVAILABLE,
                             json_pack("{s:s, s:s}", "status", up ? "ok" : "unavailable",
                                       "database", up ? "ok" : "unavailable"));
}

int secauth_jwks(secauth_req_t *req)
{
    const char *doc = secauth_jwks_json(req->r->pool, &req->conf->token);
    if (!doc) {
        return secauth_problem(req->r, HTTP_INTERNAL_SERVER_ERROR, "no key set", NULL);
    }
    apr_table_setn(req->r->headers_out, "Access-Control-Allow-Origin", "*");
    return secauth_send_bytes(req->r, HTTP_OK, "application/jwk-set+json", doc, strlen(doc));
}
