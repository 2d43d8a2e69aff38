/* test_token.c — unit tests of token.c: key loading, issue/verify round trips for HS256, RS256
 * and ES256, every rejection API.md §4 lists, hostile inputs, the JWKS document, and a
 * cross-check against an independent implementation (Perl's Crypt::JWT) in both directions. */
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto.h"
#include "tap.h"
#include "token.h"

#define ISSUER   "https://api.example.com"
#define AUDIENCE "products-api"
#define LIFETIME 600
#define SKEW     30
/* A fixed clock keeps the time tests exact. */
#define T0       1700000000
#define NOW      apr_time_from_sec(T0)

static apr_pool_t *pool;
static char key_dir[] = "/tmp/test_token.XXXXXX";

/* The loaded keys every test shares. */
static secauth_key_t hs1, hs2, rs1, rs2, es1, es2, rs_pub;

static const char *key_path(const char *name)
{
    return apr_pstrcat(pool, key_dir, "/", name, NULL);
}

static int run(const char *fmt, ...)
{
    va_list ap;
    char *cmd;

    va_start(ap, fmt);
    cmd = apr_pvsprintf(pool, fmt, ap);
    va_end(ap);
    return system(cmd) == 0;
}

/* Reads the first line a command prints (without its newline); NULL when it fails. */
static const char *run_output(const char *cmd)
{
    char line[8192];
    FILE *f = popen(cmd, "r");
    char *got = NULL;

    if (!f) {
        return NULL;
    }
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        got = apr_pstrdup(pool, line);
    }
    return pclose(f) == 0 ? got : NULL;
}

static int write_file(const char *name, const char *text)
{
    FILE *f = fopen(key_path(name), "w");
    int good = f && fputs(text, f) >= 0;

    return (f && fclose(f) == 0) && good;
}

static int make_key_files(void)
{
    const char *d = key_dir;

    return run("head -c 48 /dev/urandom > %s/hs1.key", d)
        && run("head -c 32 /dev/urandom > %s/hs2.key", d)
        && run("printf %%s 0123456789abcdef0123456789abcde > %s/hs_short.key", d)
        && run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s/rs1.pem "
               "2>/dev/null", d)
        && run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s/rs2.pem "
               "2>/dev/null", d)
        && run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out %s/rs1024.pem "
               "2>/dev/null", d)
        && run("openssl pkey -in %s/rs1.pem -pubout -out %s/rs1.pub 2>/dev/null", d, d)
        && run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s/es1.pem "
               "2>/dev/null", d)
        && run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s/es2.pem "
               "2>/dev/null", d)
        && run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out %s/es384.pem "
               "2>/dev/null", d)
        && run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes256 "
               "-pass pass:secret -out %s/encrypted.pem 2>/dev/null", d);
}

static const char *load(secauth_alg_e alg, const char *file, const char *kid, secauth_key_t *key)
{
    return secauth_key_load(pool, alg, key_path(file), kid, key);
}

static void test_key_loading(void)
{
    secauth_key_t k;
    const char *err;

    is_str(load(SECAUTH_ALG_HS256, "hs1.key", "h1", &hs1), NULL, "HS256 key of 48 bytes loads");
    is_int(hs1.key_len, 48, "HS256 key is the file's raw bytes");
    ok(hs1.can_sign && !hs1.public_pem, "HS256 key signs and has no public part");
    is_str(load(SECAUTH_ALG_HS256, "hs2.key", "h2", &hs2), NULL, "HS256 key of 32 bytes loads");
    is_str(load(SECAUTH_ALG_HS256, "hs_short.key", "x", &k),
           "HS256 key must be at least 32 bytes, found 31", "HS256 key of 31 bytes refused");
    err = load(SECAUTH_ALG_HS256, "missing.key", "x", &k);
    ok(err && strstr(err, "cannot open"), "missing key file named as such: %s", err);

    is_str(load(SECAUTH_ALG_RS256, "rs1.pem", "r1", &rs1), NULL, "RSA 2048 private key loads");
    ok(rs1.can_sign, "RSA private key can sign");
    ok(rs1.public_pem && strstr((const char *)rs1.public_pem, "BEGIN PUBLIC KEY"),
       "public PEM derived from the RSA private key");
    is_int(rs1.public_len, strlen((const char *)rs1.public_pem), "public_len is the PEM length");
    is_str(load(SECAUTH_ALG_RS256, "rs2.pem", "r2", &rs2), NULL, "second RSA key loads");
    is_str(load(SECAUTH_ALG_RS256, "rs1.pub", "r1", &rs_pub), NULL, "RSA public key loads");
    ok(!rs_pub.can_sign, "a public key verifies only");
    is_str((const char *)rs_pub.public_pem, (const char *)rs1.public_pem,
           "public key file gives the same public PEM");
    is_str(load(SECAUTH_ALG_RS256, "rs1024.pem", "x", &k),
           "RSA key must be at least 2048 bits, found 1024", "RSA 1024 refused");
    is_str(load(SECAUTH_ALG_RS256, "es1.pem", "x", &k), "RS256 needs an RSA key",
           "EC key refused for RS256");
    err = load(SECAUTH_ALG_RS256, "encrypted.pem", "x", &k);
    ok(err && strstr(err, "encrypted"), "encrypted PEM refused without a prompt: %s", err);
    err = load(SECAUTH_ALG_RS256, "hs1.key", "x", &k);
    ok(err != NULL, "random bytes are not a PEM key: %s", err ? err : "(none)");

    is_str(load(SECAUTH_ALG_ES256, "es1.pem", "e1", &es1), NULL, "P-256 private key loads");
    ok(es1.can_sign && es1.public_pem, "P-256 key signs and has a public PEM");
    is_str(load(SECAUTH_ALG_ES256, "es2.pem", "e2", &es2), NULL, "second P-256 key loads");
    is_str(load(SECAUTH_ALG_ES256, "es384.pem", "x", &k), "ES256 needs an EC key on curve P-256",
           "P-384 key refused for ES256");
    is_str(load(SECAUTH_ALG_ES256, "rs1.pem", "x", &k), "ES256 needs an EC key on curve P-256",
           "RSA key refused for ES256");
}

