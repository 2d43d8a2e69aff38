/* token.c — JWT access and enrolment tokens: loading the signing keys, issuing compact JWS
 * tokens, verifying them with the algorithm and key pinned by configuration, and publishing
 * the public keys as a JWKS document.
 *
 * The JWS signature itself is made and checked here with OpenSSL's EVP interface, and JSON
 * is handled with jansson. libjwt 1.10 cannot be used for either direction: jwt_encode_str()
 * overwrites any "typ" header with "JWT", and jwt_decode() refuses every "typ" other than
 * "JWT", while API.md §4 requires "at+jwt" and "enroll+jwt" (RFC 9068, RFC 8725 §3.11) so
 * that one kind of token can never be replayed as the other. */
#include "token.h"
#include "crypto.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include <jansson.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

/* Bounds what a client can make us decode and parse; real tokens are well under 2 KiB. */
#define TOKEN_MAX_LEN     8192
/* A key file bigger than this is a mistake (a certificate bundle, a log file...). */
#define KEY_FILE_MAX      (64 * 1024)
#define HS256_MIN_KEY_LEN 32
#define HS256_MAC_LEN     32
#define RSA_MIN_BITS      2048
/* ES256 signatures are r || s, each a P-256 scalar of 32 bytes (RFC 7518 §3.4). */
#define ES256_PART_LEN    32
#define JTI_BYTES         16
#define JTI_MAX_LEN       255
/* Ids in the API are positive signed 32-bit integers. */
#define USER_ID_MAX_DIGITS 10

#define TYP_ACCESS "at+jwt"
#define TYP_ENROLL "enroll+jwt"
#define SCOPE_ENROLL "enroll"

#define E_MALFORMED "malformed token"

/* The three base64url parts of a compact JWS, pointing into the token text. */
typedef struct {
    const char *header, *payload, *signature;
    apr_size_t header_len, payload_len, signature_len;
    apr_size_t signed_len; /* header "." payload: the bytes the signature covers */
} jws_parts_t;

const char *secauth_alg_name(secauth_alg_e alg)
{
    switch (alg) {
    case SECAUTH_ALG_HS256: return "HS256";
    case SECAUTH_ALG_RS256: return "RS256";
    case SECAUTH_ALG_ES256: return "ES256";
    }
    return NULL;
}

int secauth_alg_parse(const char *name, secauth_alg_e *alg)
{
    static const secauth_alg_e all[] = { SECAUTH_ALG_HS256, SECAUTH_ALG_RS256, SECAUTH_ALG_ES256 };
    apr_size_t i;

    for (i = 0; name && i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(name, secauth_alg_name(all[i])) == 0) {
            *alg = all[i];
            return 0;
        }
    }
    return -1;
}

static const char *kind_typ(secauth_token_kind_e kind)
{
    return kind == SECAUTH_TOKEN_ENROLL ? TYP_ENROLL : TYP_ACCESS;
}

/* ---- keys ---- */

static const char *read_error(apr_pool_t *p, apr_status_t rv)
{
    char err[128];

    return apr_psprintf(p, "cannot read the key file: %s", apr_strerror(rv, err, sizeof err));
}

static const char *read_open_file(apr_pool_t *p, apr_file_t *file,
                                  unsigned char **data, apr_size_t *len)
{
    apr_finfo_t finfo;
    apr_status_t rv;

    *len = 0;
    if ((rv = apr_file_info_get(&finfo, APR_FINFO_SIZE | APR_FINFO_TYPE, file)) != APR_SUCCESS) {
        return read_error(p, rv);
    }
    if (finfo.filetype != APR_REG) {
        return "the key file is not a regular file";
    }
    if (finfo.size > KEY_FILE_MAX) {
        return "the key file is too large";
    }
    /* One spare byte keeps a PEM text NUL-terminated. */
    *data = apr_pcalloc(p, (apr_size_t)finfo.size + 1);
    if (finfo.size > 0
        && (rv = apr_file_read_full(file, *data, (apr_size_t)finfo.size, len)) != APR_SUCCESS) {
        return read_error(p, rv);
    }
    return NULL;
}

static const char *read_key_file(apr_pool_t *p, const char *path,
                                 unsigned char **data, apr_size_t *len)
{
    apr_file_t *file;
    apr_status_t rv;
    const char *err;
    char buf[128];

    rv = apr_file_open(&file, path, APR_FOPEN_READ | APR_FOPEN_BINARY, APR_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot open the key file: %s", apr_strerror(rv, buf, sizeof buf));
    }
    err = read_open_file(p, file, data, len);
    apr_file_close(file);
    return err;
}

