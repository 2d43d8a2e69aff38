/* fuzz_product.c — libFuzzer harness for the products body validator (create and update):
 * arbitrary bytes parsed as a request body, then validated; an accepted product must satisfy
 * the contract's bounds (API.md §5). The first byte picks create or update. */
// sources: modules/product_input.c modules/body.c modules/parse.c
#include "product_input.h"
#include "body.h"
#include "parse.h"

#include <apr_general.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static apr_pool_t *root;
    apr_pool_t *p;
    const char *err = NULL;
    secauth_product_input_t in;
    json_t *body, *errors;
    int creating;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    if (size < 1) return 0;
    creating = data[0] & 1;
    apr_pool_create(&p, root);
    body = secauth_json_body(p, (const char *)data + 1, size - 1, &err);
    if (body) {
        errors = json_array();
        secauth_product_validate(p, body, creating, &in, errors);
        if (!json_array_size(errors)) {
            if (creating && (!in.has_name || !in.has_price)) abort();
            if (in.has_name && (!in.name || !*in.name || strlen(in.name) > 400)) abort();
            if (in.has_description && in.description && strlen(in.description) > 1020) abort();
            if (in.has_price && (in.cents < 0 || in.cents > PRICE_MAX_CENTS)) abort();
            if (in.has_quantity && in.quantity < 0) abort();
        }
        json_decref(errors);
        json_decref(body);
    }
    apr_pool_destroy(p);
    return 0;
}