static void test_alg_names(void)
{
    secauth_alg_e alg = SECAUTH_ALG_HS256;

    is_str(secauth_alg_name(SECAUTH_ALG_RS256), "RS256", "name of RS256");
    is_int(secauth_alg_parse("ES256", &alg), 0, "ES256 parses");
    is_int(alg, SECAUTH_ALG_ES256, "to ES256");
    is_int(secauth_alg_parse("es256", &alg), -1, "names are case-sensitive");
    is_int(secauth_alg_parse("none", &alg), -1, "none is not an algorithm here");
    is_int(secauth_alg_parse(NULL, &alg), -1, "NULL name");
}

/* ---- helpers for the token tests ---- */

static secauth_token_config_t config_of(secauth_alg_e alg, const secauth_key_t *first,
                                        const secauth_key_t *second)
{
    secauth_token_config_t cfg;

    cfg.alg = alg;
    cfg.keys = apr_array_make(pool, 2, sizeof(secauth_key_t));
    *(secauth_key_t *)apr_array_push(cfg.keys) = *first;
    if (second) {
        *(secauth_key_t *)apr_array_push(cfg.keys) = *second;
    }
    cfg.issuer = ISSUER;
    cfg.audience = AUDIENCE;
    cfg.lifetime = LIFETIME;
    cfg.clock_skew = SKEW;
    return cfg;
}

/* "ok" or the error description, so failures print what went wrong. */
static const char *verdict(const secauth_token_config_t *cfg, secauth_token_kind_e kind,
                           const char *token, apr_time_t now)
{
    secauth_claims_t claims;
    const char *why = NULL;

    return secauth_token_verify(pool, cfg, kind, token, now, &claims, &why) == 0 ? "ok" : why;
}

static const char *issue_at(const secauth_token_config_t *cfg, secauth_token_kind_e kind,
                            apr_time_t now)
{
    return secauth_token_issue(pool, cfg, kind, "7", "alice",
                               kind == SECAUTH_TOKEN_ACCESS ? "editor" : NULL, 0, now, NULL);
}

static const char *b64(const char *text)
{
    return secauth_b64url_encode(pool, (const unsigned char *)text, strlen(text));
}

/* The JSON object in part `index` (0 header, 1 payload) of a token; NULL on failure. */
static json_t *token_part(const char *token, int index)
{
    const char *start = token, *dot;
    unsigned char *raw;
    apr_size_t raw_len;

    while (index-- > 0 && (start = strchr(start, '.'))) {
        start++;
    }
    if (!start || !(dot = strchr(start, '.'))
        || secauth_b64url_decode(pool, start, (apr_size_t)(dot - start), &raw, &raw_len) != 0) {
        return NULL;
    }
    return json_loadb((const char *)raw, raw_len, 0, NULL);
}

/* Signs header.payload with HMAC-SHA256 here, independently of token.c, so the tests can
 * build any header and any claims. */
static const char *hs256_token(const unsigned char *secret, apr_size_t len,
                               const char *header, const char *payload)
{
    const char *input = apr_pstrcat(pool, b64(header), ".", b64(payload), NULL);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;

    HMAC(EVP_sha256(), secret, (int)len, (const unsigned char *)input, strlen(input),
         mac, &mac_len);
    return apr_pstrcat(pool, input, ".", secauth_b64url_encode(pool, mac, mac_len), NULL);
}

