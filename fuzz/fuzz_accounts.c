/* fuzz_accounts.c — libFuzzer harness for the account routes' body validators: arbitrary bytes
 * parsed as a request body, then checked as register, verify-2fa or login (the first byte
 * picks which), with the route's unknown-member check; an accepted body must hold what the
 * handler relies on (API.md §2). */
// sources: modules/account_input.c modules/password.c modules/crypto.c modules/body.c modules/parse.c modules/metrics.c
#include "account_input.h"
#include "body.h"
#include "password.h"

#include <apr_general.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const register_fields[] = {"username", "password", NULL};
static const char *const verify_fields[] = {"username", "code", NULL};
static const char *const login_fields[] = {"username", "password", "code", "recovery_code", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static apr_pool_t *root;
    static apr_hash_t *common;
    apr_pool_t *p;
    const char *err = NULL, *c;
    secauth_account_input_t in;
    json_t *body, *errors;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
        common = apr_hash_make(root);
        apr_hash_set(common, "password", APR_HASH_KEY_STRING, "");
        apr_hash_set(common, "qwertyuiop", APR_HASH_KEY_STRING, "");
    }
    if (size < 1) return 0;
    apr_pool_create(&p, root);
    body = secauth_json_body(p, (const char *)data + 1, size - 1, &err);
    if (body) {
        errors = json_array();
        switch (data[0] % 3) {
        case 0:
            secauth_unknown_fields(body, register_fields, errors);
            secauth_register_validate(p, body, 12, 128, common, &in, errors);
            if (!json_array_size(errors)) {
                if (!in.username || !in.password || secauth_username_problem(in.username)) abort();
                for (c = in.username; *c; c++) {
                    if (*c >= 'A' && *c <= 'Z') abort();
                }
                if (secauth_utf8_length(in.password) < 12) abort();
            }
            break;
        case 1:
            secauth_unknown_fields(body, verify_fields, errors);
            secauth_verify_validate(p, body, &in, errors);
            if (!json_array_size(errors) && (!in.username || !in.code)) abort();
            break;
        default:
            secauth_unknown_fields(body, login_fields, errors);
            secauth_login_validate(p, body, &in, errors);
            if (!json_array_size(errors)
                && (!in.username || !in.password || (in.code && in.recovery_code))) abort();
            break;
        }
        json_decref(errors);
        json_decref(body);
    }
    apr_pool_destroy(p);
    return 0;
}
