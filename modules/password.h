/* password.h — argon2id password hashing (libargon2), verification of stored hashes
 * (argon2id PHC strings and legacy Werkzeug pbkdf2/scrypt strings), rehash decisions,
 * and the password policy of API.md §2 (length, username containment, common-password list). */
#ifndef SECAUTH_PASSWORD_H
#define SECAUTH_PASSWORD_H

#include <apr_pools.h>
#include <apr_hash.h>

typedef struct {
    unsigned int m_cost;      /* KiB, default 19456 */
    unsigned int t_cost;      /* iterations, default 2 */
    unsigned int parallelism; /* lanes, default 1 */
} secauth_argon2_params_t;

/* The largest costs SecAuthPasswordHash accepts, and a stored hash may ask for. */
#define SECAUTH_ARGON2_MAX_M (4UL * 1024 * 1024)
#define SECAUTH_ARGON2_MAX_T 100UL
#define SECAUTH_ARGON2_MAX_P 64UL

/* argon2id PHC string ($argon2id$v=19$m=..,t=..,p=..$salt$hash) with a 16-byte random salt
 * and a 32-byte hash. NULL on failure. */
const char *secauth_password_hash(apr_pool_t *p, const secauth_argon2_params_t *params,
                                  const char *password);

/* Limits the argon2id hashes running at once in this process to concurrent, each on a block of
 * hash memory that is kept for the next hash up to largest->m_cost KiB (the largest costs any
 * server is configured with, which also bound what a stored hash may ask for); map_now maps
 * and touches the blocks at once rather than at their first hash (once per process, in
 * child_init; p outlives every hash). 0 on success. */
int secauth_password_gate_init(apr_pool_t *p, int concurrent,
                               const secauth_argon2_params_t *largest, int map_now);

/* 1 when password matches stored (argon2id PHC, or Werkzeug "pbkdf2:sha256:ITER$salt$hex",
 * "scrypt:N:r:p$salt$hex"), 0 otherwise (including unparseable stored strings). */
int secauth_password_verify(apr_pool_t *p, const char *stored, const char *password);

/* 1 when stored is not an argon2id hash with exactly these parameters. */
int secauth_password_needs_rehash(const char *stored, const secauth_argon2_params_t *params);

/* A hash of a fixed dummy password with these parameters, computed once at startup, so that
 * a login for an unknown user costs the same one verification. */
const char *secauth_password_dummy_hash(apr_pool_t *p, const secauth_argon2_params_t *params);

/* Loads the common-password list (one per line, '#' comments) into a set of normalized
 * entries. Returns NULL and sets *err when the file cannot be read. */
apr_hash_t *secauth_common_passwords_load(apr_pool_t *p, const char *path, const char **err);

/* Lower-cases (ASCII) and strips trailing ASCII digits and punctuation. */
char *secauth_password_normalize(apr_pool_t *p, const char *password);

/* Number of Unicode code points of a valid UTF-8 string. */
apr_size_t secauth_utf8_length(const char *s);

/* Checks the password policy. Returns NULL when acceptable, else a short reason for the
 * client ("must be at least 12 characters", "must not contain the username",
 * "is too common"). username is already lower-cased; common may be NULL. */
const char *secauth_password_policy(apr_pool_t *p, const char *password, const char *username,
                                    int min_length, int max_length, apr_hash_t *common);

#endif
