/* totp.c — TOTP (RFC 6238) for two-factor enrolment and login: liboath computes the codes and
 * the Base32 encoding; this file adds the step window, constant-time matching and otpauth URIs. */
#include <string.h>
#include <stdlib.h>

#include <liboath/oath.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "totp.h"
#include "crypto.h"

/* Each byte becomes at most three characters (%XX), plus the terminating NUL. */
#define PCT_ENCODED_MAX(n) ((n) * 3 + 1)

int secauth_totp_init(void)
{
    return oath_init() == OATH_OK ? 0 : -1;
}

/* Decoded secrets pass through liboath's malloc'd buffers; they must not linger in freed heap. */
static void wipe(void *buf, apr_size_t len)
{
    volatile unsigned char *bytes = buf;

    while (len--)
        *bytes++ = 0;
}

char *secauth_base32_encode(apr_pool_t *p, const unsigned char *data, apr_size_t len)
{
    char *encoded = NULL;
    size_t encoded_len = 0;
    char *copy;

    if (len == 0)
        return apr_pstrdup(p, "");
    if (oath_base32_encode((const char *)data, len, &encoded, &encoded_len) != OATH_OK)
        return NULL;

    /* Authenticator apps and the otpauth URI format expect Base32 without padding. */
    while (encoded_len > 0 && encoded[encoded_len - 1] == '=')
        encoded_len--;
    copy = apr_pstrmemdup(p, encoded, encoded_len);
    free(encoded);
    return copy;
}

/* Secrets are often typed or pasted as "jbsw y3dp ..." with lower case and padding; liboath is
 * given one canonical form so that its acceptance does not depend on its version. */
static char *normalise_base32(apr_pool_t *p, const char *text, apr_size_t *norm_len)
{
    char *norm = apr_palloc(p, strlen(text) + 1);
    apr_size_t n = 0;

    for (; *text; text++) {
        if (apr_isspace(*text))
            continue;
        norm[n++] = apr_toupper(*text);
    }
    while (n > 0 && norm[n - 1] == '=')
        n--;
    norm[n] = '\0';
    *norm_len = n;
    return norm;
}

int secauth_base32_decode(apr_pool_t *p, const char *text, unsigned char **out, apr_size_t *len)
{
    char *decoded = NULL;
    size_t decoded_len = 0;
    apr_size_t norm_len;
    char *norm;

    if (text == NULL || out == NULL || len == NULL)
        return -1;
    norm = normalise_base32(p, text, &norm_len);
    if (norm_len == 0) {
        *out = apr_pcalloc(p, 1);
        *len = 0;
        return 0;
    }
    if (oath_base32_decode(norm, norm_len, &decoded, &decoded_len) != OATH_OK) {
        free(decoded);
        return -1;
    }
    *out = apr_pmemdup(p, decoded, decoded_len);
    *len = decoded_len;
    wipe(decoded, decoded_len);
    free(decoded);
    return 0;
}

long long secauth_totp_step(apr_time_t now)
{
    return (long long)(apr_time_sec(now) / SECAUTH_TOTP_PERIOD);
}

/* The code of one step into buf (SECAUTH_TOTP_DIGITS + 1 bytes). TOTP is HOTP with the step
 * as counter, so the window is walked step by step rather than by faking times. */
static int code_for_step(const unsigned char *secret, apr_size_t len, long long step, char *buf)
{
    if (step < 0)
        return -1;
    return oath_hotp_generate((const char *)secret, len, (uint64_t)step, SECAUTH_TOTP_DIGITS,
                              false, OATH_HOTP_DYNAMIC_TRUNCATION, buf) == OATH_OK ? 0 : -1;
}

static int is_six_digits(const char *code)
{
    int i;

    for (i = 0; i < SECAUTH_TOTP_DIGITS; i++)
        if (code[i] < '0' || code[i] > '9')
            return 0;
    return code[SECAUTH_TOTP_DIGITS] == '\0';
}

int secauth_totp_verify(const unsigned char *secret, apr_size_t len, const char *code,
                        apr_time_t now, int skew, long long *matched_step)
{
    long long current = secauth_totp_step(now);
    long long step, found = -1;
    char expected[SECAUTH_TOTP_DIGITS + 1];

    if (secret == NULL || len == 0 || code == NULL || !is_six_digits(code))
        return 0;
    if (skew < 0)
        skew = 0;

    /* Every step of the window is computed and compared, so the time taken does not tell
     * which step (if any) matched. The latest match wins: recording the highest step is what
     * the replay check needs. */
    for (step = current - skew; step <= current + skew; step++) {
        if (code_for_step(secret, len, step, expected) != 0)
            continue;
        if (secauth_ct_equal(expected, code, SECAUTH_TOTP_DIGITS))
            found = step;
    }
    wipe(expected, sizeof(expected));

    if (found < 0)
        return 0;
    if (matched_step)
        *matched_step = found;
    return 1;
}

const char *secauth_totp_code(apr_pool_t *p, const unsigned char *secret, apr_size_t len,
                              long long step)
{
    char buf[SECAUTH_TOTP_DIGITS + 1];

    if (secret == NULL || len == 0 || code_for_step(secret, len, step, buf) != 0)
        return NULL;
    return apr_pstrmemdup(p, buf, SECAUTH_TOTP_DIGITS);
}

/* RFC 3986 unreserved characters; tested by value so the locale cannot widen the set. */
static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
        || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Account names may hold '@', '+', ' ' or ':', which would otherwise break the label and
 * query of the URI that authenticator apps parse. */
static char *percent_encode(apr_pool_t *p, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    apr_size_t text_len = text ? strlen(text) : 0;
    char *encoded = apr_palloc(p, PCT_ENCODED_MAX(text_len));
    char *out = encoded;
    apr_size_t i;

    for (i = 0; i < text_len; i++) {
        unsigned char c = (unsigned char)text[i];

        if (is_unreserved(c)) {
            *out++ = c;
        }
        else {
            *out++ = '%';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 0x0F];
        }
    }
    *out = '\0';
    return encoded;
}

char *secauth_otpauth_uri(apr_pool_t *p, const char *issuer, const char *account,
                          const char *base32_secret)
{
    const char *pct_issuer = percent_encode(p, issuer);

    /* A well-formed Base32 secret is all unreserved characters, so encoding it changes
     * nothing; it only keeps a malformed one from injecting URI syntax. */
    return apr_pstrcat(p, "otpauth://totp/", pct_issuer, ":", percent_encode(p, account),
                       "?secret=", percent_encode(p, base32_secret),
                       "&issuer=", pct_issuer,
                       "&algorithm=SHA1&digits=6&period=30", NULL);
}
