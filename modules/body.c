/* body.c — the top-level checks of a JSON request body and the field-error list, kept apart
 * from request handling (http.c) so that they can be unit-tested and fuzzed without httpd. */
#include "body.h"
#include "parse.h"

#include <apr_strings.h>
#include <string.h>

/* What went wrong, in the module's words: the parser's own messages name its internals
 * (options such as JSON_ALLOW_NUL), which no client needs to read. */
static const char *parse_problem(const json_error_t *jerr)
{
    switch (json_error_code(jerr)) {
    case json_error_premature_end_of_input:
        return "the body ends inside the JSON value";
    case json_error_end_of_input_expected:
        return "there is more after the JSON value";
    case json_error_null_character:
    case json_error_null_byte_in_key:
        return "NUL characters are not allowed";
    case json_error_duplicate_key:
        return "a member name appears twice in one object (duplicate key)";
    case json_error_numeric_overflow:
        return "a number is too large";
    case json_error_stack_overflow:
        return "the value is nested too deeply";
    case json_error_invalid_utf8:
        return "the text is not valid UTF-8";
    default:
        return "malformed JSON";
    }
}

json_t *secauth_json_body(apr_pool_t *p, const char *buf, apr_size_t len, const char **err)
{
    json_error_t jerr;
    json_t *value;

    if (!len) {
        *err = "the request body is empty";
        return NULL;
    }
    if (!secauth_utf8_valid(buf, len)) {
        *err = "the body is not valid UTF-8";
        return NULL;
    }
    /* JSON_DECODE_ANY so that a scalar top level gets the same message as an array; without
     * JSON_ALLOW_NUL, jansson refuses \u0000 in strings and keys */
    value = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!value) {
        *err = apr_psprintf(p, "invalid JSON at line %d, column %d: %s",
                            jerr.line, jerr.column, parse_problem(&jerr));
        return NULL;
    }
    if (!json_is_object(value)) {
        json_decref(value);
        *err = "the body must be a JSON object";
        return NULL;
    }
    return value;
}

void secauth_errors_add(json_t *errors, const char *field, const char *detail)
{
    json_array_append_new(errors, json_pack("{s:s, s:s}", "field", field, "detail", detail));
}

void secauth_unknown_fields(json_t *body, const char *const *allowed, json_t *errors)
{
    const char *key;
    json_t *value;

    json_object_foreach(body, key, value) {
        const char *const *a;
        for (a = allowed; *a && strcmp(*a, key); a++) {
        }
        if (!*a) {
            secauth_errors_add(errors, key, "is not a known field");
        }
    }
    (void)value;
}