/* httpd starts without a terminal: an encrypted PEM key must fail, not prompt. */
static int refuse_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf; (void)size; (void)rwflag; (void)u;
    return -1;
}

/* Parses a PEM private key, or failing that a PEM public key; *is_private tells which. */
static EVP_PKEY *pem_to_pkey(const unsigned char *pem, apr_size_t len, int *is_private)
{
    BIO *bio;
    EVP_PKEY *pkey = NULL;

    *is_private = 0;
    if (len > INT_MAX || !(bio = BIO_new_mem_buf(pem, (int)len))) {
        return NULL;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, refuse_passphrase, NULL);
    if (pkey) {
        *is_private = 1;
    }
    else if (BIO_reset(bio) == 1) {
        pkey = PEM_read_bio_PUBKEY(bio, NULL, refuse_passphrase, NULL);
    }
    BIO_free(bio);
    /* A failed attempt leaves errors queued on the thread; they are not ours to report. */
    ERR_clear_error();
    return pkey;
}

/* The public key of a loaded key. Runs on every verification: taking the DER out of the
 * PEM ourselves and decoding it as SubjectPublicKeyInfo is about three times faster than
 * PEM_read_bio_PUBKEY, which tries every decoder OpenSSL has. */
static EVP_PKEY *public_pkey(const secauth_key_t *key)
{
    BIO *bio;
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    const unsigned char *cursor;
    long der_len = 0;
    EVP_PKEY *pkey = NULL;

    if (!key->public_pem || key->public_len > INT_MAX
        || !(bio = BIO_new_mem_buf(key->public_pem, (int)key->public_len))) {
        return NULL;
    }
    if (PEM_read_bio(bio, &name, &header, &der, &der_len) == 1
        && strcmp(name, PEM_STRING_PUBLIC) == 0) {
        cursor = der;
        pkey = d2i_PUBKEY(NULL, &cursor, der_len);
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(bio);
    ERR_clear_error();
    return pkey;
}

static const char *check_key_type(apr_pool_t *p, secauth_alg_e alg, EVP_PKEY *pkey)
{
    char group[64];

    if (alg == SECAUTH_ALG_RS256) {
        if (!EVP_PKEY_is_a(pkey, "RSA")) {
            return "RS256 needs an RSA key";
        }
        if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS) {
            return apr_psprintf(p, "RSA key must be at least %d bits, found %d",
                                RSA_MIN_BITS, EVP_PKEY_get_bits(pkey));
        }
        return NULL;
    }
    if (!EVP_PKEY_is_a(pkey, "EC")
        || EVP_PKEY_get_group_name(pkey, group, sizeof group, NULL) != 1
        || OBJ_sn2nid(group) != NID_X9_62_prime256v1) {
        return "ES256 needs an EC key on curve P-256";
    }
    return NULL;
}

static const unsigned char *public_pem_of(apr_pool_t *p, EVP_PKEY *pkey, apr_size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    unsigned char *copy = NULL;
    char *data;
    long n;

    if (bio && PEM_write_bio_PUBKEY(bio, pkey) == 1 && (n = BIO_get_mem_data(bio, &data)) > 0) {
        copy = (unsigned char *)apr_pstrmemdup(p, data, (apr_size_t)n);
        *len = (apr_size_t)n;
    }
    BIO_free(bio);
    return copy;
}

static const char *load_pem_key(apr_pool_t *p, secauth_alg_e alg, secauth_key_t *out)
{
    EVP_PKEY *pkey = pem_to_pkey(out->key, out->key_len, &out->can_sign);
    const char *err;

    if (!pkey) {
        return "no PEM private or public key found (encrypted keys are not supported)";
    }
    err = check_key_type(p, alg, pkey);
    if (!err && !(out->public_pem = public_pem_of(p, pkey, &out->public_len))) {
        err = "cannot derive the public key";
    }
    EVP_PKEY_free(pkey);
    return err;
}

static apr_status_t free_mac_ctx(void *ctx)
{
    EVP_MAC_CTX_free(ctx);
    return APR_SUCCESS;
}

