/* test_input.c — unit tests of the request-body checks that need no httpd: the top level of a
 * JSON body (body.c), the products validator (product_input.c) and the account validators
 * (account_input.c), including the hostile inputs of make check-faults. */
#include "tap.h"
#include "body.h"
#include "product_input.h"
#include "account_input.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

static json_t *parse(apr_pool_t *p, const char *text, apr_size_t len, const char **err)
{
    *err = NULL;
    return secauth_json_body(p, text, len, err);
}

#define BODY(s) parse(p, s, sizeof(s) - 1, &err)

static void test_body(apr_pool_t *p)
{
    const char *err;
    json_t *v, *errors;
    char *deep;
    static const char *const allowed[] = {"name", NULL};

    v = BODY("{\"name\": \"x\"}");
    ok(v && json_is_object(v), "an object is accepted");
    json_decref(v);
    ok(!BODY("") && err && !strcmp(err, "the request body is empty"), "empty body");
    ok(!BODY("[1]") && !strcmp(err, "the body must be a JSON object"), "an array top level");
    ok(!BODY("\"x\"") && !strcmp(err, "the body must be a JSON object"), "a scalar top level");
    ok(!BODY("{\"a\":1,\"a\":2}") && !strncmp(err, "invalid JSON", 12), "duplicate keys");
    ok(!BODY("{\"a\":\"\xff\"}") && strstr(err, "UTF-8"), "an invalid byte");
    ok(!BODY("{\"a\":\"\xc0\xaf\"}") && strstr(err, "UTF-8"), "an overlong encoding");
    ok(!BODY("{\"a\":\"\xed\xa0\x80\"}") && strstr(err, "UTF-8"), "a surrogate in UTF-8");
    ok(!BODY("{\"a\":\"\xf4\x90\x80\x80\"}") && strstr(err, "UTF-8"), "above U+10FFFF");
    ok(!BODY("{\"a\":\"x\\u0000y\"}") && !strncmp(err, "invalid JSON", 12), "an escaped NUL");
    ok(!BODY("{\"a\\u0000\":1}") && !strncmp(err, "invalid JSON", 12), "a NUL in a key");
    ok(!parse(p, "{\"a\":\"x\0y\"}", 11, &err) && err, "a raw NUL");
    ok(!BODY("{\"a\":\"\\ud800\"}") && !strncmp(err, "invalid JSON", 12), "a lone surrogate escape");

    deep = malloc(200001);
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    ok(!parse(p, deep, 200000, &err) && err, "100000-deep arrays are refused: %s", err);
    free(deep);

    v = BODY("{\"name\":1,\"role\":\"admin\",\"id\":3}");
    errors = json_array();
    secauth_unknown_fields(v, allowed, errors);
    is_int(json_array_size(errors), 2, "two unknown members");
    json_decref(errors);
    json_decref(v);
}

static void test_product(apr_pool_t *p)
{
    const char *err;
    secauth_product_input_t in;
    json_t *v, *errors;

    v = BODY("{\"name\":\"Laptop\",\"description\":null,\"price\":19.99,\"quantity\":5.0}");
    errors = json_array();
    secauth_product_validate(p, v, 1, &in, errors);
    is_int(json_array_size(errors), 0, "a valid product");
    is_int(in.cents, 1999, "19.99 is 1999 cents");
    is_int(in.quantity, 5, "5.0 is quantity 5");
    ok(in.has_description && !in.description, "description null");
    json_decref(errors);
    json_decref(v);

    v = BODY("{\"name\":\"\",\"price\":0.001,\"quantity\":-1}");
    errors = json_array();
    secauth_product_validate(p, v, 1, &in, errors);
    is_int(json_array_size(errors), 3, "empty name, three decimals, negative quantity");
    json_decref(errors);
    json_decref(v);

    v = BODY("{}");
    errors = json_array();
    secauth_product_validate(p, v, 1, &in, errors);
    is_int(json_array_size(errors), 2, "create needs name and price");
    json_decref(errors);
    errors = json_array();
    secauth_product_validate(p, v, 0, &in, errors);
    is_int(json_array_size(errors), 0, "an update needs nothing");
    json_decref(errors);
    json_decref(v);

    is_int(secauth_decimal_cents("99999999.99"), APR_INT64_C(9999999999), "largest price");
    is_int(secauth_decimal_cents("0.1"), 10, "0.1");
    is_int(secauth_decimal_cents("1e3"), 100000, "1e3 through strtod");
}

