/* qr.c — the QR code an authenticator app scans at enrolment: libqrencode lays out the modules,
 * libpng writes the PNG into pool memory, and the SVG is written here as one path. */
#include <string.h>

#include <png.h>
#include <qrencode.h>

#include <apr_strings.h>

#include "qr.h"

#define QUIET_ZONE_MODULES 4 /* the minimum ISO/IEC 18004 asks for around the symbol */
#define PIXELS_PER_MODULE 8
#define PNG_INITIAL_CAPACITY 4096

/* Where libpng's output accumulates: pool memory, so nothing needs freeing on error paths. */
typedef struct {
    apr_pool_t *pool;
    unsigned char *data;
    apr_size_t len;
    apr_size_t capacity;
} png_buffer;

static QRcode *encode_text(const char *text)
{
    if (text == NULL || *text == '\0')
        return NULL;
    return QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
}

/* libqrencode marks a dark module with the lowest bit of its byte. */
static int module_is_dark(const QRcode *qr, int x, int y)
{
    if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
        return 0;
    return qr->data[y * qr->width + x] & 1;
}

static void png_buffer_write(png_structp png, png_bytep bytes, png_size_t count)
{
    png_buffer *buf = png_get_io_ptr(png);

    if (buf->len + count > buf->capacity) {
        apr_size_t capacity = buf->capacity * 2;
        unsigned char *grown;

        while (capacity < buf->len + count)
            capacity *= 2;
        /* The old block stays in the pool until it is cleared: a QR PNG is a few KB and the
         * buffer doubles, so the waste is bounded by the final size. */
        grown = apr_palloc(buf->pool, capacity);
        memcpy(grown, buf->data, buf->len);
        buf->data = grown;
        buf->capacity = capacity;
    }
    memcpy(buf->data + buf->len, bytes, count);
    buf->len += count;
}

/* Nothing to flush in memory; without this libpng would fflush() the io pointer as a FILE. */
static void png_buffer_flush(png_structp png)
{
    (void)png;
}

/* One row of 1-bit grayscale pixels: a set bit is white, a clear bit black. */
static void fill_png_row(const QRcode *qr, int module_y, png_bytep row, int width_px)
{
    int x;

    memset(row, 0, (width_px + 7) / 8);
    for (x = 0; x < width_px; x++) {
        int module_x = x / PIXELS_PER_MODULE - QUIET_ZONE_MODULES;

        if (!module_is_dark(qr, module_x, module_y))
            row[x / 8] |= (png_byte)(0x80 >> (x % 8));
    }
}

static void write_png_image(png_structp png, png_infop info, const QRcode *qr, png_bytep row)
{
    int modules = qr->width + 2 * QUIET_ZONE_MODULES;
    int width_px = modules * PIXELS_PER_MODULE;
    int module_y, repeat;

    png_set_IHDR(png, info, width_px, width_px, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (module_y = -QUIET_ZONE_MODULES; module_y < qr->width + QUIET_ZONE_MODULES; module_y++) {
        fill_png_row(qr, module_y, row, width_px);
        for (repeat = 0; repeat < PIXELS_PER_MODULE; repeat++)
            png_write_row(png, row);
    }
    png_write_end(png, info);
}

static int render_png(apr_pool_t *p, const QRcode *qr, png_buffer *buf)
{
    int width_px = (qr->width + 2 * QUIET_ZONE_MODULES) * PIXELS_PER_MODULE;
    png_bytep row = apr_palloc(p, (width_px + 7) / 8);
    png_structp png;
    png_infop info;

    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    if (png == NULL)
        return -1;
    info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        return -1;
    }
    /* libpng reports errors by longjmp; nothing below changes a local of this function, so
     * they are all still valid when it lands here. */
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, buf, png_buffer_write, png_buffer_flush);
    write_png_image(png, info, qr, row);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int secauth_qr_png(apr_pool_t *p, const char *text, const unsigned char **png, apr_size_t *len)
{
    png_buffer buf;
    QRcode *qr;
    int rv;

    if (png == NULL || len == NULL)
        return -1;
    qr = encode_text(text);
    if (qr == NULL)
        return -1;

    buf.pool = p;
    buf.data = apr_palloc(p, PNG_INITIAL_CAPACITY);
    buf.len = 0;
    buf.capacity = PNG_INITIAL_CAPACITY;
    rv = render_png(p, qr, &buf);
    QRcode_free(qr);
    if (rv != 0)
        return -1;
    *png = buf.data;
    *len = buf.len;
    return 0;
}

/* Each horizontal run of dark modules becomes one rectangle "M{x},{y}h{n}v1h-{n}z". */
#define SVG_RUN_MAX_CHARS 32

static int count_dark_runs(const QRcode *qr)
{
    int x, y, runs = 0;

    for (y = 0; y < qr->width; y++)
        for (x = 0; x < qr->width; x++)
            if (module_is_dark(qr, x, y) && !module_is_dark(qr, x - 1, y))
                runs++;
    return runs;
}

static char *svg_path_data(apr_pool_t *p, const QRcode *qr)
{
    apr_size_t capacity = (apr_size_t)count_dark_runs(qr) * SVG_RUN_MAX_CHARS + 1;
    char *path = apr_palloc(p, capacity);
    apr_size_t used = 0;
    int x, y;

    path[0] = '\0';
    for (y = 0; y < qr->width; y++) {
        for (x = 0; x < qr->width; x++) {
            int run = 0;

            if (!module_is_dark(qr, x, y) || module_is_dark(qr, x - 1, y))
                continue;
            while (module_is_dark(qr, x + run, y))
                run++;
            used += apr_snprintf(path + used, capacity - used, "M%d,%dh%dv1h-%dz",
                                 x + QUIET_ZONE_MODULES, y + QUIET_ZONE_MODULES, run, run);
        }
    }
    return path;
}

const char *secauth_qr_svg(apr_pool_t *p, const char *text)
{
    QRcode *qr = encode_text(text);
    int modules, size_px;
    char *svg;

    if (qr == NULL)
        return NULL;
    modules = qr->width + 2 * QUIET_ZONE_MODULES;
    size_px = modules * PIXELS_PER_MODULE;
    /* Units of the viewBox are modules, so the image scales without blurring; crispEdges keeps
     * renderers from anti-aliasing the seams between adjacent rectangles. */
    svg = apr_psprintf(p,
                       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\""
                       " width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\""
                       " shape-rendering=\"crispEdges\">\n"
                       "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n"
                       "<path fill=\"#000000\" d=\"%s\"/>\n"
                       "</svg>\n",
                       size_px, size_px, modules, modules, modules, modules,
                       svg_path_data(p, qr));
    QRcode_free(qr);
    return svg;
}