/* An HMAC-SHA256 context holding key, freed with p; NULL on failure. */
static EVP_MAC_CTX *keyed_hmac_sha256(apr_pool_t *p, const unsigned char *key, apr_size_t len)
{
    char digest[] = "SHA256";
    OSSL_PARAM params[2];
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;

    EVP_MAC_free(mac);   /* the context keeps its own reference */
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!ctx || EVP_MAC_init(ctx, key, len, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ERR_clear_error();
        return NULL;
    }
    apr_pool_cleanup_register(p, ctx, free_mac_ctx, apr_pool_cleanup_null);
    return ctx;
}

/* The HS256 part of loading: out->key holds the secret; checks its length, keys the HMAC. */
static const char *hs256_key(apr_pool_t *p, secauth_key_t *out)
{
    if (out->key_len < HS256_MIN_KEY_LEN) {
        return apr_psprintf(p, "HS256 key must be at least %d bytes, found %" APR_SIZE_T_FMT,
                            HS256_MIN_KEY_LEN, out->key_len);
    }
    if (!(out->hmac_keyed = keyed_hmac_sha256(p, out->key, out->key_len))) {
        return "cannot set up HMAC-SHA256 with this key";
    }
    out->can_sign = 1;
    return NULL;
}

const char *secauth_key_load(apr_pool_t *p, secauth_alg_e alg, const char *path,
                             const char *kid, secauth_key_t *out)
{
    unsigned char *data = NULL;
    apr_size_t len = 0;
    const char *err;

    memset(out, 0, sizeof(*out));
    if (!secauth_alg_name(alg)) {
        return "unknown algorithm";
    }
    if ((err = read_key_file(p, path, &data, &len))) {
        return err;
    }
    return secauth_key_parse(p, alg, path, kid, data, len, out);
}

const char *secauth_key_parse(apr_pool_t *p, secauth_alg_e alg, const char *path,
                              const char *kid, const unsigned char *data, apr_size_t len,
                              secauth_key_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!secauth_alg_name(alg)) {
        return "unknown algorithm";
    }
    out->kid = kid ? apr_pstrdup(p, kid) : NULL;
    out->path = apr_pstrdup(p, path);
    out->alg = alg;
    out->key = data;
    out->key_len = len;
    if (alg != SECAUTH_ALG_HS256) {
        return load_pem_key(p, alg, out);
    }
    return hs256_key(p, out);
}

const char *secauth_key_hs256(apr_pool_t *p, const unsigned char *secret, apr_size_t len,
                              const char *kid, secauth_key_t *out)
{
    memset(out, 0, sizeof(*out));
    out->kid = kid ? apr_pstrdup(p, kid) : NULL;
    out->alg = SECAUTH_ALG_HS256;
    out->key = secret;
    out->key_len = len;
    return hs256_key(p, out);
}

/* ---- JWS signatures ---- */

static int hs256_mac(const secauth_key_t *key, const char *input, apr_size_t len,
                     unsigned char mac[HS256_MAC_LEN])
{
    EVP_MAC_CTX *ctx;
    size_t mac_len = 0;
    int good;

    /* the keyed context is shared by every thread: only copies of it are written */
    ctx = key->hmac_keyed ? EVP_MAC_CTX_dup(key->hmac_keyed) : NULL;
    good = ctx && EVP_MAC_update(ctx, (const unsigned char *)input, len) == 1
        && EVP_MAC_final(ctx, mac, &mac_len, HS256_MAC_LEN) == 1 && mac_len == HS256_MAC_LEN;
    EVP_MAC_CTX_free(ctx);
    if (!good) {
        ERR_clear_error();
    }
    return good;
}

static unsigned char *digest_sign(apr_pool_t *p, EVP_PKEY *pkey, const char *input,
                                  apr_size_t len, apr_size_t *sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *sig = NULL;
    size_t n = 0;

    if (ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1
        && EVP_DigestSign(ctx, NULL, &n, (const unsigned char *)input, len) == 1) {
        sig = apr_palloc(p, n);
        if (EVP_DigestSign(ctx, sig, &n, (const unsigned char *)input, len) != 1) {
            sig = NULL;
        }
    }
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    *sig_len = n;
    return sig;
}

/* OpenSSL produces a DER ECDSA-Sig-Value; JWS wants the fixed-size r || s. */
static unsigned char *ecdsa_der_to_jws(apr_pool_t *p, const unsigned char *der, apr_size_t len)
{
    const unsigned char *cursor = der;
    ECDSA_SIG *sig = len <= LONG_MAX ? d2i_ECDSA_SIG(NULL, &cursor, (long)len) : NULL;
    unsigned char *raw = NULL;

    if (sig) {
        raw = apr_palloc(p, 2 * ES256_PART_LEN);
        if (BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, ES256_PART_LEN) != ES256_PART_LEN
            || BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + ES256_PART_LEN,
                            ES256_PART_LEN) != ES256_PART_LEN) {
            raw = NULL;
        }
        ECDSA_SIG_free(sig);
    }
    return raw;
}

