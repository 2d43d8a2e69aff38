/* account_input.h — validation of the account routes' request bodies (register, verify-2fa,
 * login, password change; API.md §2), apart from request handling. */
#ifndef SECAUTH_ACCOUNT_INPUT_H
#define SECAUTH_ACCOUNT_INPUT_H

#include <apr_pools.h>
#include <apr_hash.h>
#include <jansson.h>

#define SECAUTH_USERNAME_MIN 3
#define SECAUTH_USERNAME_MAX 50

/* The members a body gave (NULL when absent or refused), pointing into the body except the
 * lower-cased username (from p). */
typedef struct {
    const char *username;
    const char *password;
    const char *code;
    const char *recovery_code;
    const char *new_password;    /* POST /password; password is then the current one */
} secauth_account_input_t;

/* NULL when name is an acceptable username, else why not. */
const char *secauth_username_problem(const char *name);

/* The account name that name stands for, lower-cased (from p), on every route that takes a
 * username; NULL when no account can have it (secauth_username_problem says why). */
char *secauth_username_normalize(apr_pool_t *p, const char *name);

/* Each appends {field, detail} to the array errors for every bad member, the username
 * under the same rule everywhere; unknown members are not checked here
 * (secauth_unknown_fields). */
void secauth_register_validate(apr_pool_t *p, json_t *body, int password_min,
                               int password_max, apr_hash_t *common,
                               secauth_account_input_t *in, json_t *errors);
void secauth_verify_validate(apr_pool_t *p, json_t *body, secauth_account_input_t *in,
                             json_t *errors);
void secauth_login_validate(apr_pool_t *p, json_t *body, secauth_account_input_t *in,
                            json_t *errors);
/* POST /password of the caller username: current_password, new_password under the policy and
 * unlike the current one, code. */
void secauth_password_change_validate(apr_pool_t *p, json_t *body, const char *username,
                                      int password_min, int password_max, apr_hash_t *common,
                                      secauth_account_input_t *in, json_t *errors);

#endif
