/* parse.c — byte-level parsers for paths, ids, media types and query strings: small, total
 * functions with no httpd dependency, each safe on any input (they are fuzzed). */
#include "parse.h"

#include <apr_strings.h>
#include <apr_lib.h>
#include <string.h>

int secauth_utf8_valid(const char *str, apr_size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;

    while (s < end) {
        unsigned int c = *s, need, cp, i;
        if (c == 0) return 0;
        if (c < 0x80) { s++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; }
        else return 0;
        if ((apr_size_t)(end - s) <= need) return 0;
        for (i = 1; i <= need; i++) {
            if ((s[i] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF))
            || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0;
        }
        s += need + 1;
    }
    return 1;
}

int secauth_parse_id(const char *s)
{
    apr_int64_t v = 0;
    const char *c;

    if (!s || !*s || *s == '0' || strlen(s) > 10) {
        return 0;
    }
    for (c = s; *c; c++) {
        if (!apr_isdigit(*c)) return 0;
        v = v * 10 + (*c - '0');
    }
    return v <= 2147483647 ? (int)v : 0;
}

int secauth_route_match(apr_pool_t *p, const char *pattern, const char *path, int *id,
                        const char **name)
{
    int bad_id = 0;

    while (*pattern && *path) {
        const char *pseg_end, *seg_end;
        if (*pattern != '/' || *path != '/') return 0;
        pattern++;
        path++;
        pseg_end = strchr(pattern, '/');
        if (!pseg_end) pseg_end = pattern + strlen(pattern);
        seg_end = strchr(path, '/');
        if (!seg_end) seg_end = path + strlen(path);

        if (*pattern == '{') {
            char *seg;
            if (seg_end == path) return 0;
            seg = apr_pstrmemdup(p, path, seg_end - path);
            if (!strncmp(pattern, "{id}", 4)) {
                *id = secauth_parse_id(seg);
                if (!*id) bad_id = 1;
            }
            else {
                *name = seg;
            }
        }
        else if ((pseg_end - pattern) != (seg_end - path)
                 || strncmp(pattern, path, pseg_end - pattern)) {
            return 0;
        }
        pattern = pseg_end;
        path = seg_end;
    }
    if (*pattern || *path) return 0;
    return bad_id ? -1 : 1;
}

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    return s;
}

int secauth_json_media_type(const char *ct)
{
    const char *at;

    if (!ct) return 0;
    ct = skip_blanks(ct);
    if (strncasecmp(ct, "application/json", 16)) return 0;
    at = skip_blanks(ct + 16);
    while (*at) {
        if (*at != ';') return 0;
        at = skip_blanks(at + 1);
        if (!*at) break;
        if (strncasecmp(at, "charset=", 8)) return 0;
        at += 8;
        if (*at == '"') {
            if (strncasecmp(at + 1, "utf-8\"", 6)) return 0;
            at += 7;
        }
        else {
            if (strncasecmp(at, "utf-8", 5)) return 0;
            at += 5;
        }
        at = skip_blanks(at);
    }
    return 1;
}

const char *secauth_query_param(apr_pool_t *p, const char *query, const char *name,
                                int *repeated)
{
    apr_size_t n = strlen(name);
    const char *found = NULL, *at = query;

    if (repeated) *repeated = 0;
    while (at && *at) {
        const char *end = strchr(at, '&');
        if (!end) end = at + strlen(at);
        if (!strncmp(at, name, n) && (at[n] == '=' || at + n == end)) {
            if (found && repeated) *repeated = 1;
            if (!found) {
                found = at[n] == '=' ? apr_pstrmemdup(p, at + n + 1, end - at - n - 1) : "";
            }
        }
        at = *end ? end + 1 : end;
    }
    return found;
}