static unsigned char *ecdsa_jws_to_der(apr_pool_t *p, const unsigned char *raw,
                                       apr_size_t *der_len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, ES256_PART_LEN, NULL);
    BIGNUM *s = BN_bin2bn(raw + ES256_PART_LEN, ES256_PART_LEN, NULL);
    unsigned char *der = NULL, *copy = NULL;
    int n = 0;

    if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL; /* owned by sig now */
        n = i2d_ECDSA_SIG(sig, &der);
    }
    if (n > 0) {
        copy = apr_pmemdup(p, der, (apr_size_t)n);
        *der_len = (apr_size_t)n;
    }
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return copy;
}

static unsigned char *jws_sign(apr_pool_t *p, const secauth_key_t *key, const char *input,
                               apr_size_t len, apr_size_t *sig_len)
{
    EVP_PKEY *pkey;
    int is_private;
    unsigned char *sig;

    if (key->alg == SECAUTH_ALG_HS256) {
        sig = apr_palloc(p, HS256_MAC_LEN);
        *sig_len = HS256_MAC_LEN;
        return hs256_mac(key, input, len, sig) ? sig : NULL;
    }
    pkey = pem_to_pkey(key->key, key->key_len, &is_private);
    sig = pkey && is_private ? digest_sign(p, pkey, input, len, sig_len) : NULL;
    EVP_PKEY_free(pkey);
    if (sig && key->alg == SECAUTH_ALG_ES256) {
        sig = ecdsa_der_to_jws(p, sig, *sig_len);
        *sig_len = 2 * ES256_PART_LEN;
    }
    return sig;
}

static int digest_verify(EVP_PKEY *pkey, const char *input, apr_size_t len,
                         const unsigned char *sig, apr_size_t sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int good = ctx
        && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1
        && EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)input, len) == 1;

    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return good;
}

/* 1 when sig is key's signature of input; only the key's own algorithm is ever tried. */
static int jws_verify(apr_pool_t *p, const secauth_key_t *key, const char *input,
                      apr_size_t len, const unsigned char *sig, apr_size_t sig_len)
{
    unsigned char mac[HS256_MAC_LEN];
    EVP_PKEY *pkey;
    int good;

    if (key->alg == SECAUTH_ALG_HS256) {
        good = sig_len == HS256_MAC_LEN && hs256_mac(key, input, len, mac)
            && CRYPTO_memcmp(mac, sig, HS256_MAC_LEN) == 0;
        OPENSSL_cleanse(mac, sizeof(mac));
        return good;
    }
    if (key->alg == SECAUTH_ALG_ES256) {
        if (sig_len != 2 * ES256_PART_LEN || !(sig = ecdsa_jws_to_der(p, sig, &sig_len))) {
            return 0;
        }
    }
    if (!(pkey = public_pkey(key))) {
        return 0;
    }
    good = check_key_type(p, key->alg, pkey) == NULL
        && digest_verify(pkey, input, len, sig, sig_len);
    EVP_PKEY_free(pkey);
    return good;
}

/* ---- issuing ---- */

static char *encode_json(apr_pool_t *p, const json_t *json)
{
    char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
    char *encoded;

    if (!text) {
        return NULL;
    }
    encoded = secauth_b64url_encode(p, (const unsigned char *)text, strlen(text));
    free(text);
    return encoded;
}

static json_t *build_header(const secauth_key_t *key, secauth_token_kind_e kind)
{
    json_t *header = json_pack("{s:s, s:s}", "alg", secauth_alg_name(key->alg),
                               "typ", kind_typ(kind));

    if (header && key->kid && json_object_set_new(header, "kid", json_string(key->kid)) != 0) {
        json_decref(header);
        return NULL;
    }
    return header;
}

