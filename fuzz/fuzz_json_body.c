/* fuzz_json_body.c — libFuzzer harness for the top-level checks every JSON request body goes
 * through (UTF-8, jansson with the module's flags, object only, unknown members): arbitrary
 * bytes in, an object or a message out, never a crash or a leak. */
// sources: modules/body.c modules/parse.c
#include "body.h"

#include <apr_general.h>
#include <stdint.h>
#include <stdlib.h>

static const char *const allowed[] = {"username", "password", "code", "recovery_code", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static apr_pool_t *root;
    apr_pool_t *p;
    const char *err = NULL;
    json_t *body, *errors;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_create(&p, root);
    body = secauth_json_body(p, (const char *)data, size, &err);
    if (!body && !err) abort();
    if (body) {
        if (!json_is_object(body)) abort();
        errors = json_array();
        secauth_unknown_fields(body, allowed, errors);
        json_decref(errors);
        json_decref(body);
    }
    apr_pool_destroy(p);
    return 0;
}
