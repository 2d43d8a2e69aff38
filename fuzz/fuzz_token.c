/* fuzz_token.c — libFuzzer harness for bearer-token verification against an HS256 key table
 * with two keys. An input starting with 'R' is a raw token (it must never be accepted: the
 * fuzzer cannot forge a signature); otherwise it is "header JSON \n claims JSON", signed here
 * with key "a" so that the header and claim checks behind the signature are fuzzed too. */
#include "token.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/hmac.h>
#include "crypto.h"

static apr_pool_t *root;
static secauth_token_config_t cfg;

static void teardown(void)
{
    apr_pool_destroy(root);
    apr_terminate();
}

static void setup(void)
{
    static const unsigned char secret_a[] = "fuzzing-secret-a-0123456789abcdef";
    static const unsigned char secret_b[] = "fuzzing-secret-b-0123456789abcdef";
    secauth_key_t *key;

    apr_initialize();
    apr_pool_create(&root, NULL);
    /* the keys hold OpenSSL contexts freed with root: give them back at exit */
    atexit(teardown);
    cfg.alg = SECAUTH_ALG_HS256;
    cfg.keys = apr_array_make(root, 2, sizeof(secauth_key_t));
    key = apr_array_push(cfg.keys);
    if (secauth_key_hs256(root, secret_a, sizeof(secret_a) - 1, "a", key)) abort();
    key = apr_array_push(cfg.keys);
    if (secauth_key_hs256(root, secret_b, sizeof(secret_b) - 1, "b", key)) abort();
    cfg.issuer = "https://secauth.test";
    cfg.audience = "products-api";
    cfg.lifetime = 600;
    cfg.clock_skew = 30;
}

/* base64url(header) "." base64url(claims) "." HMAC-SHA256 with key "a" */
static char *signed_token(apr_pool_t *p, const char *text, apr_size_t len)
{
    const char *nl = memchr(text, '\n', len);
    const secauth_key_t *key = &APR_ARRAY_IDX(cfg.keys, 0, secauth_key_t);
    unsigned char mac[32];
    unsigned int mac_len = 0;
    char *input;

    if (!nl) return NULL;
    input = apr_pstrcat(p, secauth_b64url_encode(p, (const unsigned char *)text, nl - text), ".",
                        secauth_b64url_encode(p, (const unsigned char *)nl + 1,
                                              len - (nl - text) - 1), NULL);
    HMAC(EVP_sha256(), key->key, (int)key->key_len, (const unsigned char *)input, strlen(input),
         mac, &mac_len);
    return apr_pstrcat(p, input, ".", secauth_b64url_encode(p, mac, mac_len), NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *token;
    secauth_claims_t claims;
    const char *why = NULL;
    int raw;

    if (!root) setup();
    if (size < 1) return 0;
    apr_pool_create(&p, root);
    raw = data[0] == 'R';
    token = raw ? apr_pstrmemdup(p, (const char *)data + 1, size - 1)
                : signed_token(p, (const char *)data + 1, size - 1);
    if (token) {
        if (secauth_token_verify(p, &cfg, SECAUTH_TOKEN_ACCESS, token, apr_time_now(), &claims,
                                 &why) == 0 && raw) {
            abort(); /* a raw token cannot carry a valid signature */
        }
        secauth_token_verify(p, &cfg, SECAUTH_TOKEN_ENROLL, token, apr_time_now(), &claims, &why);
    }
    apr_pool_destroy(p);
    return 0;
}
