/* state.h — what the access check knows about a token's user, from the per-node cache or, on a
 * miss, from one database query that then fills the cache; and the one decision over it. */
#ifndef SECAUTH_STATE_H
#define SECAUTH_STATE_H

#include "httpd.h"
#include "db.h"
#include "token.h"

extern const secauth_stmt_t secauth_state_statements[];

typedef struct {
    int found;                        /* the user exists */
    const char *username;
    const char *role;
    int disabled;
    apr_int64_t token_generation;     /* tokens of an older generation are revoked... */
    apr_int64_t tokens_not_before;    /* ...and so are those issued before this unix second... */
    const char *tokens_keep_jti;      /* ...except this one; NULL: none */
    int jti_revoked;                  /* the token's jti is in revoked_tokens */
} secauth_access_state_t;

/* The state for a token of user_id with that jti and expiry. OK, or HTTP_SERVICE_UNAVAILABLE
 * when the answer is not cached and the database cannot be asked. */
int secauth_access_state(request_rec *r, int user_id, const char *jti, apr_int64_t exp,
                         secauth_access_state_t *out);

/* NULL when a token with these claims is accepted for this state, else why it is refused (the
 * error_description of the 401). The only place that decides. */
const char *secauth_access_refusal(const secauth_access_state_t *state,
                                   const secauth_claims_t *claims);

#endif