static json_t *build_claims(const secauth_token_config_t *cfg, secauth_token_kind_e kind,
                            const secauth_claims_t *c)
{
    json_t *claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:I}",
                               "iss", cfg->issuer, "aud", cfg->audience,
                               "sub", c->sub, "preferred_username", c->preferred_username,
                               "iat", (json_int_t)c->iat, "nbf", (json_int_t)c->nbf,
                               "exp", (json_int_t)c->exp, "jti", c->jti,
                               "gen", (json_int_t)c->gen);
    int rc;

    if (!claims) {
        return NULL;
    }
    rc = kind == SECAUTH_TOKEN_ENROLL
        ? json_object_set_new(claims, "scope", json_string(SCOPE_ENROLL))
        : json_object_set_new(claims, "role", json_string(c->role));
    if (rc != 0) {
        json_decref(claims);
        return NULL;
    }
    return claims;
}

static const char *sign_compact(apr_pool_t *p, const secauth_key_t *key,
                                const json_t *header, const json_t *claims)
{
    char *header_b64 = encode_json(p, header), *claims_b64 = encode_json(p, claims);
    char *input, *sig_b64;
    unsigned char *sig;
    apr_size_t sig_len = 0;

    if (!header_b64 || !claims_b64) {
        return NULL;
    }
    input = apr_pstrcat(p, header_b64, ".", claims_b64, NULL);
    sig = jws_sign(p, key, input, strlen(input), &sig_len);
    sig_b64 = sig ? secauth_b64url_encode(p, sig, sig_len) : NULL;
    return sig_b64 ? apr_pstrcat(p, input, ".", sig_b64, NULL) : NULL;
}

/* A positive decimal integer that fits a signed 32-bit int, as user ids do. */
static int is_user_id(const char *s)
{
    apr_size_t len = s ? strlen(s) : 0;
    apr_size_t i;

    if (len == 0 || len > USER_ID_MAX_DIGITS || s[0] == '0') {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return apr_atoi64(s) <= INT_MAX;
}

const char *secauth_token_issue(apr_pool_t *p, const secauth_token_config_t *cfg,
                                secauth_token_kind_e kind, const char *sub,
                                const char *username, const char *role,
                                apr_int64_t generation, apr_time_t now,
                                secauth_claims_t *claims_out)
{
    const secauth_key_t *key;
    secauth_claims_t c;
    json_t *header, *claims;
    const char *token = NULL;

    if (!cfg || !cfg->keys || cfg->keys->nelts < 1 || !cfg->issuer || !cfg->audience
        || !is_user_id(sub) || !username || (kind == SECAUTH_TOKEN_ACCESS && !role)
        || generation < 0) {
        return NULL;
    }
    key = &APR_ARRAY_IDX(cfg->keys, 0, secauth_key_t);
    if (!key->can_sign || key->alg != cfg->alg) {
        return NULL;
    }
    memset(&c, 0, sizeof(c));
    c.sub = apr_pstrdup(p, sub);
    c.preferred_username = apr_pstrdup(p, username);
    c.role = kind == SECAUTH_TOKEN_ACCESS ? apr_pstrdup(p, role) : NULL;
    c.iat = c.nbf = apr_time_sec(now);
    c.exp = c.iat + cfg->lifetime;
    c.gen = generation;
    if (!(c.jti = secauth_random_hex(p, JTI_BYTES))) {
        return NULL;
    }
    header = build_header(key, kind);
    claims = build_claims(cfg, kind, &c);
    if (header && claims) {
        token = sign_compact(p, key, header, claims);
    }
    json_decref(header);
    json_decref(claims);
    if (token && claims_out) {
        *claims_out = c;
    }
    return token;
}

/* ---- verifying ---- */

static int is_b64url_text(const char *s, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        if (!apr_isalnum(s[i]) && s[i] != '-' && s[i] != '_') {
            return 0;
        }
    }
    return len % 4 != 1;
}

/* Splits before anything is decoded, so that nothing larger or stranger than a compact
 * JWS of three base64url parts reaches a decoder or a parser. */
