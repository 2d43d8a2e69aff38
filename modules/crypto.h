/* crypto.h — random bytes, AES-256-GCM sealing of small secrets, HMAC, constant-time compare,
 * base64url and hex: the OpenSSL-backed primitives every other part builds on. */
#ifndef SECAUTH_CRYPTO_H
#define SECAUTH_CRYPTO_H

#include <apr_pools.h>

#define SECAUTH_SEAL_KEY_LEN 32

/* Cryptographically secure random bytes (OpenSSL RAND_bytes). Returns 0 on success. */
int secauth_random_bytes(unsigned char *buf, apr_size_t len);

/* Seals plain bytes with AES-256-GCM under key (32 bytes) with a fresh 96-bit nonce.
 * Result is printable text "v1." + base64url(nonce || ciphertext || tag); NULL on failure.
 * aad (may be NULL) binds the ciphertext to a context, e.g. the user id, so a sealed value
 * copied into another row does not open. */
const char *secauth_seal(apr_pool_t *p, const unsigned char *key,
                         const unsigned char *plain, apr_size_t len, const char *aad);

/* Opens what secauth_seal produced. Returns 0 and sets *plain and *len on success,
 * -1 on any failure (bad format, wrong key, tampering, wrong aad). */
int secauth_unseal(apr_pool_t *p, const unsigned char *key, const char *sealed,
                   const char *aad, unsigned char **plain, apr_size_t *len);

/* 1 when the n bytes at a and b are equal; time does not depend on where they differ. */
int secauth_ct_equal(const void *a, const void *b, apr_size_t n);

/* HMAC-SHA256(key, data) as 64 lower-case hex characters. */
const char *secauth_hmac_sha256_hex(apr_pool_t *p, const unsigned char *key, apr_size_t key_len,
                                    const void *data, apr_size_t len);

/* base64url without padding (RFC 4648 §5). decode returns 0 on success, -1 on bad input. */
char *secauth_b64url_encode(apr_pool_t *p, const unsigned char *data, apr_size_t len);
int secauth_b64url_decode(apr_pool_t *p, const char *text, apr_size_t text_len,
                          unsigned char **out, apr_size_t *out_len);

/* Standard base64 (RFC 4648 §4) without padding, as PHC hash strings write it; decode refuses
 * '=' padding and characters of the url alphabet. 0 on success, -1 on bad input. */
char *secauth_b64_encode_unpadded(apr_pool_t *p, const unsigned char *data, apr_size_t len);
int secauth_b64_decode_unpadded(apr_pool_t *p, const char *text, apr_size_t text_len,
                                unsigned char **out, apr_size_t *out_len);

/* Lower-case hex of len bytes. */
char *secauth_hex(apr_pool_t *p, const unsigned char *data, apr_size_t len);

/* len random bytes as hex (2*len characters): ids such as a token's jti. */
char *secauth_random_hex(apr_pool_t *p, apr_size_t len);

#endif