#define HS_HEADER "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"h1\"}"

/* Valid access-token claims at T0, with `name` replaced by the JSON text `value`
 * (or removed when value is NULL). */
static const char *claims_with(const char *name, const char *value)
{
    json_t *claims = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}",
                               "iss", ISSUER, "aud", AUDIENCE, "sub", "7",
                               "preferred_username", "alice", "role", "editor",
                               "iat", (json_int_t)T0, "nbf", (json_int_t)T0,
                               "exp", (json_int_t)T0 + LIFETIME, "jti", "0123abcd");
    char *text;
    const char *copy;

    if (name && value) {
        json_object_set_new(claims, name, json_loads(value, JSON_DECODE_ANY, NULL));
    }
    else if (name) {
        json_object_del(claims, name);
    }
    text = json_dumps(claims, JSON_COMPACT);
    copy = apr_pstrdup(pool, text);
    free(text);
    json_decref(claims);
    return copy;
}

static const char *hs_custom(const char *header, const char *payload)
{
    return hs256_token(hs1.key, hs1.key_len, header, payload);
}

/* ---- round trips ---- */

static void test_round_trip(secauth_alg_e alg, const secauth_key_t *key)
{
    secauth_token_config_t cfg = config_of(alg, key, NULL);
    const char *name = secauth_alg_name(alg);
    secauth_claims_t issued, got;
    const char *token, *why = NULL;
    json_t *header;

    token = secauth_token_issue(pool, &cfg, SECAUTH_TOKEN_ACCESS, "7", "alice", "editor", 0, NOW,
                                &issued);
    ok(token != NULL, "%s access token issued", name);
    is_int(issued.exp, T0 + LIFETIME, "%s exp = iat + lifetime", name);
    is_int(strlen(issued.jti), 32, "%s jti is 128 bits of hex", name);
    header = token_part(token, 0);
    is_str(json_string_value(json_object_get(header, "typ")), "at+jwt", "%s header typ", name);
    is_str(json_string_value(json_object_get(header, "kid")), key->kid, "%s header kid", name);
    is_str(json_string_value(json_object_get(header, "alg")), name, "%s header alg", name);
    json_decref(header);

    memset(&got, 0, sizeof(got));
    is_int(secauth_token_verify(pool, &cfg, SECAUTH_TOKEN_ACCESS, token, NOW, &got, &why), 0,
           "%s access token verifies", name);
    is_str(got.sub, "7", "%s sub", name);
    is_str(got.preferred_username, "alice", "%s preferred_username", name);
    is_str(got.role, "editor", "%s role", name);
    is_str(got.jti, issued.jti, "%s jti", name);
    ok(got.iat == T0 && got.nbf == T0 && got.exp == T0 + LIFETIME, "%s times", name);
    is_int(got.gen, 0, "%s gen 0 for a new account", name);
    is_str(verdict(&cfg, SECAUTH_TOKEN_ENROLL, token, NOW), "invalid token type",
           "%s access token refused as an enrolment token", name);

    token = secauth_token_issue(pool, &cfg, SECAUTH_TOKEN_ACCESS, "7", "alice", "editor", 41,
                                NOW, &issued);
    memset(&got, 0, sizeof(got));
    ok(token && secauth_token_verify(pool, &cfg, SECAUTH_TOKEN_ACCESS, token, NOW, &got, &why) == 0
       && got.gen == 41 && issued.gen == 41, "%s gen carried through the token", name);
    ok(secauth_token_issue(pool, &cfg, SECAUTH_TOKEN_ACCESS, "7", "alice", "editor", -1, NOW,
                           NULL) == NULL, "%s a negative generation is not issued", name);

    token = secauth_token_issue(pool, &cfg, SECAUTH_TOKEN_ENROLL, "7", "alice", NULL, 0, NOW,
                                &issued);
    ok(token != NULL, "%s enrolment token issued", name);
    header = token_part(token, 0);
    is_str(json_string_value(json_object_get(header, "typ")), "enroll+jwt",
           "%s enrolment header typ", name);
    json_decref(header);
    header = token_part(token, 1);
    is_str(json_string_value(json_object_get(header, "scope")), "enroll", "%s scope", name);
    ok(!json_object_get(header, "role"), "%s enrolment token has no role", name);
    json_decref(header);
    is_str(verdict(&cfg, SECAUTH_TOKEN_ENROLL, token, NOW), "ok",
           "%s enrolment token verifies", name);
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, token, NOW), "invalid token type",
           "%s enrolment token refused as an access token", name);

    ok(secauth_token_issue(pool, &cfg, SECAUTH_TOKEN_ACCESS, "7", "alice", NULL, 0, NOW, NULL)
       == NULL, "%s access token needs a role", name);
    ok(secauth_token_issue(pool, &cfg, SECAUTH_TOKEN_ACCESS, "0", "alice", "editor", 0, NOW, NULL)
       == NULL, "%s sub must be a positive id", name);
}

