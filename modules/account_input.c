/* account_input.c — the checks of the register, verify-2fa, login and password change bodies:
 * required string members, the username's characters and length, the password policy. Pure
 * (APR, jansson and password.c), so accounts.c calls them on a parsed body and
 * fuzz/fuzz_accounts.c on any JSON. */
#include "account_input.h"
#include "body.h"
#include "password.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <string.h>

/* A string member; NULL when absent (an error when required) or not a string. */
static const char *string_field(json_t *body, const char *name, int required, json_t *errors)
{
    json_t *v = json_object_get(body, name);

    if (!v) {
        if (required) {
            secauth_errors_add(errors, name, "is required");
        }
        return NULL;
    }
    if (!json_is_string(v)) {
        secauth_errors_add(errors, name, "must be a string");
        return NULL;
    }
    return json_string_value(v);
}

const char *secauth_username_problem(const char *name)
{
    apr_size_t n = secauth_utf8_length(name);
    const char *c;

    if (n < SECAUTH_USERNAME_MIN || n > SECAUTH_USERNAME_MAX) {
        return "must be 3 to 50 characters";
    }
    for (c = name; *c; c++) {
        if (!apr_isalnum(*c) && !strchr("._@+-", *c)) {
            return "may contain only letters, digits and . _ @ + -";
        }
    }
    return NULL;
}

char *secauth_username_normalize(apr_pool_t *p, const char *name)
{
    char *lower, *c;

    if (secauth_username_problem(name)) {
        return NULL;
    }
    /* stored and compared lower-cased (API.md §2) */
    lower = apr_pstrdup(p, name);
    for (c = lower; *c; c++) {
        *c = (char)apr_tolower(*c);
    }
    return lower;
}

/* The username member under the rule of every route: required, acceptable, lower-cased. A
 * name no account could have ("alice ", "al ice") is a field error, never a lookup. */
static const char *username_field(apr_pool_t *p, json_t *body, json_t *errors)
{
    const char *name = string_field(body, "username", 1, errors), *why;

    if (name && (why = secauth_username_problem(name))) {
        secauth_errors_add(errors, "username", why);
        return NULL;
    }
    return name ? secauth_username_normalize(p, name) : NULL;
}

void secauth_register_validate(apr_pool_t *p, json_t *body, int password_min,
                               int password_max, apr_hash_t *common,
                               secauth_account_input_t *in, json_t *errors)
{
    const char *why;

    memset(in, 0, sizeof(*in));
    in->username = username_field(p, body, errors);
    in->password = string_field(body, "password", 1, errors);
    if (in->password && (why = secauth_password_policy(p, in->password, in->username,
                                                       password_min, password_max, common))) {
        secauth_errors_add(errors, "password", why);
    }
}

void secauth_verify_validate(apr_pool_t *p, json_t *body, secauth_account_input_t *in,
                             json_t *errors)
{
    memset(in, 0, sizeof(*in));
    in->username = username_field(p, body, errors);
    in->code = string_field(body, "code", 1, errors);
}

void secauth_login_validate(apr_pool_t *p, json_t *body, secauth_account_input_t *in,
                            json_t *errors)
{
    memset(in, 0, sizeof(*in));
    in->username = username_field(p, body, errors);
    in->password = string_field(body, "password", 1, errors);
    in->code = string_field(body, "code", 0, errors);
    in->recovery_code = string_field(body, "recovery_code", 0, errors);
    if (in->code && in->recovery_code) {
        secauth_errors_add(errors, "recovery_code", "cannot be given together with code");
    }
}

void secauth_password_change_validate(apr_pool_t *p, json_t *body, const char *username,
                                      int password_min, int password_max, apr_hash_t *common,
                                      secauth_account_input_t *in, json_t *errors)
{
    const char *why;

    memset(in, 0, sizeof(*in));
    in->password = string_field(body, "current_password", 1, errors);
    in->new_password = string_field(body, "new_password", 1, errors);
    in->code = string_field(body, "code", 1, errors);
    if (in->new_password && (why = secauth_password_policy(p, in->new_password, username,
                                                           password_min, password_max,
                                                           common))) {
        secauth_errors_add(errors, "new_password", why);
    }
    else if (in->new_password && in->password && !strcmp(in->new_password, in->password)) {
        secauth_errors_add(errors, "new_password", "must differ from the current password");
    }
}
