/* test_crypto.c — unit tests for modules/crypto.c: sealing, base64url, HMAC, hex and
 * constant-time comparison, against published vectors where there are some. */
#include <stdlib.h>

#include <apr_escape.h>
#include <apr_general.h>
#include <apr_strings.h>

#include "crypto.h"
#include "tap.h"

static const unsigned char key[SECAUTH_SEAL_KEY_LEN + 1] = "0123456789abcdef0123456789abcdef";
static const unsigned char other_key[SECAUTH_SEAL_KEY_LEN + 1] = "fedcba9876543210fedcba9876543210";

/* Decodes with a NUL-terminated input and returns the bytes as a string, or NULL on refusal. */
static const char *b64_decoded(apr_pool_t *p, const char *text)
{
    unsigned char *out;
    apr_size_t len;

    if (secauth_b64url_decode(p, text, strlen(text), &out, &len) != 0) {
        return NULL;
    }
    return apr_pstrmemdup(p, (const char *)out, len);
}

static void test_b64url(apr_pool_t *p)
{
    /* RFC 4648 §10 vectors, with the padding dropped. */
    static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *const encoded[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
    static const char *const junk[] = {
        "Zm9v!", "Zm9v Yg", " Zm9v", "Zm9v\n", "Z", "Zm9vY", "Zm9v+w", "Zm9v/w",
        "Zh", "Zm9", "Zg=", "Zg===", "Zm8==", "=", "==", "Zg==Zg", "Z=g=",
    };
    static const unsigned char url_only[] = { 0xfb, 0xff, 0xbf };
    unsigned char *out;
    apr_size_t len, i;

    for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        is_str(secauth_b64url_encode(p, (const unsigned char *)plain[i], strlen(plain[i])),
               encoded[i], "b64url encode \"%s\"", plain[i]);
        is_str(b64_decoded(p, encoded[i]), plain[i], "b64url decode \"%s\"", encoded[i]);
    }
    is_str(secauth_b64url_encode(p, url_only, 2), "-_8", "encode uses - and _ instead of + and /");
    is_str(secauth_b64url_encode(p, url_only, 3), "-_-_", "encode of 0xfbffbf");
    ok(secauth_b64url_decode(p, "-_-_", 4, &out, &len) == 0 && len == 3
       && memcmp(out, url_only, 3) == 0, "decode -_-_ back to 0xfbffbf");
    is_str(b64_decoded(p, "Zg=="), "f", "correct padding is accepted");
    is_str(b64_decoded(p, "Zm8="), "fo", "correct single padding is accepted");
    for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        ok(b64_decoded(p, junk[i]) == NULL, "decode refuses \"%s\"", apr_pescape_echo(p, junk[i], 0));
    }
    ok(secauth_b64url_decode(p, "Zm\0v", 4, &out, &len) != 0, "decode refuses an embedded NUL");
    ok(secauth_b64url_decode(p, "Zm9vYmFy", 4, &out, &len) == 0 && len == 3
       && memcmp(out, "foo", 3) == 0, "decode honours text_len");

    /* the standard alphabet, unpadded (PHC strings) */
    is_str(secauth_b64_encode_unpadded(p, url_only, 3), "+/+/", "standard encode of 0xfbffbf");
    is_str(secauth_b64_encode_unpadded(p, (const unsigned char *)"f", 1), "Zg", "standard encode drops padding");
    ok(secauth_b64_decode_unpadded(p, "+/+/", 4, &out, &len) == 0 && len == 3
       && memcmp(out, url_only, 3) == 0, "standard decode of +/+/");
    ok(secauth_b64_decode_unpadded(p, "-_-_", 4, &out, &len) != 0, "standard decode refuses - and _");
    ok(secauth_b64_decode_unpadded(p, "Zg==", 4, &out, &len) != 0, "standard decode refuses padding");
    ok(secauth_b64_decode_unpadded(p, "Zh", 2, &out, &len) != 0, "standard decode refuses non-zero trailing bits");
}