/* Flips one character of the signature or the payload: either must fail. */
static void test_tampering(secauth_alg_e alg, const secauth_key_t *key)
{
    secauth_token_config_t cfg = config_of(alg, key, NULL);
    const char *name = secauth_alg_name(alg);
    const char *token = issue_at(&cfg, SECAUTH_TOKEN_ACCESS, NOW);
    char *copy = apr_pstrdup(pool, token);
    char *sig = strrchr(copy, '.') + 1;
    const char *payload = b64(claims_with("role", "\"admin\""));
    const char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.');

    sig[2] = sig[2] == 'A' ? 'B' : 'A';
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, copy, NOW), "invalid signature",
           "%s altered signature refused", name);
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   apr_pstrcat(pool, apr_pstrmemdup(pool, token, (apr_size_t)(dot1 - token)),
                               ".", payload, dot2, NULL), NOW),
           "invalid signature", "%s replaced payload (role admin) refused", name);
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   apr_pstrmemdup(pool, token, (apr_size_t)(dot2 - token) + 1), NOW),
           "invalid signature", "%s empty signature refused", name);
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, apr_pstrcat(pool, token, "AAAA", NULL), NOW),
           "invalid signature", "%s lengthened signature refused", name);
}

/* ---- rejections ---- */

static void test_times(void)
{
    secauth_token_config_t cfg = config_of(SECAUTH_ALG_HS256, &hs1, NULL);
    const char *token = issue_at(&cfg, SECAUTH_TOKEN_ACCESS, NOW);

    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, token, apr_time_from_sec(T0 + LIFETIME + 10)),
           "ok", "expired 10 s ago, within the 30 s skew: accepted");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, token, apr_time_from_sec(T0 + LIFETIME + SKEW)),
           "token expired", "expired exactly by the skew: refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, token, apr_time_from_sec(T0 + 5000)),
           "token expired", "long expired: refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, token, apr_time_from_sec(T0 - 20)), "ok",
           "issued 20 s in the future, within skew: accepted");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, token, apr_time_from_sec(T0 - 100)),
           "token not yet valid", "nbf 100 s in the future: refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom(HS_HEADER, claims_with("nbf", NULL)), apr_time_from_sec(T0 - 100)),
           "token issued in the future", "iat 100 s in the future (no nbf): refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, hs_custom(HS_HEADER, claims_with("nbf", NULL)),
                   NOW), "ok", "nbf is optional");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom(HS_HEADER, claims_with("exp", "1700000600.5")), NOW), "ok",
           "exp as a real number accepted");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom(HS_HEADER, claims_with("exp", "\"1700000600\"")), NOW),
           "invalid exp claim", "exp as a string refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, hs_custom(HS_HEADER, claims_with("exp", NULL)),
                   NOW), "invalid exp claim", "missing exp refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, hs_custom(HS_HEADER, claims_with("exp", "true")),
                   NOW), "invalid exp claim", "exp true refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, hs_custom(HS_HEADER, claims_with("iat", NULL)),
                   NOW), "invalid iat claim", "missing iat refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom(HS_HEADER, claims_with("nbf", "\"0\"")), NOW),
           "invalid nbf claim", "nbf as a string refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom(HS_HEADER, claims_with("exp", "-9223372036854775808")), NOW),
           "token expired", "smallest 64-bit exp: expired, no overflow");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom(HS_HEADER, claims_with("nbf", "9223372036854775807")), NOW),
           "token not yet valid", "largest 64-bit nbf: not yet valid, no overflow");
}

static void test_issuer_audience(void)
{
    secauth_token_config_t cfg = config_of(SECAUTH_ALG_HS256, &hs1, NULL);
    secauth_token_config_t other = cfg;
    const char *token = issue_at(&cfg, SECAUTH_TOKEN_ACCESS, NOW);

    other.issuer = "https://evil.example.com";
    is_str(verdict(&other, SECAUTH_TOKEN_ACCESS, token, NOW), "invalid issuer", "wrong iss");
    other = cfg;
    other.audience = "other-api";
    is_str(verdict(&other, SECAUTH_TOKEN_ACCESS, token, NOW), "invalid audience", "wrong aud");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, hs_custom(HS_HEADER, claims_with("iss", NULL)),
                   NOW), "invalid issuer", "missing iss");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, hs_custom(HS_HEADER, claims_with("aud", NULL)),
                   NOW), "invalid audience", "missing aud");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom(HS_HEADER, claims_with("aud", "[\"a\", \"" AUDIENCE "\"]")), NOW),
           "ok", "aud array containing the audience accepted");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom(HS_HEADER, claims_with("aud", "[\"a\", 1, null]")), NOW),
           "invalid audience", "aud array without it refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom(HS_HEADER, claims_with("aud", "{\"x\":\"" AUDIENCE "\"}")), NOW),
           "invalid audience", "aud object refused");
}

