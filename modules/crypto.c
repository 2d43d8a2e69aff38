/* crypto.c — the OpenSSL-backed primitives: random bytes, AES-256-GCM sealing of small secrets
 * (TOTP secrets at rest), HMAC-SHA256, constant-time comparison, base64url and hex.
 * Every result lives in the caller's APR pool; OpenSSL contexts never outlive a call. */
#include "crypto.h"

#include <limits.h>
#include <string.h>

#include <apr_strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define SEAL_PREFIX     "v1."
#define SEAL_PREFIX_LEN (sizeof(SEAL_PREFIX) - 1)
#define SEAL_NONCE_LEN  12
#define SEAL_TAG_LEN    16

/* EVP_EncodeBlock/EVP_DecodeBlock count in int; stay well inside that. */
#define B64_MAX_INPUT ((apr_size_t)(INT_MAX / 4) * 3 - 3)

static const char hex_digits[] = "0123456789abcdef";

int secauth_random_bytes(unsigned char *buf, apr_size_t len)
{
    /* RAND_bytes takes an int: feed large requests in chunks. */
    while (len > 0) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(buf, chunk) != 1) {
            return -1;
        }
        buf += chunk;
        len -= (apr_size_t)chunk;
    }
    return 0;
}

int secauth_ct_equal(const void *a, const void *b, apr_size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

char *secauth_hex(apr_pool_t *p, const unsigned char *data, apr_size_t len)
{
    char *out = apr_palloc(p, 2 * len + 1);
    apr_size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = hex_digits[data[i] >> 4];
        out[2 * i + 1] = hex_digits[data[i] & 0x0f];
    }
    out[2 * len] = '\0';
    return out;
}

char *secauth_random_hex(apr_pool_t *p, apr_size_t len)
{
    unsigned char *buf = apr_palloc(p, len ? len : 1);

    if (secauth_random_bytes(buf, len) != 0) {
        return NULL;
    }
    return secauth_hex(p, buf, len);
}

const char *secauth_hmac_sha256_hex(apr_pool_t *p, const unsigned char *key, apr_size_t key_len,
                                    const void *data, apr_size_t len)
{
    /* OpenSSL 3.0 refuses a NULL key even when its length is 0. */
    static const unsigned char empty_key[1] = { 0 };
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;

    if (key_len > INT_MAX) {
        return NULL;
    }
    if (!HMAC(EVP_sha256(), key ? key : empty_key, (int)key_len,
              data ? data : empty_key, data ? len : 0, mac, &mac_len)) {
        return NULL;
    }
    return secauth_hex(p, mac, mac_len);
}

/* ---- base64 without padding on output: url (RFC 4648 §5) and standard (§4) alphabets ----
 * The two alphabets differ only in the characters for 62 and 63. */
#define URL_62 '-'
#define URL_63 '_'
#define STD_62 '+'
#define STD_63 '/'

static char *b64_encode(apr_pool_t *p, const unsigned char *data, apr_size_t len,
                        char c62, char c63)
{
    char *out;
    int n, i;

    if (len > B64_MAX_INPUT) {
        return NULL;
    }
    out = apr_palloc(p, 4 * ((len + 2) / 3) + 1);
    n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    /* padding is dropped, not mapped */
    while (n > 0 && out[n - 1] == '=') {
        n--;
    }
    out[n] = '\0';
    for (i = 0; i < n; i++) {
        if (out[i] == STD_62) {
            out[i] = c62;
        }
        else if (out[i] == STD_63) {
            out[i] = c63;
        }
    }
    return out;
}

char *secauth_b64url_encode(apr_pool_t *p, const unsigned char *data, apr_size_t len)
{
    return b64_encode(p, data, len, URL_62, URL_63);
}

char *secauth_b64_encode_unpadded(apr_pool_t *p, const unsigned char *data, apr_size_t len)
{
    return b64_encode(p, data, len, STD_62, STD_63);
}

/* The 6-bit value of a character of the alphabet, -1 for anything outside it. */
static int b64_value(unsigned char c, char c62, char c63)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (unsigned char)c62) return 62;
    if (c == (unsigned char)c63) return 63;
    return -1;
}