static void test_hex_hmac_compare(apr_pool_t *p)
{
    static const unsigned char bytes[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
    const char *a, *b;

    is_str(secauth_hex(p, bytes, sizeof(bytes)), "00017f80abff", "hex is lower-case, two digits a byte");
    is_str(secauth_hex(p, bytes, 0), "", "hex of nothing");

    /* RFC 4231 test case 2. */
    is_str(secauth_hmac_sha256_hex(p, (const unsigned char *)"Jefe", 4,
                                   "what do ya want for nothing?", 28),
           "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
           "HMAC-SHA256 RFC 4231 test case 2");
    is_str(secauth_hmac_sha256_hex(p, NULL, 0, "", 0),
           "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
           "HMAC-SHA256 with empty key and data");

    ok(secauth_ct_equal("abcdef", "abcdef", 6), "ct_equal: equal");
    ok(!secauth_ct_equal("abcdef", "abcdeg", 6), "ct_equal: last byte differs");
    ok(!secauth_ct_equal("xbcdef", "abcdef", 6), "ct_equal: first byte differs");
    ok(secauth_ct_equal("a", "b", 0), "ct_equal: zero bytes are equal");

    a = secauth_random_hex(p, 16);
    b = secauth_random_hex(p, 16);
    ok(a && strlen(a) == 32 && strspn(a, "0123456789abcdef") == 32, "random_hex: 32 hex digits");
    ok(a && b && strcmp(a, b) != 0, "random_hex: two draws differ");
}

/* Re-encodes sealed with one byte of its decoded form flipped. */
static const char *tampered(apr_pool_t *p, const char *sealed, apr_size_t at)
{
    unsigned char *raw;
    apr_size_t len;

    if (secauth_b64url_decode(p, sealed + 3, strlen(sealed + 3), &raw, &len) != 0 || at >= len) {
        return NULL;
    }
    raw[at] ^= 0x01;
    return apr_pstrcat(p, "v1.", secauth_b64url_encode(p, raw, len), NULL);
}

static void test_seal(apr_pool_t *p)
{
    static const char secret[] = "JBSWY3DPEHPK3PXPJBSW"; /* 20 bytes, like a TOTP secret */
    const char *sealed, *again;
    unsigned char *plain = NULL;
    apr_size_t len = 0;

    sealed = secauth_seal(p, key, (const unsigned char *)secret, 20, "user:42");
    ok(sealed != NULL && strncmp(sealed, "v1.", 3) == 0, "seal gives a v1. string");
    is_int(sealed ? strlen(sealed) : 0, 3 + 64, "v1. + base64url of 12+20+16 bytes");
    ok(secauth_unseal(p, key, sealed, "user:42", &plain, &len) == 0, "unseal roundtrip");
    ok(len == 20 && plain && memcmp(plain, secret, 20) == 0, "unseal gives the sealed bytes");
    ok(plain && plain[len] == '\0', "unsealed bytes are NUL-terminated");

    again = secauth_seal(p, key, (const unsigned char *)secret, 20, "user:42");
    ok(again && sealed && strcmp(again, sealed) != 0, "a fresh nonce each time");

    ok(secauth_unseal(p, other_key, sealed, "user:42", &plain, &len) == -1, "wrong key refused");
    ok(secauth_unseal(p, key, sealed, "user:43", &plain, &len) == -1, "wrong aad refused");
    ok(secauth_unseal(p, key, sealed, NULL, &plain, &len) == -1, "missing aad refused");
    ok(secauth_unseal(p, key, tampered(p, sealed, 0), "user:42", &plain, &len) == -1,
       "tampered nonce refused");
    ok(secauth_unseal(p, key, tampered(p, sealed, 12), "user:42", &plain, &len) == -1,
       "tampered ciphertext refused");
    ok(secauth_unseal(p, key, tampered(p, sealed, 47), "user:42", &plain, &len) == -1,
       "tampered tag refused");

    sealed = secauth_seal(p, key, (const unsigned char *)secret, 20, NULL);
    ok(secauth_unseal(p, key, sealed, NULL, &plain, &len) == 0 && len == 20,
       "roundtrip without aad");
    ok(secauth_unseal(p, key, sealed, "user:42", &plain, &len) == -1,
       "sealed without aad does not open with one");

    sealed = secauth_seal(p, key, NULL, 0, "ctx");
    ok(secauth_unseal(p, key, sealed, "ctx", &plain, &len) == 0 && len == 0,
       "empty plaintext roundtrip");

    ok(secauth_unseal(p, key, NULL, NULL, &plain, &len) == -1, "NULL refused");
    ok(secauth_unseal(p, key, "", NULL, &plain, &len) == -1, "empty string refused");
    ok(secauth_unseal(p, key, "v1.", NULL, &plain, &len) == -1, "prefix alone refused");
    ok(secauth_unseal(p, key, "v2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, &plain, &len) == -1,
       "unknown version refused");
    ok(secauth_unseal(p, key, "v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, &plain, &len) == -1,
       "shorter than nonce and tag refused");
    ok(secauth_unseal(p, key, "v1.not base64!", NULL, &plain, &len) == -1, "junk refused");
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&p, NULL);

    test_b64url(p);
    test_hex_hmac_compare(p);
    test_seal(p);

    apr_pool_destroy(p);
    return done_testing();
}