static void test_identity_claims(void)
{
    secauth_token_config_t cfg = config_of(SECAUTH_ALG_HS256, &hs1, NULL);
    static const char *bad_subs[] = { "7", "\"0\"", "\"07\"", "\"-7\"", "\"7a\"", "\"\"",
                                      "\"2147483648\"", "null" };
    apr_size_t i;

    for (i = 0; i < sizeof(bad_subs) / sizeof(bad_subs[0]); i++) {
        is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                       hs_custom(HS_HEADER, claims_with("sub", bad_subs[i])), NOW),
               "invalid sub claim", "sub %s refused", bad_subs[i]);
    }
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom(HS_HEADER, claims_with("sub", "\"2147483647\"")), NOW), "ok",
           "sub 2147483647 accepted");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, hs_custom(HS_HEADER, claims_with("jti", "\"\"")),
                   NOW), "invalid jti claim", "empty jti refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, hs_custom(HS_HEADER, claims_with("role", "1")),
                   NOW), "invalid role claim", "role not a string refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom(HS_HEADER, claims_with("preferred_username", NULL)), NOW),
           "invalid preferred_username claim", "missing preferred_username refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ENROLL,
                   hs_custom("{\"alg\":\"HS256\",\"typ\":\"enroll+jwt\",\"kid\":\"h1\"}",
                             claims_with("scope", "\"admin\"")), NOW),
           "invalid scope", "enrolment token without scope enroll refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, hs_custom(HS_HEADER, claims_with("gen", "\"1\"")),
                   NOW), "invalid gen claim", "gen as a string refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, hs_custom(HS_HEADER, claims_with("gen", "-1")),
                   NOW), "invalid gen claim", "negative gen refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, hs_custom(HS_HEADER, claims_with("gen", "1.5")),
                   NOW), "invalid gen claim", "fractional gen refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, hs_custom(HS_HEADER, claims_with("gen", NULL)),
                   NOW), "ok", "a token without gen (issued before it existed) accepted");
}

static void test_header_rules(void)
{
    secauth_token_config_t cfg = config_of(SECAUTH_ALG_HS256, &hs1, NULL);
    secauth_token_config_t two = config_of(SECAUTH_ALG_HS256, &hs1, &hs2);
    secauth_token_config_t rs = config_of(SECAUTH_ALG_RS256, &rs1, NULL);
    const char *claims = claims_with(NULL, NULL);
    static const char *nones[] = { "none", "None", "NONE", "nOnE" };
    apr_size_t i;

    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, hs_custom(HS_HEADER, claims), NOW), "ok",
           "hand-built HS256 token accepted (the rejections below are meaningful)");
    for (i = 0; i < sizeof(nones) / sizeof(nones[0]); i++) {
        const char *header = apr_psprintf(pool, "{\"alg\":\"%s\",\"typ\":\"at+jwt\","
                                          "\"kid\":\"h1\"}", nones[i]);
        const char *token = apr_pstrcat(pool, b64(header), ".", b64(claims), ".", NULL);
        is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, token, NOW), "unsupported algorithm",
               "alg %s refused (HS256 configured)", nones[i]);
        is_str(verdict(&rs, SECAUTH_TOKEN_ACCESS, token, NOW), "unsupported algorithm",
               "alg %s refused (RS256 configured)", nones[i]);
    }
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom("{\"alg\":\"HS512\",\"typ\":\"at+jwt\",\"kid\":\"h1\"}", claims),
                   NOW), "unsupported algorithm", "alg HS512 refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom("{\"alg\":[\"HS256\"],\"typ\":\"at+jwt\",\"kid\":\"h1\"}", claims),
                   NOW), "unsupported algorithm", "alg as an array refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom("{\"typ\":\"at+jwt\",\"kid\":\"h1\"}", claims), NOW),
           "unsupported algorithm", "missing alg refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"h1\","
                             "\"crit\":[\"exp\"]}", claims), NOW),
           "critical header not supported", "crit header refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"h1\"}", claims), NOW),
           "invalid token type", "typ JWT refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom("{\"alg\":\"HS256\",\"kid\":\"h1\"}", claims), NOW),
           "invalid token type", "missing typ refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"nope\"}", claims),
                   NOW), "unknown key id", "unknown kid refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":1}", claims), NOW),
           "unknown key id", "numeric kid refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", claims), NOW), "ok",
           "missing kid accepted with exactly one key");
    is_str(verdict(&two, SECAUTH_TOKEN_ACCESS,
                   hs_custom("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", claims), NOW),
           "unknown key id", "missing kid refused with two keys");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"h1\","
                             "\"jku\":\"http://127.0.0.1:1/jwks\",\"x5u\":\"http://127.0.0.1:1/\","
                             "\"jwk\":{\"kty\":\"oct\",\"k\":\"AAAA\"}}", claims), NOW),
           "ok", "jku, x5u and jwk are ignored");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom("{\"alg\":\"HS256\",\"alg\":\"none\",\"typ\":\"at+jwt\"}", claims),
                   NOW), "malformed token", "duplicate header member refused");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom(HS_HEADER, "{\"exp\":1,\"exp\":9999999999}"), NOW),
           "malformed token", "duplicate claim refused");
    /* The same key under another kid: the kid must match, not just the signature. */
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   hs_custom("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"H1\"}", claims),
                   NOW), "unknown key id", "kid compared exactly");
}