static const char *split_token(const char *token, jws_parts_t *jws)
{
    const char *dot1, *dot2, *end;
    apr_size_t len;

    if (!token) {
        return E_MALFORMED;
    }
    len = strnlen(token, TOKEN_MAX_LEN + 1);
    if (len > TOKEN_MAX_LEN) {
        return "token too large";
    }
    end = token + len;
    if (!(dot1 = memchr(token, '.', len))
        || !(dot2 = memchr(dot1 + 1, '.', (apr_size_t)(end - dot1 - 1)))
        || memchr(dot2 + 1, '.', (apr_size_t)(end - dot2 - 1))) {
        return E_MALFORMED;
    }
    jws->header = token;
    jws->header_len = (apr_size_t)(dot1 - token);
    jws->payload = dot1 + 1;
    jws->payload_len = (apr_size_t)(dot2 - dot1 - 1);
    jws->signature = dot2 + 1;
    jws->signature_len = (apr_size_t)(end - dot2 - 1);
    jws->signed_len = (apr_size_t)(dot2 - token);
    if (jws->header_len == 0 || jws->payload_len == 0
        || !is_b64url_text(jws->header, jws->header_len)
        || !is_b64url_text(jws->payload, jws->payload_len)
        || !is_b64url_text(jws->signature, jws->signature_len)) {
        return E_MALFORMED;
    }
    return NULL;
}

/* base64url → a JSON object (duplicate names rejected: two parsers must never disagree
 * on which "alg" or "exp" counts); NULL for anything else. */
static json_t *decode_object(apr_pool_t *p, const char *b64, apr_size_t len)
{
    unsigned char *raw;
    apr_size_t raw_len;
    json_t *json;

    if (secauth_b64url_decode(p, b64, len, &raw, &raw_len) != 0) {
        return NULL;
    }
    json = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, NULL);
    if (json && !json_is_object(json)) {
        json_decref(json);
        json = NULL;
    }
    return json;
}

/* The key named by kid, among keys of the configured algorithm only. */
static const secauth_key_t *find_key(const secauth_token_config_t *cfg, const json_t *kid)
{
    const char *name = json_string_value(kid);
    int i;

    if (!cfg->keys || cfg->keys->nelts < 1) {
        return NULL;
    }
    if (!kid && cfg->keys->nelts == 1) {
        const secauth_key_t *only = &APR_ARRAY_IDX(cfg->keys, 0, secauth_key_t);
        return only->alg == cfg->alg ? only : NULL;
    }
    for (i = 0; name && i < cfg->keys->nelts; i++) {
        const secauth_key_t *key = &APR_ARRAY_IDX(cfg->keys, i, secauth_key_t);
        if (key->alg == cfg->alg && key->kid && strcmp(key->kid, name) == 0) {
            return key;
        }
    }
    return NULL;
}

static const char *check_header_fields(const secauth_token_config_t *cfg,
                                       secauth_token_kind_e kind, const json_t *header,
                                       const secauth_key_t **key)
{
    const char *alg = json_string_value(json_object_get(header, "alg"));
    const char *typ = json_string_value(json_object_get(header, "typ"));
    const char *pinned = secauth_alg_name(cfg->alg);

    /* The configured algorithm, never the token's choice: this stops "none" and the
     * HS256-with-a-public-key confusion. jku, x5u and jwk are never looked at. */
    if (!alg || !pinned || strcmp(alg, pinned) != 0) {
        return "unsupported algorithm";
    }
    if (json_object_get(header, "crit")) {
        return "critical header not supported";
    }
    if (!typ || strcmp(typ, kind_typ(kind)) != 0) {
        return "invalid token type";
    }
    if (!(*key = find_key(cfg, json_object_get(header, "kid")))) {
        return "unknown key id";
    }
    return NULL;
}

static const char *check_header(apr_pool_t *p, const secauth_token_config_t *cfg,
                                secauth_token_kind_e kind, const jws_parts_t *jws,
                                const secauth_key_t **key)
{
    json_t *header = decode_object(p, jws->header, jws->header_len);
    const char *err;

    if (!header) {
        return E_MALFORMED;
    }
    err = check_header_fields(cfg, kind, header, key);
    json_decref(header);
    return err;
}

static const char *check_signature(apr_pool_t *p, const secauth_key_t *key,
                                   const jws_parts_t *jws)
{
    unsigned char *sig;
    apr_size_t sig_len;

    if (jws->signature_len == 0
        || secauth_b64url_decode(p, jws->signature, jws->signature_len, &sig, &sig_len) != 0
        || !jws_verify(p, key, jws->header, jws->signed_len, sig, sig_len)) {
        return "invalid signature";
    }
    return NULL;
}

static const char *check_iss_aud(const secauth_token_config_t *cfg, const json_t *claims)
{
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const json_t *aud = json_object_get(claims, "aud");
    const json_t *each;
    size_t i;
    int audience_found = 0;

    if (!iss || !cfg->issuer || strcmp(iss, cfg->issuer) != 0) {
        return "invalid issuer";
    }
    if (cfg->audience && json_is_string(aud)) {
        audience_found = strcmp(json_string_value(aud), cfg->audience) == 0;
    }
    else if (cfg->audience && json_is_array(aud)) {
        json_array_foreach(aud, i, each) {
            if (json_is_string(each) && strcmp(json_string_value(each), cfg->audience) == 0) {
                audience_found = 1;
            }
        }
    }
    return audience_found ? NULL : "invalid audience";
}

