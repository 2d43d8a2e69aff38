/* parse.h — the parsers that see attacker bytes before anything else and need no httpd:
 * UTF-8 checking, ids in paths, route patterns, the JSON media type, query parameters.
 * Kept free of httpd types so the unit tests and the fuzz harnesses link them alone. */
#ifndef SECAUTH_PARSE_H
#define SECAUTH_PARSE_H

#include <apr_pools.h>

/* Strict UTF-8 check of len bytes (no overlongs, no surrogates, nothing past U+10FFFF, no NUL). */
int secauth_utf8_valid(const char *s, apr_size_t len);

/* Parses a positive decimal that fits a signed 32-bit int ("7"); 0 when malformed
 * ("0", "-1", "01", "1e3", "99999999999", "abc", ""). */
int secauth_parse_id(const char *s);

/* Matches a path against a route pattern of literal segments, "{id}" and "{name}":
 * 1 match, 0 no match, -1 the shape matches but an {id} segment is malformed.
 * Sets *id and *name (a pool copy of the {name} segment) when present. */
int secauth_route_match(apr_pool_t *p, const char *pattern, const char *path, int *id,
                        const char **name);

/* 1 for "application/json", optionally with charset=utf-8 (any case, quoted or not). */
int secauth_json_media_type(const char *content_type);

/* Finds name=value in a query string (no decoding: the values the API takes are digits or
 * plain words). Returns the value as a pool string, "" for a bare name, NULL when absent.
 * *repeated is set when the name occurs more than once. */
const char *secauth_query_param(apr_pool_t *p, const char *query, const char *name,
                                int *repeated);

#endif
