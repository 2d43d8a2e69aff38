/* test_parse.c — unit tests of the path, id, media-type, query and UTF-8 parsers. */
#include "tap.h"
#include "parse.h"

#include <apr_general.h>

static void test_ids(void)
{
    is_int(secauth_parse_id("7"), 7, "7 is an id");
    is_int(secauth_parse_id("2147483647"), 2147483647, "INT32_MAX is an id");
    is_int(secauth_parse_id("2147483648"), 0, "INT32_MAX + 1 is not");
    is_int(secauth_parse_id("99999999999"), 0, "11 digits are not");
    is_int(secauth_parse_id("0"), 0, "0 is not");
    is_int(secauth_parse_id("-1"), 0, "-1 is not");
    is_int(secauth_parse_id("01"), 0, "a leading zero is not");
    is_int(secauth_parse_id("1e3"), 0, "1e3 is not");
    is_int(secauth_parse_id("abc"), 0, "abc is not");
    is_int(secauth_parse_id(""), 0, "empty is not");
    is_int(secauth_parse_id(NULL), 0, "NULL is not");
    is_int(secauth_parse_id(" 1"), 0, "a space is not");
}

static void test_routes(apr_pool_t *p)
{
    int id = -5;
    const char *name = NULL;

    is_int(secauth_route_match(p, "/health", "/health", &id, &name), 1, "literal match");
    is_int(secauth_route_match(p, "/health", "/health/", &id, &name), 0, "trailing slash differs");
    is_int(secauth_route_match(p, "/health", "/healthz", &id, &name), 0, "longer segment differs");
    is_int(secauth_route_match(p, "/products/{id}", "/products/42", &id, &name), 1, "id route");
    is_int(id, 42, "id parsed");
    is_int(secauth_route_match(p, "/products/{id}", "/products/4x", &id, &name), -1,
           "malformed id reported");
    is_int(secauth_route_match(p, "/products/{id}", "/products/", &id, &name), 0,
           "empty segment is no match");
    is_int(secauth_route_match(p, "/users/{id}/2fa", "/users/3/2fa", &id, &name), 1, "id in the middle");
    is_int(secauth_route_match(p, "/users/{id}/2fa", "/users/3/unlock", &id, &name), 0, "other tail");
    is_int(secauth_route_match(p, "/generate-qr/{name}", "/generate-qr/alice", &id, &name), 1,
           "name route");
    is_str(name, "alice", "name captured");
    is_int(secauth_route_match(p, "/generate-qr/{name}", "/generate-qr/a/b", &id, &name), 0,
           "name is one segment");
    is_int(secauth_route_match(p, "/products", "", &id, &name), 0, "empty path");
    is_int(secauth_route_match(p, "/products", "products", &id, &name), 0, "relative path");
}

static void test_media_types(void)
{
    ok(secauth_json_media_type("application/json"), "application/json");
    ok(secauth_json_media_type("Application/JSON"), "case-insensitive type");
    ok(secauth_json_media_type("application/json; charset=utf-8"), "charset=utf-8");
    ok(secauth_json_media_type("application/json;charset=\"UTF-8\""), "quoted charset");
    ok(!secauth_json_media_type("application/json; charset=latin1"), "another charset");
    ok(!secauth_json_media_type("application/jsonp"), "a longer type");
    ok(!secauth_json_media_type("text/plain"), "text/plain");
    ok(!secauth_json_media_type("application/json; boundary=x"), "another parameter");
    ok(!secauth_json_media_type(NULL), "missing");
    ok(!secauth_json_media_type(""), "empty");
}

static void test_query(apr_pool_t *p)
{
    int rep = 0;
    is_str(secauth_query_param(p, "limit=10&after=3", "limit", &rep), "10", "first parameter");
    is_str(secauth_query_param(p, "limit=10&after=3", "after", &rep), "3", "second parameter");
    is_str(secauth_query_param(p, "limit=10&after=3", "format", &rep), NULL, "absent");
    is_str(secauth_query_param(p, "limitx=1", "limit", &rep), NULL, "prefix of another name");
    is_str(secauth_query_param(p, "limit", "limit", &rep), "", "bare name");
    is_str(secauth_query_param(p, "limit=1&limit=2", "limit", &rep), "1", "first of repeats");
    is_int(rep, 1, "repeat reported");
    is_str(secauth_query_param(p, NULL, "limit", &rep), NULL, "no query");
    is_str(secauth_query_param(p, "&&limit=5&", "limit", &rep), "5", "stray separators");
}

static void test_utf8(void)
{
    ok(secauth_utf8_valid("h\xc3\xa9llo", 6), "two-byte sequence");
    ok(secauth_utf8_valid("\xf0\x9f\x98\x80", 4), "four-byte sequence");
    ok(!secauth_utf8_valid("\xc0\xaf", 2), "overlong slash");
    ok(!secauth_utf8_valid("\xe0\x80\xaf", 3), "three-byte overlong");
    ok(!secauth_utf8_valid("\xed\xa0\x80", 3), "surrogate");
    ok(!secauth_utf8_valid("\xf4\x90\x80\x80", 4), "past U+10FFFF");
    ok(!secauth_utf8_valid("\xc3", 1), "truncated");
    ok(!secauth_utf8_valid("a\0b", 3), "NUL");
    ok(!secauth_utf8_valid("\xff", 1), "0xFF");
}

int main(void)
{
    apr_pool_t *p;
    apr_initialize();
    apr_pool_create(&p, NULL);
    test_ids();
    test_routes(p);
    test_media_types();
    test_query(p);
    test_utf8();
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