/* Length of text without correct '=' padding; (apr_size_t)-1 when the padding is wrong.
 * Padding is optional, but when present it must make the length a multiple of four. */
static apr_size_t b64_unpadded_length(const char *text, apr_size_t len)
{
    apr_size_t pads = 0;

    while (pads < len && pads < 3 && text[len - 1 - pads] == '=') {
        pads++;
    }
    if (pads == 0) {
        return len;
    }
    if (len % 4 != 0 || pads > 2) {
        return (apr_size_t)-1;
    }
    return len - pads;
}

/* Rejects characters outside the alphabet and, as RFC 4648 §3.5 allows, an encoding whose
 * unused trailing bits are not zero: each byte string then has exactly one accepted text. */
static int b64_valid(const char *text, apr_size_t len, char c62, char c63)
{
    apr_size_t i;
    int last = 0;

    if (len % 4 == 1) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        last = b64_value((unsigned char)text[i], c62, c63);
        if (last < 0) {
            return 0;
        }
    }
    if (len % 4 == 2 && (last & 0x0f) != 0) {
        return 0;
    }
    if (len % 4 == 3 && (last & 0x03) != 0) {
        return 0;
    }
    return 1;
}

/* Decodes text in the alphabet of c62 and c63; '=' padding is accepted when padding_ok (and
 * then must be correct), refused otherwise. */
static int b64_decode(apr_pool_t *p, const char *text, apr_size_t text_len, char c62, char c63,
                      int padding_ok, unsigned char **out, apr_size_t *out_len)
{
    apr_size_t len, padded_len, i, missing;
    unsigned char *std, *decoded;
    int n;

    if (!text || text_len > B64_MAX_INPUT) {
        return -1;
    }
    len = padding_ok ? b64_unpadded_length(text, text_len) : text_len;
    if (len == (apr_size_t)-1 || !b64_valid(text, len, c62, c63)) {
        return -1;
    }

    /* The standard alphabet with full padding, which EVP_DecodeBlock needs. */
    missing = (4 - len % 4) % 4;
    padded_len = len + missing;
    std = apr_palloc(p, padded_len + 1);
    for (i = 0; i < len; i++) {
        std[i] = text[i] == c62 ? STD_62 : text[i] == c63 ? STD_63 : (unsigned char)text[i];
    }
    memset(std + len, '=', missing);
    std[padded_len] = '\0';

    decoded = apr_palloc(p, padded_len / 4 * 3 + 1);
    n = EVP_DecodeBlock(decoded, std, (int)padded_len);
    if (n < 0 || (apr_size_t)n < missing) {
        return -1;
    }
    /* EVP_DecodeBlock counts the zero bytes that stand for padding; drop them. */
    *out_len = (apr_size_t)n - missing;
    decoded[*out_len] = '\0';
    *out = decoded;
    return 0;
}

int secauth_b64url_decode(apr_pool_t *p, const char *text, apr_size_t text_len,
                          unsigned char **out, apr_size_t *out_len)
{
    return b64_decode(p, text, text_len, URL_62, URL_63, 1, out, out_len);
}

int secauth_b64_decode_unpadded(apr_pool_t *p, const char *text, apr_size_t text_len,
                                unsigned char **out, apr_size_t *out_len)
{
    return b64_decode(p, text, text_len, STD_62, STD_63, 0, out, out_len);
}

/* ---- AES-256-GCM sealing ---- */

static int gcm_add_aad(EVP_CIPHER_CTX *ctx, const char *aad, int encrypting)
{
    int outl = 0;
    size_t aad_len = aad ? strlen(aad) : 0;

    if (aad_len == 0) {
        return 1;
    }
    if (aad_len > INT_MAX) {
        return 0;
    }
    return encrypting
        ? EVP_EncryptUpdate(ctx, NULL, &outl, (const unsigned char *)aad, (int)aad_len)
        : EVP_DecryptUpdate(ctx, NULL, &outl, (const unsigned char *)aad, (int)aad_len);
}

