/* state.c — the access check's view of a token's user (state.h): one entry per token in the
 * per-node cache, keyed by the generations of its user and of its jti so that a change of
 * either (on this node at once, from the change feed on others) makes it unreachable; on a miss
 * one query reads the user and the token's revocation, and a token that passes is cached until
 * it expires. A refused token is never cached: the database is asked again each time. */
#include "state.h"
#include "access.h"
#include "cache.h"
#include "config.h"

#include "apr_strings.h"

/* one line per field; the username, last, is the only free text and holds no newline */
#define ENTRY_FORMAT "%d\n%" APR_INT64_T_FMT "\n%" APR_INT64_T_FMT "\n%s\n%s\n%s"
#define ENTRY_MAX 512

const secauth_stmt_t secauth_state_statements[] = {
    {"secauth_access_user",
     "SELECT u.username, u.role, u.disabled, u.tokens_not_before, "
     "(SELECT COUNT(*) FROM revoked_tokens t WHERE t.jti = %s), u.tokens_keep_jti, "
     "u.token_generation FROM users u WHERE u.id = %d", NULL},
    {NULL, NULL, NULL}
};


const char *secauth_access_refusal(const secauth_access_state_t *state,
                                   const secauth_claims_t *claims)
{
    if (!state->found) {
        return "unknown user";
    }
    if (state->disabled) {
        return "account disabled";
    }
    if (state->jti_revoked
        || secauth_token_revoked(claims, state->token_generation, state->tokens_not_before,
                                 state->tokens_keep_jti)) {
        return "token revoked";
    }
    return NULL;
}

static int parse_entry(apr_pool_t *p, const char *entry, secauth_access_state_t *out)
{
    char *copy = apr_pstrdup(p, entry), *field[6], *next = copy;
    int i;

    for (i = 0; i < 6; i++) {
        field[i] = next;
        if (i < 5) {
            if (!(next = strchr(next, '\n'))) return 0;
            *next++ = '\0';
        }
    }
    out->found = 1;
    out->disabled = atoi(field[0]);
    out->token_generation = apr_atoi64(field[1]);
    out->tokens_not_before = apr_atoi64(field[2]);
    out->tokens_keep_jti = *field[3] ? field[3] : NULL;
    out->role = field[4];
    out->username = field[5];
    out->jti_revoked = 0;
    return 1;
}

static int from_database(request_rec *r, int user_id, const char *jti,
                         secauth_access_state_t *out)
{
    secauth_rows_t rows;
    const void *args[2];
    ap_dbd_t *dbd;

    if (!(dbd = secauth_db_acquire(r))) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    args[0] = jti;
    args[1] = &user_id;
    if (secauth_db_select(r, dbd, "secauth_access_user", args, &rows) != SECAUTH_DB_OK
        || (rows.nrows == 1 && rows.ncols < 7)) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    memset(out, 0, sizeof(*out));
    if (rows.nrows != 1) {
        return OK;
    }
    out->found = 1;
    out->username = rows.rows[0][0];
    out->role = rows.rows[0][1];
    out->disabled = atoi(rows.rows[0][2]) != 0;
    out->tokens_not_before = rows.rows[0][3] ? apr_atoi64(rows.rows[0][3]) : 0;
    out->jti_revoked = atoi(rows.rows[0][4]) != 0;
    out->tokens_keep_jti = rows.rows[0][5];
    out->token_generation = rows.rows[0][6] ? apr_atoi64(rows.rows[0][6]) : 0;
    return OK;
}

int secauth_access_state(request_rec *r, int user_id, const char *jti, apr_int64_t exp,
                         secauth_access_state_t *out)
{
    const char *uid = apr_itoa(r->pool, user_id), *key, *entry;
    apr_size_t len;
    int rc;

    key = secauth_cache_key(r->pool, SECAUTH_CACHE_USER, uid, SECAUTH_CACHE_TOKEN, jti,
                            SECAUTH_CACHE_USER, NULL);
    if ((entry = secauth_cache_get(r, key, ENTRY_MAX, &len)) && parse_entry(r->pool, entry, out)) {
        return OK;
    }
    if ((rc = from_database(r, user_id, jti, out)) != OK) {
        return rc;
    }
    if (key && out->found && !out->jti_revoked) {
        entry = apr_psprintf(r->pool, ENTRY_FORMAT, out->disabled, out->token_generation,
                             out->tokens_not_before,
                             out->tokens_keep_jti ? out->tokens_keep_jti : "", out->role,
                             out->username);
        secauth_cache_put(r, key, apr_time_from_sec(exp + secauth_server_config(r->server)
                                                              ->clock_skew),
                          entry, strlen(entry));
    }
    return OK;
}