/* 1 and *value for a JSON number, 0 when absent, -1 for anything else (a string "1700000000"
 * is not a time). Compared as doubles so that huge values cannot overflow. */
static int number_claim(const json_t *claims, const char *name, double *value)
{
    const json_t *n = json_object_get(claims, name);

    if (!n) {
        return 0;
    }
    if (!json_is_number(n)) {
        return -1;
    }
    *value = json_number_value(n);
    return isfinite(*value) ? 1 : -1;
}

static apr_int64_t seconds_of(double v)
{
    if (v >= 9.0e18) {
        return APR_INT64_MAX;
    }
    if (v <= -9.0e18) {
        return APR_INT64_MIN;
    }
    return (apr_int64_t)v;
}

static const char *check_times(const secauth_token_config_t *cfg, const json_t *claims,
                               apr_time_t now, secauth_claims_t *out)
{
    double t = (double)apr_time_sec(now), skew = cfg->clock_skew, exp = 0, iat = 0, nbf = 0;
    int has_nbf;

    if (number_claim(claims, "exp", &exp) != 1) {
        return "invalid exp claim";
    }
    if (number_claim(claims, "iat", &iat) != 1) {
        return "invalid iat claim";
    }
    if ((has_nbf = number_claim(claims, "nbf", &nbf)) < 0) {
        return "invalid nbf claim";
    }
    if (!(t < exp + skew)) {
        return "token expired";
    }
    if (has_nbf && nbf - skew > t) {
        return "token not yet valid";
    }
    if (iat - skew > t) {
        return "token issued in the future";
    }
    out->exp = seconds_of(exp);
    out->iat = seconds_of(iat);
    /* Without nbf a token is valid from its issue time. */
    out->nbf = seconds_of(has_nbf ? nbf : iat);
    return NULL;
}

static const char *nonempty_claim(const json_t *claims, const char *name)
{
    const char *s = json_string_value(json_object_get(claims, name));

    return s && *s ? s : NULL;
}

static const char *check_identity(apr_pool_t *p, secauth_token_kind_e kind,
                                  const json_t *claims, secauth_claims_t *out)
{
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *jti = nonempty_claim(claims, "jti");
    const char *username = nonempty_claim(claims, "preferred_username");
    const char *role = nonempty_claim(claims, "role");
    const char *scope = json_string_value(json_object_get(claims, "scope"));
    const json_t *gen = json_object_get(claims, "gen");

    if (!is_user_id(sub)) {
        return "invalid sub claim";
    }
    if (!jti || strlen(jti) > JTI_MAX_LEN) {
        return "invalid jti claim";
    }
    if (!username) {
        return "invalid preferred_username claim";
    }
    if (kind == SECAUTH_TOKEN_ACCESS && !role) {
        return "invalid role claim";
    }
    if (kind == SECAUTH_TOKEN_ENROLL && (!scope || strcmp(scope, SCOPE_ENROLL) != 0)) {
        return "invalid scope";
    }
    /* tokens issued before the claim existed carry none: generation 0 */
    if (gen && (!json_is_integer(gen) || json_integer_value(gen) < 0)) {
        return "invalid gen claim";
    }
    out->gen = gen ? (apr_int64_t)json_integer_value(gen) : 0;
    out->sub = apr_pstrdup(p, sub);
    out->jti = apr_pstrdup(p, jti);
    out->preferred_username = apr_pstrdup(p, username);
    out->role = kind == SECAUTH_TOKEN_ACCESS ? apr_pstrdup(p, role) : NULL;
    return NULL;
}

static const char *check_claims(apr_pool_t *p, const secauth_token_config_t *cfg,
                                secauth_token_kind_e kind, const json_t *claims,
                                apr_time_t now, secauth_claims_t *out)
{
    const char *err = check_iss_aud(cfg, claims);

    if (!err) {
        err = check_times(cfg, claims, now, out);
    }
    if (!err) {
        err = check_identity(p, kind, claims, out);
    }
    return err;
}

