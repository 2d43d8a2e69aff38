/* fuzz_parse.c — libFuzzer harness for the path router, ids, the JSON media type, query
 * strings and the UTF-8 check: the first byte picks the parser, the rest is its input. */
#include "parse.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <stdint.h>

static const char *const patterns[] = {
    "/register", "/generate-qr/{name}", "/products/{id}", "/users/{id}/2fa", "/users/{id}/unlock"
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static apr_pool_t *root;
    apr_pool_t *p;
    const char *text, *name = NULL;
    int id = 0, repeated = 0;
    unsigned i;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    if (size < 1) return 0;
    apr_pool_create(&p, root);
    text = apr_pstrmemdup(p, (const char *)data + 1, size - 1);
    switch (data[0] % 5) {
    case 0:
        for (i = 0; i < sizeof(patterns) / sizeof(*patterns); i++) {
            secauth_route_match(p, patterns[i], text, &id, &name);
        }
        break;
    case 1: secauth_parse_id(text); break;
    case 2: secauth_json_media_type(text); break;
    case 3:
        secauth_query_param(p, text, "limit", &repeated);
        secauth_query_param(p, text, "after", &repeated);
        break;
    default: secauth_utf8_valid((const char *)data + 1, size - 1); break;
    }
    apr_pool_destroy(p);
    return 0;
}
