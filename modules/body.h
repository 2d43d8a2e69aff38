/* body.h — the checks of a JSON request body that need no request: the top level (valid UTF-8,
 * strict JSON without duplicate keys, an object), members that are not allowed, and the list
 * of field errors. Pure (APR and jansson only), so unit tests and fuzzers call them directly. */
#ifndef SECAUTH_BODY_H
#define SECAUTH_BODY_H

#include <apr_pools.h>
#include <jansson.h>

/* The JSON object in buf[0..len): a new reference, or NULL with *err (from p) saying why. */
json_t *secauth_json_body(apr_pool_t *p, const char *buf, apr_size_t len, const char **err);

/* Appends {"field": field, "detail": detail} to the array errors. */
void secauth_errors_add(json_t *errors, const char *field, const char *detail);

/* Appends "is not a known field" to errors for each member of body not in allowed
 * (NULL-terminated). */
void secauth_unknown_fields(json_t *body, const char *const *allowed, json_t *errors);

#endif