static void test_accounts(apr_pool_t *p)
{
    const char *err;
    secauth_account_input_t in;
    json_t *v, *errors;

    v = BODY("{\"username\":\"Alice.B\",\"password\":\"correct horse battery staple\"}");
    errors = json_array();
    secauth_register_validate(p, v, 12, 128, NULL, &in, errors);
    is_int(json_array_size(errors), 0, "a valid registration");
    is_str(in.username, "alice.b", "the username is lower-cased");
    json_decref(errors);
    json_decref(v);

    v = BODY("{\"username\":\"a b\",\"password\":5}");
    errors = json_array();
    secauth_register_validate(p, v, 12, 128, NULL, &in, errors);
    is_int(json_array_size(errors), 2, "bad username, password not a string");
    json_decref(errors);
    json_decref(v);

    v = BODY("{\"username\":\"alice\"}");
    errors = json_array();
    secauth_verify_validate(p, v, &in, errors);
    is_int(json_array_size(errors), 1, "verify-2fa needs a code");
    json_decref(errors);
    json_decref(v);

    {
        /* one rule for the username on every route (API.md §2): no pad, no fold but case */
        static const char *const bad[] = {"alice ", " alice", "al ice", "alice\\t", "al", "\\u00e4lice"};
        char text[128];
        int i;
        for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
            apr_snprintf(text, sizeof(text), "{\"username\":\"%s\",\"password\":\"p\",\"code\":\"1\"}", bad[i]);
            v = parse(p, text, strlen(text), &err);
            errors = json_array();
            secauth_login_validate(p, v, &in, errors);
            ok(json_array_size(errors) == 1 && !in.username, "login refuses the username '%s'", bad[i]);
            json_decref(errors);
            errors = json_array();
            secauth_verify_validate(p, v, &in, errors);
            ok(json_array_size(errors) == 1 && !in.username, "verify-2fa refuses the username '%s'", bad[i]);
            json_decref(errors);
            json_decref(v);
        }
        v = BODY("{\"username\":\"Alice\",\"password\":\"p\",\"code\":\"1\"}");
        errors = json_array();
        secauth_login_validate(p, v, &in, errors);
        is_str(in.username, "alice", "login lower-cases the username");
        json_decref(errors);
        json_decref(v);
        ok(secauth_username_normalize(p, "alice ") == NULL, "normalize: trailing space has no account");
        is_str(secauth_username_normalize(p, "Bob.Smith"), "bob.smith", "normalize lower-cases");
    }

    v = BODY("{\"username\":\"alice\",\"password\":\"p\",\"code\":\"1\",\"recovery_code\":\"r\"}");
    errors = json_array();
    secauth_login_validate(p, v, &in, errors);
    is_int(json_array_size(errors), 1, "code and recovery_code together");
    json_decref(errors);
    json_decref(v);
}

/* The body of POST /password: the three members, the policy, and a new password unlike the
 * current one, in that order of errors. */
static void test_password_change(apr_pool_t *p)
{
    const char *err;
    secauth_account_input_t in;
    json_t *v, *errors;

    v = BODY("{\"current_password\":\"old horse battery\",\"new_password\":\"new horse battery\","
             "\"code\":\"123456\"}");
    errors = json_array();
    secauth_password_change_validate(p, v, "alice", 12, 128, NULL, &in, errors);
    is_int(json_array_size(errors), 0, "a valid password change");
    is_str(in.password, "old horse battery", "password is the current one");
    is_str(in.new_password, "new horse battery", "new_password");
    is_str(in.code, "123456", "code");
    json_decref(errors);
    json_decref(v);

    v = BODY("{\"new_password\":5}");
    errors = json_array();
    secauth_password_change_validate(p, v, "alice", 12, 128, NULL, &in, errors);
    is_int(json_array_size(errors), 3, "current_password and code missing, new_password no string");
    is_str(json_string_value(json_object_get(json_array_get(errors, 0), "field")),
           "current_password", "the first error is current_password's");
    json_decref(errors);
    json_decref(v);

    v = BODY("{\"current_password\":\"same horse battery\",\"new_password\":\"same horse battery\","
             "\"code\":\"1\"}");
    errors = json_array();
    secauth_password_change_validate(p, v, "alice", 12, 128, NULL, &in, errors);
    is_int(json_array_size(errors), 1, "the same password again");
    is_str(json_string_value(json_object_get(json_array_get(errors, 0), "detail")),
           "must differ from the current password", "named as such");
    json_decref(errors);
    json_decref(v);

    v = BODY("{\"current_password\":\"old horse battery\",\"new_password\":\"short\",\"code\":\"1\"}");
    errors = json_array();
    secauth_password_change_validate(p, v, "alice", 12, 128, NULL, &in, errors);
    is_int(json_array_size(errors), 1, "a new password under the policy's length");
    is_str(json_string_value(json_object_get(json_array_get(errors, 0), "field")), "new_password",
           "on new_password");
    json_decref(errors);
    json_decref(v);
    (void)err;
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    test_body(p);
    test_product(p);
    test_accounts(p);
    test_password_change(p);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
