/* product_input.h — validation of a product request body, apart from request handling. */
#ifndef SECAUTH_PRODUCT_INPUT_H
#define SECAUTH_PRODUCT_INPUT_H

#include <apr_pools.h>
#include <jansson.h>

#define PRICE_MAX_CENTS APR_INT64_C(9999999999)   /* DECIMAL(10,2): 99999999.99 */

/* The fields a request body gives; has_* tells which were present. */
typedef struct {
    int has_name, has_description, has_price, has_quantity;
    const char *name;
    const char *description;      /* NULL: set to null */
    apr_int64_t cents;
    int quantity;
} secauth_product_input_t;

/* Fills *in from body (strings from p) and appends {field, detail} to the array errors for
 * every bad field; creating makes name and price required. Unknown members are not checked
 * here (secauth_unknown_fields). */
void secauth_product_validate(apr_pool_t *p, json_t *body, int creating,
                              secauth_product_input_t *in, json_t *errors);

/* Decimal text → cents: the %.2f text of an accepted price, "19.99" from DECIMAL(10,2), the
 * stored text in SQLite; anything else (a migrated "1e3") goes through strtod. 0 for NULL. */
apr_int64_t secauth_decimal_cents(const char *s);

#endif
