/* test_totp.c — unit tests of totp.c: RFC 6238 vectors, the step window, code syntax, Base32
 * and the otpauth URI that authenticator apps read. */
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "tap.h"
#include "totp.h"

/* The RFC 6238 appendix B SHA1 key. */
static const unsigned char rfc_secret[] = "12345678901234567890";
#define RFC_SECRET_LEN 20

static void test_rfc6238_vectors(apr_pool_t *p)
{
    /* Appendix B lists 8-digit codes; a 6-digit code is their last six digits. */
    static const struct { long long time; const char *code; } vectors[] = {
        { 59, "287082" },
        { 1111111109, "081804" },
        { 1111111111, "050471" },
        { 1234567890, "005924" },
        { 2000000000, "279037" },
    };
    size_t i;

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        apr_time_t now = apr_time_from_sec(vectors[i].time);
        long long step = secauth_totp_step(now);
        long long matched = -1;

        is_int(step, vectors[i].time / 30, "step of t=%lld", vectors[i].time);
        is_str(secauth_totp_code(p, rfc_secret, RFC_SECRET_LEN, step), vectors[i].code,
               "code at t=%lld", vectors[i].time);
        ok(secauth_totp_verify(rfc_secret, RFC_SECRET_LEN, vectors[i].code, now, 0, &matched),
           "verify at t=%lld with skew 0", vectors[i].time);
        is_int(matched, step, "matched step at t=%lld", vectors[i].time);
    }
}

static void test_window(apr_pool_t *p)
{
    long long step = secauth_totp_step(apr_time_from_sec(1111111111));
    const char *code = secauth_totp_code(p, rfc_secret, RFC_SECRET_LEN, step);
    long long matched;

    matched = -1;
    ok(secauth_totp_verify(rfc_secret, RFC_SECRET_LEN, code,
                           apr_time_from_sec((step + 1) * 30), 1, &matched),
       "code of the previous step accepted with skew 1");
    is_int(matched, step, "reports the step the code belongs to, not the current one");

    matched = -1;
    ok(secauth_totp_verify(rfc_secret, RFC_SECRET_LEN, code,
                           apr_time_from_sec((step - 1) * 30 + 29), 1, &matched),
       "code of the next step accepted with skew 1");
    is_int(matched, step, "reports the next step");

    ok(!secauth_totp_verify(rfc_secret, RFC_SECRET_LEN, code,
                            apr_time_from_sec((step + 2) * 30), 1, &matched),
       "code two steps old refused with skew 1");
    ok(!secauth_totp_verify(rfc_secret, RFC_SECRET_LEN, code,
                            apr_time_from_sec((step - 2) * 30), 1, &matched),
       "code two steps ahead refused with skew 1");
    ok(!secauth_totp_verify(rfc_secret, RFC_SECRET_LEN, code,
                            apr_time_from_sec((step + 1) * 30), 0, &matched),
       "code of the previous step refused with skew 0");
    ok(secauth_totp_verify(rfc_secret, RFC_SECRET_LEN, code,
                           apr_time_from_sec((step + 2) * 30), 2, &matched),
       "code two steps old accepted with skew 2");
    ok(secauth_totp_verify(rfc_secret, RFC_SECRET_LEN, code,
                           apr_time_from_sec(step * 30 + 15), 1, NULL),
       "matched_step may be NULL");
}

static void test_code_syntax(void)
{
    apr_time_t now = apr_time_from_sec(1111111111);
    static const char *const bad[] = { "12345", "1234567", "12a456", "", " 50471", "050471 ",
                                       "+50471",
                                       "\xef\xbc\x90" "50471" /* full-width zero */ };
    long long matched = 42;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ok(!secauth_totp_verify(rfc_secret, RFC_SECRET_LEN, bad[i], now, 1, &matched),
           "refuses code '%s'", bad[i]);
    ok(!secauth_totp_verify(rfc_secret, RFC_SECRET_LEN, NULL, now, 1, &matched),
       "refuses a NULL code");
    is_int(matched, 42, "matched_step untouched on failure");
    ok(!secauth_totp_verify(rfc_secret, RFC_SECRET_LEN, "050472", now, 1, &matched),
       "refuses a wrong code");
    ok(!secauth_totp_verify(rfc_secret, 0, "050471", now, 1, &matched),
       "refuses an empty secret");
    ok(!secauth_totp_verify(NULL, RFC_SECRET_LEN, "050471", now, 1, &matched),
       "refuses a NULL secret");
}

