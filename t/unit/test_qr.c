/* test_qr.c — unit tests of qr.c: the PNG must decode (zbarimg) to exactly the otpauth URI an
 * authenticator app is meant to read; the SVG must be a standalone, scalable document. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "tap.h"
#include "qr.h"

#define ZBAR_OUTPUT_MAX 4096

static int write_temp_file(const unsigned char *data, apr_size_t len, char *path)
{
    int fd = mkstemp(path);
    FILE *f;
    int rv = 0;

    if (fd < 0)
        return -1;
    f = fdopen(fd, "wb");
    if (f == NULL) {
        close(fd);
        return -1;
    }
    if (fwrite(data, 1, len, f) != len)
        rv = -1;
    if (fclose(f) != 0)
        rv = -1;
    return rv;
}

/* What zbarimg reads from the image, without its trailing newline; NULL when it reads nothing. */
static const char *zbar_decode(apr_pool_t *p, const char *path)
{
    char *command = apr_psprintf(p, "zbarimg --raw -q '%s' 2>/dev/null", path);
    char *output = apr_pcalloc(p, ZBAR_OUTPUT_MAX);
    size_t len;
    FILE *pipe = popen(command, "r");

    if (pipe == NULL)
        return NULL;
    len = fread(output, 1, ZBAR_OUTPUT_MAX - 1, pipe);
    if (pclose(pipe) != 0 || len == 0)
        return NULL;
    while (len > 0 && (output[len - 1] == '\n' || output[len - 1] == '\r'))
        output[--len] = '\0';
    return output;
}

static void test_png_decodes(apr_pool_t *p, const char *uri, const char *label)
{
    static const unsigned char png_signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    const unsigned char *png = NULL;
    apr_size_t len = 0;
    char path[] = "/tmp/secauth_qr_XXXXXX";

    ok(secauth_qr_png(p, uri, &png, &len) == 0, "PNG of %s", label);
    ok(png && len > sizeof(png_signature) && memcmp(png, png_signature, 8) == 0,
       "%s PNG starts with the PNG signature", label);
    if (png == NULL || write_temp_file(png, len, path) != 0) {
        ok(0, "%s PNG written to a temporary file", label);
        return;
    }
    is_str(zbar_decode(p, path), uri, "zbarimg reads the %s URI back exactly", label);
    unlink(path);
}

static void test_svg(apr_pool_t *p, const char *uri)
{
    const char *svg = secauth_qr_svg(p, uri);

    ok(svg != NULL, "SVG rendered");
    if (svg == NULL)
        svg = "";
    ok(strncmp(svg, "<?xml", 5) == 0 || strncmp(svg, "<svg", 4) == 0,
       "SVG starts as an XML document");
    ok(strstr(svg, "viewBox=\"0 0 ") != NULL, "SVG has a viewBox");
    ok(strstr(svg, "xmlns=\"http://www.w3.org/2000/svg\"") != NULL, "SVG declares its namespace");
    ok(strstr(svg, "shape-rendering=\"crispEdges\"") != NULL, "SVG asks for crisp edges");
    ok(strstr(svg, "<path") != NULL && strstr(svg, " d=\"M4,4h") != NULL,
       "SVG path starts at the finder pattern inside the quiet zone");
    ok(strstr(svg, "</svg>") != NULL, "SVG is closed");
}

static void test_failures(apr_pool_t *p)
{
    const unsigned char *png = NULL;
    apr_size_t len = 0;
    char *too_long = apr_palloc(p, 8001);

    memset(too_long, 'x', 8000);
    too_long[8000] = '\0';
    ok(secauth_qr_png(p, NULL, &png, &len) != 0, "PNG of NULL text fails");
    ok(secauth_qr_png(p, "", &png, &len) != 0, "PNG of empty text fails");
    ok(secauth_qr_png(p, too_long, &png, &len) != 0, "PNG of text beyond QR capacity fails");
    ok(secauth_qr_svg(p, NULL) == NULL, "SVG of NULL text fails");
    ok(secauth_qr_svg(p, too_long) == NULL, "SVG of text beyond QR capacity fails");
}

int main(void)
{
    static const char plain_uri[] =
        "otpauth://totp/SecAuth:testuser?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        "&issuer=SecAuth&algorithm=SHA1&digits=6&period=30";
    static const char encoded_uri[] =
        "otpauth://totp/SecAuth:a%20b%40c%2Bd?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        "&issuer=SecAuth&algorithm=SHA1&digits=6&period=30";
    apr_pool_t *pool;

    apr_initialize();
    apr_pool_create(&pool, NULL);

    test_png_decodes(pool, plain_uri, "plain");
    test_png_decodes(pool, encoded_uri, "percent-encoded");
    test_svg(pool, plain_uri);
    test_failures(pool);

    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
