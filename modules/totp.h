/* totp.h — TOTP (RFC 6238, SHA1, 6 digits, 30 s) through liboath: secret Base32, verification
 * with a step window that reports the matched step (for replay protection), otpauth URIs. */
#ifndef SECAUTH_TOTP_H
#define SECAUTH_TOTP_H

#include <apr_pools.h>
#include <apr_time.h>

#define SECAUTH_TOTP_SECRET_LEN 20
#define SECAUTH_TOTP_PERIOD 30
#define SECAUTH_TOTP_DIGITS 6

/* Call once per process before any other function here (oath_init). 0 on success. */
int secauth_totp_init(void);

/* Base32 (RFC 4648) without padding, upper-case. */
char *secauth_base32_encode(apr_pool_t *p, const unsigned char *data, apr_size_t len);
/* 0 on success; accepts upper or lower case, optional padding and spaces. */
int secauth_base32_decode(apr_pool_t *p, const char *text, unsigned char **out, apr_size_t *len);

/* The time step (unix seconds / 30) of a time. */
long long secauth_totp_step(apr_time_t now);

/* Checks a 6-digit code against the steps now-skew .. now+skew. Returns 1 and sets
 * *matched_step when one matches, 0 when none does or the code is not exactly 6 ASCII digits. */
int secauth_totp_verify(const unsigned char *secret, apr_size_t len, const char *code,
                        apr_time_t now, int skew, long long *matched_step);

/* The code for a given step (for tests and tools). */
const char *secauth_totp_code(apr_pool_t *p, const unsigned char *secret, apr_size_t len,
                              long long step);

/* otpauth://totp/ISSUER:ACCOUNT?secret=B32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
 * with issuer and account percent-encoded (RFC 3986 unreserved characters kept). */
char *secauth_otpauth_uri(apr_pool_t *p, const char *issuer, const char *account,
                          const char *base32_secret);

#endif
