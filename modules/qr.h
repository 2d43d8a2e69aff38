/* qr.h — renders text (an otpauth URI) as a QR code: PNG through libpng, or SVG. */
#ifndef SECAUTH_QR_H
#define SECAUTH_QR_H

#include <apr_pools.h>

/* PNG bytes of the QR code (error correction M, 4-module quiet zone, 8 px per module).
 * Returns 0 on success. */
int secauth_qr_png(apr_pool_t *p, const char *text, const unsigned char **png, apr_size_t *len);

/* A standalone SVG document of the QR code; NULL on failure. */
const char *secauth_qr_svg(apr_pool_t *p, const char *text);

#endif