/* An attacker who knows the RS256 public key signs HS256 with its PEM as the secret. */
static void test_alg_confusion(void)
{
    secauth_token_config_t rs = config_of(SECAUTH_ALG_RS256, &rs1, NULL);
    const char *claims = claims_with(NULL, NULL);

    is_str(verdict(&rs, SECAUTH_TOKEN_ACCESS,
                   hs256_token(rs1.public_pem, rs1.public_len,
                               "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"r1\"}", claims),
                   NOW), "unsupported algorithm", "HS256 signed with the RSA public PEM refused");
    is_str(verdict(&rs, SECAUTH_TOKEN_ACCESS,
                   hs256_token(rs1.public_pem, rs1.public_len,
                               "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"r1\"}", claims),
                   NOW), "invalid signature", "HMAC under an RS256 header refused");
}

static void test_rotation(secauth_alg_e alg, const secauth_key_t *old_key,
                          const secauth_key_t *new_key)
{
    secauth_token_config_t both = config_of(alg, old_key, new_key);
    secauth_token_config_t signs_new = config_of(alg, new_key, old_key);
    secauth_token_config_t only_old = config_of(alg, old_key, NULL);
    const char *name = secauth_alg_name(alg);
    const char *old_token = issue_at(&only_old, SECAUTH_TOKEN_ACCESS, NOW);
    const char *new_token = issue_at(&signs_new, SECAUTH_TOKEN_ACCESS, NOW);

    is_str(verdict(&both, SECAUTH_TOKEN_ACCESS, new_token, NOW), "ok",
           "%s token of the second key verifies while both are configured", name);
    is_str(verdict(&signs_new, SECAUTH_TOKEN_ACCESS, old_token, NOW), "ok",
           "%s old token still verifies after the new key signs", name);
    is_str(verdict(&only_old, SECAUTH_TOKEN_ACCESS, new_token, NOW), "unknown key id",
           "%s token of an unconfigured key refused", name);
}

/* The second key under the first key's kid: the signature must not verify. */
static void test_wrong_key(secauth_alg_e alg, const secauth_key_t *key, secauth_key_t other)
{
    secauth_token_config_t signer, verifier = config_of(alg, key, NULL);

    other.kid = key->kid;
    signer = config_of(alg, &other, NULL);
    is_str(verdict(&verifier, SECAUTH_TOKEN_ACCESS, issue_at(&signer, SECAUTH_TOKEN_ACCESS, NOW),
                   NOW), "invalid signature", "%s token of another key under the same kid refused",
           secauth_alg_name(alg));
}

static void test_public_only(void)
{
    secauth_token_config_t cfg = config_of(SECAUTH_ALG_RS256, &rs_pub, NULL);
    secauth_token_config_t signer = config_of(SECAUTH_ALG_RS256, &rs1, NULL);

    ok(issue_at(&cfg, SECAUTH_TOKEN_ACCESS, NOW) == NULL, "a public key cannot issue");
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, issue_at(&signer, SECAUTH_TOKEN_ACCESS, NOW), NOW),
           "ok", "a public key verifies its private key's token");
}

