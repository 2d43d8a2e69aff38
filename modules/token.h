/* token.h — JWT access and enrolment tokens (JWS through OpenSSL, JSON through jansson):
 * signing keys and their ids, issuing, verification with the algorithm pinned per key and
 * every claim checked, and the JWKS document for RS256/ES256 public keys. */
#ifndef SECAUTH_TOKEN_H
#define SECAUTH_TOKEN_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

typedef enum {
    SECAUTH_ALG_HS256 = 0,
    SECAUTH_ALG_RS256,
    SECAUTH_ALG_ES256
} secauth_alg_e;

typedef struct {
    const char *kid;
    const char *path;
    secauth_alg_e alg;
    /* HS256: the raw secret (>= 32 bytes). RS256/ES256: the PEM private key as read
     * (may be a public key only: such a key verifies but cannot sign). */
    const unsigned char *key;
    apr_size_t key_len;
    /* RS256/ES256: the public key as PEM, derived at load time; NULL for HS256. */
    const unsigned char *public_pem;
    apr_size_t public_len;
    int can_sign;
    /* HS256: an HMAC-SHA256 context keyed at load time (an EVP_MAC_CTX, freed with the load
     * pool); each signature works on a copy, which spares fetching the algorithm every time.
     * HS256 keys come from secauth_key_load or secauth_key_hs256 only. */
    void *hmac_keyed;
} secauth_key_t;

typedef struct {
    secauth_alg_e alg;
    apr_array_header_t *keys; /* of secauth_key_t; the first one signs */
    const char *issuer;
    const char *audience;
    int lifetime;             /* seconds */
    int clock_skew;           /* seconds */
} secauth_token_config_t;

typedef enum {
    SECAUTH_TOKEN_ACCESS = 0, /* typ "at+jwt" */
    SECAUTH_TOKEN_ENROLL      /* typ "enroll+jwt", claim "scope": "enroll" */
} secauth_token_kind_e;

typedef struct {
    const char *sub;                /* user id as a decimal string */
    const char *preferred_username;
    const char *role;               /* access tokens */
    const char *jti;
    apr_int64_t iat, nbf, exp;      /* unix seconds */
    apr_int64_t gen;                /* claim "gen": the user's token generation at issue time
                                     * (0 when absent); "revoke every token" raises the user's */
} secauth_claims_t;

/* "HS256" etc. and back; parse returns -1 for an unknown name (case-sensitive). */
const char *secauth_alg_name(secauth_alg_e alg);
int secauth_alg_parse(const char *name, secauth_alg_e *alg);

/* Reads a key file at startup. HS256: raw bytes, at least 32. RS256: an RSA PEM key
 * (private, or public for verify-only), ES256: a P-256 EC PEM key. Returns NULL on success,
 * else a message naming the problem (the caller adds the directive and the path). */
const char *secauth_key_load(apr_pool_t *p, secauth_alg_e alg, const char *path,
                             const char *kid, secauth_key_t *out);

/* The same from the bytes of a key file already read (data NUL-terminated at data[len]), so
 * that startup reads each file once (config.c); path only names the key. */
const char *secauth_key_parse(apr_pool_t *p, secauth_alg_e alg, const char *path,
                              const char *kid, const unsigned char *data, apr_size_t len,
                              secauth_key_t *out);

/* An HS256 key from secret bytes held by the caller (at least 32), as secauth_key_load makes
 * one from a file. Returns NULL on success, else a message. */
const char *secauth_key_hs256(apr_pool_t *p, const unsigned char *secret, apr_size_t len,
                              const char *kid, secauth_key_t *out);

/* Issues a signed token with the first key of cfg: header {alg, typ, kid}; claims iss, aud,
 * sub, preferred_username, role (access only), scope "enroll" (enroll only), iat, nbf, exp
 * (iat + lifetime), jti (128 random bits, hex), gen (generation, the user's token generation
 * as read with the account). Sets *claims_out (may be NULL). Returns NULL on failure. */
const char *secauth_token_issue(apr_pool_t *p, const secauth_token_config_t *cfg,
                                secauth_token_kind_e kind, const char *sub,
                                const char *username, const char *role,
                                apr_int64_t generation, apr_time_t now,
                                secauth_claims_t *claims_out);

/* Verifies a compact JWS as API.md §4: header alg equal to the configured one, known kid
 * (a missing kid is accepted only when exactly one key is configured), typ of the expected
 * kind, no crit; signature; iss, aud (string or array containing it), exp/nbf/iat numbers
 * within clock_skew, sub, jti, gen (a non-negative integer when present), and the kind's
 * scope. Returns 0 and fills *out, or -1 with
 * *why set to a short error_description for the client. */
int secauth_token_verify(apr_pool_t *p, const secauth_token_config_t *cfg,
                         secauth_token_kind_e kind, const char *token, apr_time_t now,
                         secauth_claims_t *out, const char **why);

/* {"keys": [...]} with the public keys (kty, kid, alg, use "sig", n/e or crv/x/y) of every
 * RS256/ES256 key; {"keys": []} for HS256. */
const char *secauth_jwks_json(apr_pool_t *p, const secauth_token_config_t *cfg);

#endif