int secauth_token_verify(apr_pool_t *p, const secauth_token_config_t *cfg,
                         secauth_token_kind_e kind, const char *token, apr_time_t now,
                         secauth_claims_t *out, const char **why)
{
    jws_parts_t jws;
    const secauth_key_t *key = NULL;
    json_t *claims = NULL;
    secauth_claims_t found;
    const char *err = cfg ? split_token(token, &jws) : "unsupported algorithm";

    memset(&found, 0, sizeof(found));
    if (!err) {
        err = check_header(p, cfg, kind, &jws, &key);
    }
    if (!err && !(claims = decode_object(p, jws.payload, jws.payload_len))) {
        err = E_MALFORMED;
    }
    if (!err) {
        err = check_signature(p, key, &jws);
    }
    /* Claims are judged only once the signature proves who wrote them. */
    if (!err) {
        err = check_claims(p, cfg, kind, claims, now, &found);
    }
    json_decref(claims);
    if (err) {
        if (why) {
            *why = err;
        }
        return -1;
    }
    if (out) {
        *out = found;
    }
    return 0;
}

/* ---- JWKS ---- */

/* A big-endian unsigned parameter as base64url; width > 0 left-pads to that many bytes. */
static char *bn_param_b64url(apr_pool_t *p, EVP_PKEY *pkey, const char *name, int width)
{
    BIGNUM *bn = NULL;
    unsigned char *buf;
    char *encoded = NULL;
    int len;

    if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) {
        return NULL;
    }
    len = width > 0 ? width : BN_num_bytes(bn);
    if (len > 0 && BN_num_bytes(bn) <= len) {
        buf = apr_palloc(p, (apr_size_t)len);
        if (BN_bn2binpad(bn, buf, len) == len) {
            encoded = secauth_b64url_encode(p, buf, (apr_size_t)len);
        }
    }
    BN_free(bn);
    return encoded;
}

static json_t *jwk_of_pkey(apr_pool_t *p, secauth_alg_e alg, EVP_PKEY *pkey)
{
    if (alg == SECAUTH_ALG_RS256) {
        return json_pack("{s:s, s:s, s:s}", "kty", "RSA",
                         "n", bn_param_b64url(p, pkey, OSSL_PKEY_PARAM_RSA_N, 0),
                         "e", bn_param_b64url(p, pkey, OSSL_PKEY_PARAM_RSA_E, 0));
    }
    return json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256",
                     "x", bn_param_b64url(p, pkey, OSSL_PKEY_PARAM_EC_PUB_X, ES256_PART_LEN),
                     "y", bn_param_b64url(p, pkey, OSSL_PKEY_PARAM_EC_PUB_Y, ES256_PART_LEN));
}

static json_t *jwk_of(apr_pool_t *p, const secauth_key_t *key)
{
    EVP_PKEY *pkey = public_pkey(key);
    json_t *jwk = pkey ? jwk_of_pkey(p, key->alg, pkey) : NULL;

    EVP_PKEY_free(pkey);
    if (jwk && (json_object_set_new(jwk, "alg", json_string(secauth_alg_name(key->alg))) != 0
                || json_object_set_new(jwk, "use", json_string("sig")) != 0
                || (key->kid && json_object_set_new(jwk, "kid", json_string(key->kid)) != 0))) {
        json_decref(jwk);
        jwk = NULL;
    }
    return jwk;
}

static int add_public_keys(apr_pool_t *p, const secauth_token_config_t *cfg, json_t *keys)
{
    int i;

    for (i = 0; cfg->keys && i < cfg->keys->nelts; i++) {
        const secauth_key_t *key = &APR_ARRAY_IDX(cfg->keys, i, secauth_key_t);
        if (key->alg == SECAUTH_ALG_HS256) {
            continue; /* a shared secret is never published */
        }
        if (json_array_append_new(keys, jwk_of(p, key)) != 0) {
            return -1;
        }
    }
    return 0;
}

const char *secauth_jwks_json(apr_pool_t *p, const secauth_token_config_t *cfg)
{
    json_t *keys = json_array();
    json_t *doc = json_object();
    char *text = NULL;
    const char *copy = NULL;

    if (keys && doc && json_object_set(doc, "keys", keys) == 0
        && add_public_keys(p, cfg, keys) == 0) {
        text = json_dumps(doc, JSON_COMPACT);
    }
    if (text) {
        copy = apr_pstrdup(p, text);
        free(text);
    }
    json_decref(keys);
    json_decref(doc);
    return copy;
}