static void test_garbage(void)
{
    secauth_token_config_t cfg = config_of(SECAUTH_ALG_HS256, &hs1, NULL);
    secauth_token_config_t es = config_of(SECAUTH_ALG_ES256, &es1, NULL);
    const char *claims = b64(claims_with(NULL, NULL));
    static const char *junk[] = { "", ".", "..", "...", "a.b", "a.b.c.d", "a.b.c", "a..c",
                                  ".b.c", "a b.c.d", "eyJ=.eyJ.abc", "\xff\xfe.\x01.\x02",
                                  "Bearer x.y.z" };
    static const char *headers[] = {
        "[1]", "\"str\"", "null", "1", "{", "{\"alg\":\"HS256\\u0000\",\"typ\":\"at+jwt\"}",
        "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"h1\\u0000x\"}",
        "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"} trailing"
    };
    static const char *payloads[] = {
        "[]", "\"x\"", "{\"exp\":1e400}", "{\"exp\":99999999999999999999999}", "{\"exp\":NaN}"
    };
    char *big = apr_palloc(pool, 10 * 1024 + 1);
    char raw_nul[] = "{\"alg\":\"HS256\"\0,\"typ\":\"at+jwt\"}";
    apr_size_t i;

    for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, junk[i], NOW), "malformed token",
               "junk token %zu refused", i);
    }
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, NULL, NOW), "malformed token", "NULL token");
    memset(big, 'A', 10 * 1024);
    big[10 * 1024] = '\0';
    big[100] = big[200] = '.';
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, big, NOW), "token too large", "10 KB refused");
    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, hs_custom(headers[i], claims_with(NULL, NULL)),
                       NOW), "malformed token", "header %s refused", headers[i]);
    }
    is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS,
                   apr_pstrcat(pool, secauth_b64url_encode(pool, (unsigned char *)raw_nul,
                                                           sizeof(raw_nul) - 1),
                               ".", claims, ".AAAA", NULL), NOW),
           "malformed token", "raw NUL byte inside the header JSON refused");
    for (i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        is_str(verdict(&cfg, SECAUTH_TOKEN_ACCESS, hs_custom(HS_HEADER, payloads[i]), NOW),
               "malformed token", "payload %s refused", payloads[i]);
    }
    is_str(verdict(&es, SECAUTH_TOKEN_ACCESS,
                   apr_pstrcat(pool, b64("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"e1\"}"),
                               ".", claims, ".", b64("short"), NULL), NOW),
           "invalid signature", "ES256 signature of the wrong length refused");
    is_str(verdict(&es, SECAUTH_TOKEN_ACCESS,
                   apr_pstrcat(pool, b64("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"e1\"}"),
                               ".", claims, ".",
                               secauth_b64url_encode(pool, (const unsigned char *)
                                                     "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                                                     "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                                                     "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                                                     "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 64),
                               NULL), NOW),
           "invalid signature", "ES256 all-zero signature refused");
}

static void test_jwks(void)
{
    secauth_token_config_t rs = config_of(SECAUTH_ALG_RS256, &rs1, &rs2);
    secauth_token_config_t es = config_of(SECAUTH_ALG_ES256, &es1, NULL);
    secauth_token_config_t hs = config_of(SECAUTH_ALG_HS256, &hs1, NULL);
    json_t *doc, *key;

    doc = json_loads(secauth_jwks_json(pool, &rs), 0, NULL);
    is_int(json_array_size(json_object_get(doc, "keys")), 2, "RS256 JWKS has both keys");
    key = json_array_get(json_object_get(doc, "keys"), 0);
    is_str(json_string_value(json_object_get(key, "kid")), "r1", "first kid");
    is_str(json_string_value(json_object_get(key, "kty")), "RSA", "kty RSA");
    is_str(json_string_value(json_object_get(key, "alg")), "RS256", "alg RS256");
    is_str(json_string_value(json_object_get(key, "use")), "sig", "use sig");
    is_str(json_string_value(json_object_get(key, "e")), "AQAB", "e is 65537");
    is_int(strlen(json_string_value(json_object_get(key, "n"))), 342, "n is 256 bytes");
    ok(!json_object_get(key, "d"), "no private part");
    is_str(json_string_value(json_object_get(json_array_get(json_object_get(doc, "keys"), 1),
                                             "kid")), "r2", "second kid");
    json_decref(doc);

    doc = json_loads(secauth_jwks_json(pool, &es), 0, NULL);
    key = json_array_get(json_object_get(doc, "keys"), 0);
    is_str(json_string_value(json_object_get(key, "kid")), "e1", "EC kid");
    is_str(json_string_value(json_object_get(key, "kty")), "EC", "kty EC");
    is_str(json_string_value(json_object_get(key, "crv")), "P-256", "crv P-256");
    is_int(strlen(json_string_value(json_object_get(key, "x"))), 43, "x is 32 bytes");
    is_int(strlen(json_string_value(json_object_get(key, "y"))), 43, "y is 32 bytes");
    ok(!json_object_get(key, "d"), "no private part");
    json_decref(doc);

    is_str(secauth_jwks_json(pool, &hs), "{\"keys\":[]}", "HS256 publishes nothing");
}

/* ---- cross-check with Crypt::JWT ---- */