/* Encrypts into out = nonce || ciphertext || tag (SEAL_NONCE_LEN + len + SEAL_TAG_LEN bytes). */
static int gcm_encrypt(const unsigned char *key, const unsigned char *plain, apr_size_t len,
                       const char *aad, unsigned char *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char *nonce = out, *cipher = out + SEAL_NONCE_LEN;
    int outl = 0, finl = 0, rc = -1;

    if (!ctx || secauth_random_bytes(nonce, SEAL_NONCE_LEN) != 0) {
        goto done;
    }
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1
        || !gcm_add_aad(ctx, aad, 1)
        || EVP_EncryptUpdate(ctx, cipher, &outl, plain, (int)len) != 1
        || EVP_EncryptFinal_ex(ctx, cipher + outl, &finl) != 1
        || (apr_size_t)(outl + finl) != len
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, cipher + len) != 1) {
        goto done;
    }
    rc = 0;
done:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

const char *secauth_seal(apr_pool_t *p, const unsigned char *key,
                         const unsigned char *plain, apr_size_t len, const char *aad)
{
    apr_size_t sealed_len;
    unsigned char *sealed;
    char *encoded;

    if (!key || (!plain && len > 0) || len > B64_MAX_INPUT - SEAL_NONCE_LEN - SEAL_TAG_LEN) {
        return NULL;
    }
    sealed_len = SEAL_NONCE_LEN + len + SEAL_TAG_LEN;
    sealed = apr_palloc(p, sealed_len);
    if (gcm_encrypt(key, plain ? plain : sealed, len, aad, sealed) != 0) {
        return NULL;
    }
    encoded = secauth_b64url_encode(p, sealed, sealed_len);
    return encoded ? apr_pstrcat(p, SEAL_PREFIX, encoded, NULL) : NULL;
}

/* Decrypts nonce || ciphertext || tag into plain (len - nonce - tag bytes); 0 only when
 * the tag proves key, aad and ciphertext are what was sealed. */
static int gcm_decrypt(const unsigned char *key, const unsigned char *sealed, apr_size_t len,
                       const char *aad, unsigned char *plain)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    apr_size_t cipher_len = len - SEAL_NONCE_LEN - SEAL_TAG_LEN;
    const unsigned char *cipher = sealed + SEAL_NONCE_LEN;
    unsigned char tag[SEAL_TAG_LEN];
    int outl = 0, finl = 0, rc = -1;

    /* The ctrl call takes a non-const pointer; hand it a copy. */
    memcpy(tag, cipher + cipher_len, SEAL_TAG_LEN);
    if (!ctx) {
        goto done;
    }
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, sealed) != 1
        || !gcm_add_aad(ctx, aad, 0)
        || EVP_DecryptUpdate(ctx, plain, &outl, cipher, (int)cipher_len) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, tag) != 1
        || EVP_DecryptFinal_ex(ctx, plain + outl, &finl) != 1
        || (apr_size_t)(outl + finl) != cipher_len) {
        goto done;
    }
    rc = 0;
done:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int secauth_unseal(apr_pool_t *p, const unsigned char *key, const char *sealed,
                   const char *aad, unsigned char **plain, apr_size_t *len)
{
    unsigned char *raw, *out;
    apr_size_t raw_len, out_len;

    if (!key || !sealed || strncmp(sealed, SEAL_PREFIX, SEAL_PREFIX_LEN) != 0) {
        return -1;
    }
    sealed += SEAL_PREFIX_LEN;
    if (secauth_b64url_decode(p, sealed, strlen(sealed), &raw, &raw_len) != 0
        || raw_len < SEAL_NONCE_LEN + SEAL_TAG_LEN) {
        return -1;
    }
    out_len = raw_len - SEAL_NONCE_LEN - SEAL_TAG_LEN;
    /* One spare byte so a sealed string comes back NUL-terminated. */
    out = apr_palloc(p, out_len + 1);
    if (gcm_decrypt(key, raw, raw_len, aad, out) != 0) {
        /* Unauthenticated plaintext must not linger in the pool. */
        OPENSSL_cleanse(out, out_len + 1);
        return -1;
    }
    out[out_len] = '\0';
    *plain = out;
    *len = out_len;
    return 0;
}
