/* product_input.c — validation of a product body (API.md §5): every field checked, each bad
 * one reported, prices turned into integer cents. Pure (APR and jansson only): products.c calls
 * it on a parsed request body, and fuzz/fuzz_product.c on arbitrary JSON. */
#include "product_input.h"
#include "body.h"

#include <apr_strings.h>
#include <apr_lib.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_CHARS        100
#define DESCRIPTION_MAX_CHARS 255
#define PRICE_MAX_UNITS       APR_INT64_C(99999999)
#define QUANTITY_MAX          2147483647


static apr_size_t utf8_chars(const char *s, apr_size_t len)
{
    apr_size_t i, n = 0;
    for (i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

/* A JSON string of min..max code points (the body parser already refused NUL and bad UTF-8):
 * NULL and *out set, or the field error. */
static const char *check_text(apr_pool_t *p, json_t *v, apr_size_t min, apr_size_t max,
                              const char **out)
{
    apr_size_t chars = utf8_chars(json_string_value(v), json_string_length(v));

    if (chars < min || chars > max) {
        return min ? apr_psprintf(p, "must be %" APR_SIZE_T_FMT " to %" APR_SIZE_T_FMT
                                  " characters", min, max)
                   : apr_psprintf(p, "must be at most %" APR_SIZE_T_FMT " characters", max);
    }
    *out = apr_pstrmemdup(p, json_string_value(v), json_string_length(v));
    return NULL;
}

/* Decimal text → cents: the %.2f text of an accepted price, "19.99" from DECIMAL(10,2), the
 * stored text in SQLite. Anything else (a migrated "1e3") goes through strtod. */
apr_int64_t secauth_decimal_cents(const char *s)
{
    const char *c = s;
    int decimals = -1;
    apr_int64_t cents = 0;

    if (!s) return 0;
    for (; *c; c++) {
        if (*c == '.' && decimals < 0) decimals = 0;
        else if (apr_isdigit(*c) && decimals < 2 && cents < PRICE_MAX_CENTS * 10) {
            cents = cents * 10 + (*c - '0');
            if (decimals >= 0) decimals++;
        }
        else break;
    }
    if (*c || c == s) {
        return (apr_int64_t)llround(strtod(s, NULL) * 100.0);
    }
    if (decimals < 0) decimals = 0;
    for (; decimals < 2; decimals++) cents *= 10;
    return cents;
}

/* Price: a JSON number from 0 to 99999999.99 with at most two decimals. A real is accepted
 * only when printing it with two decimals and reading that back gives the very same double,
 * i.e. the client meant a decimal with at most two places (0.1 and 19.99 pass, 0.001 not). */
static const char *check_price(json_t *v, apr_int64_t *cents)
{
    char text[64];
    double d;

    if (json_is_integer(v)) {
        json_int_t units = json_integer_value(v);
        if (units < 0) return "must be at least 0";
        if (units > PRICE_MAX_UNITS) return "must be at most 99999999.99";
        *cents = (apr_int64_t)units * 100;
        return NULL;
    }
    if (!json_is_real(v)) {
        return "must be a number";
    }
    d = json_real_value(v);
    if (!isfinite(d)) return "must be a number";
    if (d < 0) return "must be at least 0";
    /* coarse bound first: keeps the text below short, the exact bound is on cents */
    if (d >= 1e9) return "must be at most 99999999.99";
    snprintf(text, sizeof(text), "%.2f", d);
    if (strtod(text, NULL) != d) return "must have at most two decimal places";
    *cents = secauth_decimal_cents(text);
    if (*cents > PRICE_MAX_CENTS) return "must be at most 99999999.99";
    return NULL;
}

/* Quantity: an integer 0..2147483647; a real with no fraction (5.0) is an integer too. */
static const char *check_quantity(json_t *v, int *quantity)
{
    double d;

    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < 0) return "must be at least 0";
        if (n > QUANTITY_MAX) return "must be at most 2147483647";
        *quantity = (int)n;
        return NULL;
    }
    if (!json_is_real(v) || !isfinite(d = json_real_value(v)) || floor(d) != d) {
        return "must be an integer";
    }
    if (d < 0) return "must be at least 0";
    if (d > QUANTITY_MAX) return "must be at most 2147483647";
    *quantity = (int)d;
    return NULL;
}

void secauth_product_validate(apr_pool_t *p, json_t *body, int creating,
                              secauth_product_input_t *in, json_t *errors)
{
    json_t *v;
    const char *err;

    memset(in, 0, sizeof(*in));
    if ((v = json_object_get(body, "name"))) {
        if (!json_is_string(v)) secauth_errors_add(errors, "name", "must be a string");
        else if ((err = check_text(p, v, 1, NAME_MAX_CHARS, &in->name)))
            secauth_errors_add(errors, "name", err);
        else in->has_name = 1;
    }
    else if (creating) {
        secauth_errors_add(errors, "name", "is required");
    }

    if ((v = json_object_get(body, "description"))) {
        if (json_is_null(v)) in->has_description = 1;
        else if (!json_is_string(v))
            secauth_errors_add(errors, "description", "must be a string or null");
        else if ((err = check_text(p, v, 0, DESCRIPTION_MAX_CHARS, &in->description)))
            secauth_errors_add(errors, "description", err);
        else in->has_description = 1;
    }

    if ((v = json_object_get(body, "price"))) {
        if ((err = check_price(v, &in->cents))) secauth_errors_add(errors, "price", err);
        else in->has_price = 1;
    }
    else if (creating) {
        secauth_errors_add(errors, "price", "is required");
    }

    if ((v = json_object_get(body, "quantity"))) {
        if ((err = check_quantity(v, &in->quantity))) secauth_errors_add(errors, "quantity", err);
        else in->has_quantity = 1;
    }
}