static void test_perl_verifies(secauth_alg_e alg, const secauth_key_t *key)
{
    secauth_token_config_t cfg = config_of(alg, key, NULL);
    const char *name = secauth_alg_name(alg);
    const char *token = issue_at(&cfg, SECAUTH_TOKEN_ACCESS, apr_time_now());
    const char *got;

    ok(write_file("jwks.json", secauth_jwks_json(pool, &cfg)) && write_file("token", token),
       "%s token and JWKS written", name);
    got = run_output(apr_psprintf(pool,
        "perl -MCrypt::JWT=decode_jwt -e 'local $/; open my $j, \"<\", $ARGV[0] or die; "
        "open my $t, \"<\", $ARGV[1] or die; my ($h, $c) = decode_jwt(token => scalar <$t>, "
        "kid_keys => scalar <$j>, accepted_alg => $ARGV[2], decode_header => 1, "
        "verify_iss => $ARGV[3], verify_aud => $ARGV[4]); "
        "print qq{$h->{typ} $h->{kid} $c->{sub} $c->{preferred_username}\\n}' "
        "%s %s %s '%s' '%s' 2>&1", key_path("jwks.json"), key_path("token"), name,
        ISSUER, AUDIENCE));
    is_str(got, apr_psprintf(pool, "at+jwt %s 7 alice", key->kid),
           "Crypt::JWT verifies a %s token with the JWKS", name);
}

static void test_perl_signs(secauth_alg_e alg, const secauth_key_t *key, const char *file)
{
    secauth_token_config_t cfg = config_of(alg, key, NULL);
    const char *name = secauth_alg_name(alg);
    const char *key_arg = alg == SECAUTH_ALG_HS256 ? "$k" : "\\$k";
    secauth_claims_t claims;
    const char *token, *why = NULL;

    token = run_output(apr_psprintf(pool,
        "perl -MCrypt::JWT=encode_jwt -e 'local $/; open my $f, \"<\", $ARGV[0] or die; "
        "my $k = <$f>; my $t = time; print encode_jwt(payload => {iss => $ARGV[3], "
        "aud => [$ARGV[4]], sub => \"42\", preferred_username => \"bob\", role => \"viewer\", "
        "iat => $t, nbf => $t, exp => $t + 60, jti => \"perl-jti\"}, alg => $ARGV[1], "
        "key => %s, extra_headers => {typ => \"at+jwt\", kid => $ARGV[2]}), qq{\\n}' "
        "%s %s %s '%s' '%s'", key_arg, key_path(file), name, key->kid, ISSUER, AUDIENCE));
    ok(token != NULL, "Crypt::JWT signed a %s token", name);
    memset(&claims, 0, sizeof(claims));
    is_int(secauth_token_verify(pool, &cfg, SECAUTH_TOKEN_ACCESS, token, apr_time_now(), &claims,
                                &why), 0, "a %s token from Crypt::JWT verifies (%s)", name,
           why ? why : "ok");
    is_str(claims.sub, "42", "%s sub from Crypt::JWT", name);
    is_str(claims.role, "viewer", "%s role from Crypt::JWT", name);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    if (!mkdtemp(key_dir) || !make_key_files()) {
        printf("Bail out! cannot create key files in %s\n", key_dir);
        return 1;
    }

    test_key_loading();
    test_alg_names();
    test_round_trip(SECAUTH_ALG_HS256, &hs1);
    test_round_trip(SECAUTH_ALG_RS256, &rs1);
    test_round_trip(SECAUTH_ALG_ES256, &es1);
    test_tampering(SECAUTH_ALG_HS256, &hs1);
    test_tampering(SECAUTH_ALG_RS256, &rs1);
    test_tampering(SECAUTH_ALG_ES256, &es1);
    test_times();
    test_issuer_audience();
    test_identity_claims();
    test_header_rules();
    test_alg_confusion();
    test_rotation(SECAUTH_ALG_HS256, &hs1, &hs2);
    test_rotation(SECAUTH_ALG_RS256, &rs1, &rs2);
    test_rotation(SECAUTH_ALG_ES256, &es1, &es2);
    test_wrong_key(SECAUTH_ALG_HS256, &hs1, hs2);
    test_wrong_key(SECAUTH_ALG_RS256, &rs1, rs2);
    test_wrong_key(SECAUTH_ALG_ES256, &es1, es2);
    test_public_only();
    test_garbage();
    test_jwks();
    test_perl_verifies(SECAUTH_ALG_RS256, &rs1);
    test_perl_verifies(SECAUTH_ALG_ES256, &es1);
    test_perl_signs(SECAUTH_ALG_HS256, &hs1, "hs1.key");
    test_perl_signs(SECAUTH_ALG_RS256, &rs1, "rs1.pem");
    test_perl_signs(SECAUTH_ALG_ES256, &es1, "es1.pem");

    run("rm -rf %s", key_dir);
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