static void test_base32(apr_pool_t *p)
{
    unsigned char random_like[RFC_SECRET_LEN];
    unsigned char *decoded = NULL;
    apr_size_t decoded_len = 0;
    const char *encoded;
    size_t i;

    for (i = 0; i < sizeof(random_like); i++)
        random_like[i] = (unsigned char)(i * 37 + 11);

    encoded = secauth_base32_encode(p, rfc_secret, RFC_SECRET_LEN);
    is_str(encoded, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "Base32 of the RFC secret");

    encoded = secauth_base32_encode(p, random_like, sizeof(random_like));
    is_int(strlen(encoded), 32, "20 bytes give 32 characters");
    ok(secauth_base32_decode(p, encoded, &decoded, &decoded_len) == 0, "decodes");
    is_int(decoded_len, sizeof(random_like), "roundtrip length");
    ok(decoded && memcmp(decoded, random_like, sizeof(random_like)) == 0, "roundtrip bytes");

    is_str(secauth_base32_encode(p, (const unsigned char *)"foobar", 6), "MZXW6YTBOI",
           "no padding in the output");

    decoded = NULL;
    ok(secauth_base32_decode(p, "mzxw6ytboi", &decoded, &decoded_len) == 0,
       "lower case decodes");
    ok(decoded_len == 6 && memcmp(decoded, "foobar", 6) == 0, "lower case gives the bytes");

    decoded = NULL;
    ok(secauth_base32_decode(p, "MZXW6YTBOI======", &decoded, &decoded_len) == 0,
       "padded input decodes");
    ok(decoded_len == 6 && memcmp(decoded, "foobar", 6) == 0, "padded input gives the bytes");

    decoded = NULL;
    ok(secauth_base32_decode(p, "gezd gnbv gy3t qojq gezd gnbv gy3t qojq", &decoded,
                             &decoded_len) == 0, "grouped with spaces decodes");
    ok(decoded_len == RFC_SECRET_LEN && memcmp(decoded, rfc_secret, RFC_SECRET_LEN) == 0,
       "grouped with spaces gives the bytes");

    ok(secauth_base32_decode(p, "MZXW1YTBOI", &decoded, &decoded_len) != 0,
       "refuses a character outside the alphabet");
    ok(secauth_base32_decode(p, "MZX", &decoded, &decoded_len) != 0,
       "refuses an impossible length");
    ok(secauth_base32_decode(p, NULL, &decoded, &decoded_len) != 0, "refuses NULL");
}

static void test_otpauth_uri(apr_pool_t *p)
{
    const char *b32 = secauth_base32_encode(p, rfc_secret, RFC_SECRET_LEN);

    is_str(secauth_otpauth_uri(p, "SecAuth", "testuser", b32),
           "otpauth://totp/SecAuth:testuser?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
           "&issuer=SecAuth&algorithm=SHA1&digits=6&period=30",
           "otpauth URI for testuser");
    is_str(secauth_otpauth_uri(p, "SecAuth", "a b@c+d", b32),
           "otpauth://totp/SecAuth:a%20b%40c%2Bd?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
           "&issuer=SecAuth&algorithm=SHA1&digits=6&period=30",
           "account percent-encoded");
    is_str(secauth_otpauth_uri(p, "My Co:&=", "x.y_z-~", b32),
           "otpauth://totp/My%20Co%3A%26%3D:x.y_z-~?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
           "&issuer=My%20Co%3A%26%3D&algorithm=SHA1&digits=6&period=30",
           "issuer percent-encoded, unreserved characters kept");
    is_str(secauth_otpauth_uri(p, "SecAuth", "\xc3\xa9", b32),
           "otpauth://totp/SecAuth:%C3%A9?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
           "&issuer=SecAuth&algorithm=SHA1&digits=6&period=30",
           "UTF-8 bytes encoded with upper-case hex");
}

int main(void)
{
    apr_pool_t *pool;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    ok(secauth_totp_init() == 0, "secauth_totp_init");

    test_rfc6238_vectors(pool);
    test_window(pool);
    test_code_syntax();
    test_base32(pool);
    test_otpauth_uri(pool);

    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
