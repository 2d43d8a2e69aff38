/* idempotency.c — Idempotency-Key (draft-ietf-httpapi-idempotency-key-header): parsing the
 * header, the fingerprint that tells a repeat from a reuse of the key, the stored answers and
 * their expiry. */
#include "idempotency.h"
#include "crypto.h"

#include "http_log.h"
#include "http_protocol.h"
#include "apr_strings.h"
#include "apr_atomic.h"
#include "log.h"

#include <openssl/evp.h>

APLOG_USE_MODULE(secauth);

#define KEY_MAX 255

const secauth_stmt_t secauth_idempotency_statements[] = {
    {"secauth_idem_get",
     "SELECT fingerprint, status, location, etag, body, expires_at FROM idempotency_keys"
     " WHERE user_id = %d AND idem_key = %s", NULL},
    {"secauth_idem_drop_expired",
     "DELETE FROM idempotency_keys WHERE user_id = %d AND idem_key = %s AND expires_at <= %lld",
     NULL},
    {"secauth_idem_insert",
     "INSERT INTO idempotency_keys (user_id, idem_key, fingerprint, status, location, etag,"
     " body, expires_at) VALUES (%d, %s, %s, %d, %s, %s, %s, %lld)", NULL},
    /* bounded, so that one purge never holds many row locks (SQLite has no DELETE ... LIMIT) */
    {"secauth_idem_purge",
     "DELETE FROM idempotency_keys WHERE expires_at <= %lld LIMIT 1000",
     "DELETE FROM idempotency_keys WHERE expires_at <= %lld"},
    {NULL, NULL, NULL}
};

/* The draft's sf-string ("..." with \" and \\ escapes, printable ASCII); a bare token of
 * visible ASCII is taken as well, as many clients send one. NULL when malformed. */
static const char *parse_key(apr_pool_t *p, const char *h)
{
    apr_size_t n = strlen(h), i, o = 0;
    char *out;

    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t')) n--;
    while (n && (*h == ' ' || *h == '\t')) { h++; n--; }
    if (n == 0) {
        return NULL;
    }
    out = apr_palloc(p, n + 1);
    if (h[0] != '"') {
        for (i = 0; i < n; i++) {
            if (h[i] <= 0x20 || h[i] > 0x7e || h[i] == '"' || h[i] == ',' || h[i] == '\\') {
                return NULL;
            }
        }
        return apr_pstrmemdup(p, h, n);
    }
    if (n < 2 || h[n - 1] != '"') {
        return NULL;
    }
    for (i = 1; i < n - 1; i++) {
        char c = h[i];
        if (c == '\\') {
            c = h[++i];
            if (i >= n - 1 || (c != '"' && c != '\\')) return NULL;
        }
        else if (c == '"' || c < 0x20 || c > 0x7e) {
            return NULL;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return o ? out : NULL;
}

int secauth_idem_header(secauth_req_t *req, int user_id, secauth_idem_t *idem)
{
    const char *h = apr_table_get(req->r->headers_in, "Idempotency-Key");

    memset(idem, 0, sizeof(*idem));
    if (!h) {
        return SECAUTH_IDEM_NONE;
    }
    idem->key = parse_key(req->r->pool, h);
    if (!idem->key || strlen(idem->key) > KEY_MAX) {
        idem->status = secauth_problem(req->r, HTTP_BAD_REQUEST, "Idempotency-Key must be one "
                                       "quoted string of 1 to 255 printable ASCII characters",
                                       NULL);
        return SECAUTH_IDEM_ANSWERED;
    }
    idem->user_id = user_id;
    return SECAUTH_IDEM_NEW;
}

void secauth_idem_bind(apr_pool_t *p, secauth_idem_t *idem, const char *route,
                       const char *canonical)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    const char *text = apr_pstrcat(p, route, "\n", canonical, NULL);

    if (!EVP_Digest(text, strlen(text), digest, &len, EVP_sha256(), NULL)) {
        /* never equal to a stored fingerprint: a repeat is refused (422) rather than guessed */
        idem->fingerprint = "-";
        return;
    }
    idem->fingerprint = secauth_hex(p, digest, len);
}

int secauth_idem_send(request_rec *r, int status, const char *location, const char *etag,
                      const char *body, int replayed)
{
    if (location) apr_table_setn(r->headers_out, "Location", location);
    if (etag) apr_table_setn(r->headers_out, "ETag", etag);
    if (replayed) apr_table_setn(r->headers_out, "Idempotent-Replayed", "true");
    return secauth_send_bytes(r, status, "application/json; charset=utf-8", body, strlen(body));
}

int secauth_idem_replay(secauth_req_t *req, ap_dbd_t *dbd, secauth_idem_t *idem)
{
    request_rec *r = req->r;
    apr_int64_t now = secauth_now_sec();
    secauth_rows_t rows;
    const void *args[3];
    const char **row;

    args[0] = &idem->user_id;
    args[1] = idem->key;
    args[2] = &now;
    if (secauth_db_select(r, dbd, "secauth_idem_get", args, &rows) != SECAUTH_DB_OK
        || (rows.nrows && rows.ncols < 6)) {
        return SECAUTH_IDEM_FAILED;
    }
    if (!rows.nrows) {
        return SECAUTH_IDEM_NEW;
    }
    row = rows.rows[0];
    if (!row[5] || apr_atoi64(row[5]) <= now) {
        /* expired: gone before the new transaction, whose insert must not meet it; deleted
         * on its own, as a delete inside the transaction would take gap locks that concurrent
         * creates deadlock on */
        return secauth_db_exec(r, dbd, "secauth_idem_drop_expired", args, NULL) == SECAUTH_DB_OK
               ? SECAUTH_IDEM_NEW : SECAUTH_IDEM_FAILED;
    }
    if (!row[0] || strcmp(row[0], idem->fingerprint)) {
        idem->status = secauth_problem(r, HTTP_UNPROCESSABLE_ENTITY,
                                       "this Idempotency-Key was used with another request",
                                       NULL);
        return SECAUTH_IDEM_ANSWERED;
    }
    idem->status = secauth_idem_send(r, row[1] ? atoi(row[1]) : HTTP_OK, row[2], row[3],
                                     row[4] ? row[4] : "", 1);
    return SECAUTH_IDEM_ANSWERED;
}

int secauth_idem_store(secauth_req_t *req, ap_dbd_t *dbd, const secauth_idem_t *idem,
                       int status, const char *location, const char *etag, const char *body)
{
    apr_int64_t expires = secauth_now_sec() + SECAUTH_IDEM_LIFETIME_SEC;
    const void *args[8];

    args[0] = &idem->user_id;
    args[1] = idem->key;
    args[2] = idem->fingerprint;
    args[3] = &status;
    args[4] = location;
    args[5] = etag;
    args[6] = body;
    args[7] = &expires;
    return secauth_db_exec(req->r, dbd, "secauth_idem_insert", args, NULL);
}

static volatile apr_uint32_t last_purge;

void secauth_idem_purge(secauth_req_t *req, ap_dbd_t *dbd)
{
    apr_int64_t now = secauth_now_sec();
    apr_uint32_t minute = (apr_uint32_t)(now / 60) + 1, last = apr_atomic_read32(&last_purge);
    const void *args[1];

    if (last == minute || apr_atomic_cas32(&last_purge, minute, last) != last) {
        return;
    }
    args[0] = &now;
    /* a failure here costs nothing but a later purge: the request's answer stands */
    secauth_db_exec(req->r, dbd, "secauth_idem_purge", args, NULL);
}
