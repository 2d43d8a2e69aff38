/* idempotency.h — the Idempotency-Key request header (IETF httpapi draft) for creating routes:
 * the key and the answer are stored with the created row in one transaction, so a client that
 * got no answer (a 503 whose commit outcome was unknown, a timeout) can send the request again
 * and get the original answer instead of a second row. */
#ifndef SECAUTH_IDEMPOTENCY_H
#define SECAUTH_IDEMPOTENCY_H

#include "http.h"
#include "db.h"

extern const secauth_stmt_t secauth_idempotency_statements[];

/* How long a key is remembered. */
#define SECAUTH_IDEM_LIFETIME_SEC (24 * 3600)

typedef struct {
    const char *key;          /* the client's key, unquoted */
    int user_id;              /* keys are the caller's own: another caller's never match */
    const char *fingerprint;  /* SHA-256 hex of the route and the request's meaning */
    int status;               /* when ANSWERED: the status of the answer, sent or recorded */
} secauth_idem_t;

/* Outcomes of secauth_idem_header and secauth_idem_replay. */
#define SECAUTH_IDEM_NONE      0   /* no header: proceed as before */
#define SECAUTH_IDEM_NEW       1   /* a key not seen (or expired): run the request, then store */
#define SECAUTH_IDEM_ANSWERED  2   /* answered (a replay sent, 400 or 422 recorded): the
                                    * handler returns idem->status */
#define SECAUTH_IDEM_FAILED   -1   /* database error (logged): the caller answers 503 */

/* Reads the header: NONE, NEW with idem->key set, or ANSWERED (400 for a malformed key). */
int secauth_idem_header(secauth_req_t *req, int user_id, secauth_idem_t *idem);

/* Binds the key to what the request asks for: route plus canonical text of the validated input
 * (two bodies with the same meaning are the same request). */
void secauth_idem_bind(apr_pool_t *p, secauth_idem_t *idem, const char *route,
                       const char *canonical);

/* Looks the key up: NEW when unknown, ANSWERED after sending the stored answer (or 422 when
 * the key came with another request), FAILED on a database error. */
int secauth_idem_replay(secauth_req_t *req, ap_dbd_t *dbd, secauth_idem_t *idem);

/* Inside the caller's transaction, after its write: stores the answer. SECAUTH_DB_DUPLICATE
 * when a concurrent request with the key got in first. */
int secauth_idem_store(secauth_req_t *req, ap_dbd_t *dbd, const secauth_idem_t *idem,
                       int status, const char *location, const char *etag, const char *body);

/* Sends an answer as it is stored (the first time, and on every replay alike). */
int secauth_idem_send(request_rec *r, int status, const char *location, const char *etag,
                      const char *body, int replayed);

/* Deletes expired keys now and then (at most once a minute per process), outside any
 * transaction so that concurrent creates on a cluster do not conflict over it. */
void secauth_idem_purge(secauth_req_t *req, ap_dbd_t *dbd);

#endif
