/* products.c — the products CRUD of API.md §5: strict validation of every field, prices kept
 * as integer cents and stored as exact decimal text, ETags from the row's version, If-Match
 * enforced by the UPDATE/DELETE itself (WHERE version = ...) so that concurrent writers cannot
 * lose an update, and keyset pagination with a Link header. Reads are answered from the node's
 * state cache when it holds the rendered response (If-None-Match: 304), and every write
 * invalidates it before its response (API.md §12). */
#include "products.h"
#include "product_input.h"
#include "access.h"
#include "cache.h"
#include "crypto.h"
#include "idempotency.h"

#include "http_log.h"
#include "http_request.h"
#include "http_protocol.h"
#include "apr_strings.h"
#include "apr_lib.h"

#include <openssl/sha.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

APLOG_USE_MODULE(secauth);

/* Without If-Match a write retries when another writer got in between its read and its
 * conditional write; this many lost races in a row is a pathological load, answered 409. */
#define WRITE_ATTEMPTS        8

#define COLUMNS "id, name, description, price, quantity, version, created_at, updated_at"

const secauth_stmt_t secauth_product_statements[] = {
    {"secauth_prod_insert",
     "INSERT INTO products (name, description, price, quantity, version, created_at, updated_at)"
     " VALUES (%s, %s, %s, %d, 1, %s, %s) RETURNING id", NULL},
    {"secauth_prod_get", "SELECT " COLUMNS " FROM products WHERE id = %d", NULL},
    {"secauth_prod_list",
     "SELECT " COLUMNS " FROM products WHERE id > %d ORDER BY id LIMIT %d", NULL},
    /* the version condition is the If-Match check and the lost-update guard in one statement */
    {"secauth_prod_update",
     "UPDATE products SET name = %s, description = %s, price = %s, quantity = %d,"
     " version = version + 1, updated_at = %s WHERE id = %d AND version = %d", NULL},
    {"secauth_prod_delete", "DELETE FROM products WHERE id = %d AND version = %d", NULL},
    {NULL, NULL, NULL}
};

static const char *const product_fields[] = {"name", "description", "price", "quantity", NULL};
static const char *const writer_roles[] = {"editor", "admin", NULL};

typedef struct {
    int id;
    const char *name;
    const char *description;      /* NULL for SQL NULL */
    apr_int64_t cents;
    int quantity;
    int version;
    const char *created_at;       /* as the database returns it: "YYYY-MM-DD HH:MM:SS" */
    const char *updated_at;
} product_t;

/* Reads and validates a body: OK with *in filled, or the status of the 4xx answer recorded. */
static int read_input(secauth_req_t *req, int creating, secauth_product_input_t *in)
{
    json_t *body = NULL, *errors;
    int rc;

    if ((rc = secauth_read_object(req, product_fields, &body)) != OK) {
        return rc;
    }
    errors = secauth_json_pool(req->r->pool, json_array());
    secauth_product_validate(req->r->pool, body, creating, in, errors);
    if (json_array_size(errors)) {
        req->errors = errors;
        return secauth_send_field_errors(req);
    }
    return OK;
}

/* ---- representation ---- */

static const char *cents_text(apr_pool_t *p, apr_int64_t cents)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT ".%02d", cents / 100, (int)(cents % 100));
}

static void product_of_row(const char **row, product_t *prod)
{
    prod->id = atoi(row[0]);
    prod->name = row[1] ? row[1] : "";
    prod->description = row[2];
    prod->cents = secauth_decimal_cents(row[3]);
    prod->quantity = row[4] ? atoi(row[4]) : 0;
    prod->version = row[5] ? atoi(row[5]) : 0;
    prod->created_at = row[6];
    prod->updated_at = row[7];
}

/* The exact decimal as a JSON number: cents / 100.0 is the double nearest to the decimal
 * (cents < 2^53 and the division is correctly rounded), and the 15-significant-digit dump
 * prints that double back as the decimal (0.1, 19.99, 99999999.99). */
static json_t *product_json(apr_pool_t *p, const product_t *prod)
{
    const char *created = secauth_db_iso_time(p, prod->created_at);
    const char *updated = secauth_db_iso_time(p, prod->updated_at);

    return json_pack("{s:i, s:s, s:o, s:f, s:i, s:s?, s:s?}",
                     "id", prod->id, "name", prod->name,
                     "description", prod->description ? json_string(prod->description)
                                                      : json_null(),
                     "price", (double)prod->cents / 100.0,
                     "quantity", prod->quantity,
                     "created_at", created, "updated_at", updated);
}

static const char *etag_of(apr_pool_t *p, const product_t *prod)
{
    return apr_psprintf(p, "\"%d-%d\"", prod->id, prod->version);
}

/* ---- rendered reads in the state cache: "ETAG\nBODY" for a product, "NEXT\nETAG\nBODY"
 * for a list page (NEXT: the id of the Link header, 0 for none) ---- */

#define PRODUCT_ENTRY_MAX 4096     /* the longest product JSON is about 2.4 KB */
#define ROW_ENTRY_MAX 2500

/* A strong ETag for a list page: its bytes decide. */
static const char *list_etag(apr_pool_t *p, const char *body, apr_size_t len)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)body, len, digest);
    return apr_psprintf(p, "\"l-%s\"", secauth_hex(p, digest, 16));
}

/* Sends a rendered read with its ETag, or 304 when If-None-Match names it (httpd's own
 * evaluation of the conditional headers against the ETag set here). */
static int send_rendered(request_rec *r, const char *etag, const char *body, apr_size_t len)
{
    apr_table_setn(r->headers_out, "ETag", etag);
    if (apr_table_get(r->headers_in, "If-None-Match")
        && ap_meets_conditions(r) == HTTP_NOT_MODIFIED) {
        return secauth_send_not_modified(r);
    }
    return secauth_send_bytes(r, HTTP_OK, "application/json; charset=utf-8", body, len);
}

/* The entry's fields, split in place; 0 when it is not of that shape. */
static int split_entry(char *entry, int nfields, char **fields)
{
    int i;
    for (i = 0; i < nfields - 1; i++) {
        fields[i] = entry;
        if (!(entry = strchr(entry, '\n'))) return 0;
        *entry++ = '\0';
    }
    fields[nfields - 1] = entry;
    return 1;
}

static int send_product(secauth_req_t *req, int status, const product_t *prod)
{
    json_t *body = product_json(req->r->pool, prod);

    if (!body) {
        return secauth_problem(req->r, HTTP_INTERNAL_SERVER_ERROR,
                               "the product could not be encoded", NULL);
    }
    apr_table_setn(req->r->headers_out, "ETag", etag_of(req->r->pool, prod));
    return secauth_send_json(req->r, status, body);
}

/* GET /products/{id} from the database: sent, and cached under key (NULL: not cached). */
static int send_product_read(secauth_req_t *req, const char *key, const product_t *prod)
{
    request_rec *r = req->r;
    apr_size_t len = 0;
    char *body = secauth_json_text(r->pool, product_json(r->pool, prod), &len);
    const char *etag = etag_of(r->pool, prod), *entry;

    if (!body) {
        return secauth_problem(r, HTTP_INTERNAL_SERVER_ERROR,
                               "the product could not be encoded", NULL);
    }
    entry = apr_pstrcat(r->pool, etag, "\n", body, NULL);
    secauth_cache_put(r, key, r->request_time + apr_time_from_sec(3600), entry, strlen(entry));
    return send_rendered(r, etag, body, len);
}

/* ---- access ---- */

/* OK when the caller may read (any valid access token), and for writes has a writer role;
 * else the status for the handler to return (rendered with the RFC 6750 challenge). */
static int authorize(secauth_req_t *req, int write)
{
    const secauth_caller_t *caller = NULL;
    int rc = secauth_require_caller(req->r, &caller);

    if (rc != OK) {
        return rc;
    }
    if (!caller) {
        return HTTP_UNAUTHORIZED;
    }
    return write ? secauth_require_role(req->r, caller, writer_roles) : OK;
}

/* ---- database ---- */

/* 1 found, 0 absent, -1 database error. */
static int load(secauth_req_t *req, ap_dbd_t *dbd, int id, product_t *prod)
{
    secauth_rows_t rows;
    const void *args[1];

    args[0] = &id;
    if (secauth_db_select(req->r, dbd, "secauth_prod_get", args, &rows) != SECAUTH_DB_OK
        || (rows.nrows && rows.ncols < 8)) {
        return -1;
    }
    if (!rows.nrows) {
        return 0;
    }
    product_of_row(rows.rows[0], prod);
    return 1;
}

/* If-Match (RFC 9110 §13.1.1, strong comparison): 1 when absent, "*", or one of the listed
 * entity tags is the product's current one; 0 otherwise (weak and malformed tags never match). */
static int if_match(request_rec *r, const product_t *prod)
{
    const char *h = apr_table_get(r->headers_in, "If-Match");
    const char *want, *s, *end;
    apr_size_t want_len;

    if (!h) {
        return 1;
    }
    want = etag_of(r->pool, prod);
    want_len = strlen(want);
    for (s = h; *s; s = end) {
        while (*s == ' ' || *s == '\t' || *s == ',') s++;
        if (!*s) break;
        if (*s == '*') {
            return 1;
        }
        end = s;
        if (*s == '"') {
            end = strchr(s + 1, '"');
            if (!end) return 0;
            end++;
            if ((apr_size_t)(end - s) == want_len && !strncmp(s, want, want_len)) {
                return 1;
            }
        }
        while (*end && *end != ',') end++;
    }
    return 0;
}

static int stale(request_rec *r)
{
    return secauth_problem(r, HTTP_PRECONDITION_FAILED,
                           "the product has changed since that ETag (If-Match)", NULL);
}

static int not_found(request_rec *r)
{
    return secauth_problem(r, HTTP_NOT_FOUND, "no such product", NULL);
}

static int lost_races(request_rec *r)
{
    return secauth_problem(r, HTTP_CONFLICT,
                           "the product is being changed by others; try again", NULL);
}

/* ---- handlers ---- */

/* ---- POST /products with an Idempotency-Key ---- */

static const char *canonical_input(apr_pool_t *p, const secauth_product_input_t *in)
{
    return apr_psprintf(p, "%s\n%c%s\n%" APR_INT64_T_FMT "\n%d", in->name,
                        in->description ? '+' : '-', in->description ? in->description : "",
                        in->cents, in->quantity);
}

/* The product row and the key with its answer, in one transaction: either both are on the
 * cluster or neither is. */
/* The insert of a new product: one statement that answers with its id (RETURNING). */
static int insert_row(secauth_req_t *req, ap_dbd_t *dbd, const secauth_product_input_t *in,
                      const char *now, int *id)
{
    const void *args[6];
    secauth_rows_t rows;
    int rc;

    args[0] = in->name;
    args[1] = in->description;
    args[2] = cents_text(req->r->pool, in->cents);
    args[3] = &in->quantity;
    args[4] = now;
    args[5] = now;
    rc = secauth_db_select(req->r, dbd, "secauth_prod_insert", args, &rows);
    if (rc == SECAUTH_DB_OK
        && (rows.nrows != 1 || !rows.rows[0][0] || (*id = atoi(rows.rows[0][0])) <= 0)) {
        rc = SECAUTH_DB_ERROR;
    }
    return rc;
}

static int insert_once(secauth_req_t *req, ap_dbd_t *dbd, const secauth_product_input_t *in,
                       const secauth_idem_t *idem, const char **location, const char **etag,
                       const char **body)
{
    request_rec *r = req->r;
    apr_dbd_transaction_t *txn = NULL;
    const char *now = secauth_db_time(r->pool, r->request_time);
    product_t prod;
    json_t *json;
    char *text;
    int rc, id = 0;

    if ((rc = secauth_db_begin(r, dbd, &txn)) != SECAUTH_DB_OK) {
        return rc;
    }
    rc = insert_row(req, dbd, in, now, &id);
    if (rc == SECAUTH_DB_OK) {
        prod.id = id;
        prod.name = in->name;
        prod.description = in->description;
        prod.cents = in->cents;
        prod.quantity = in->quantity;
        prod.version = 1;
        prod.created_at = prod.updated_at = now;
        json = product_json(r->pool, &prod);
        text = json ? json_dumps(json, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
        json_decref(json);
        *body = text ? apr_pstrdup(r->pool, text) : NULL;
        free(text);
        *location = apr_psprintf(r->pool, "%s/products/%d", req->mount, id);
        *etag = etag_of(r->pool, &prod);
        rc = *body ? secauth_idem_store(req, dbd, idem, HTTP_CREATED, *location, *etag, *body)
                   : SECAUTH_DB_ERROR;
    }
    if (secauth_db_end(r, dbd, txn, rc == SECAUTH_DB_OK) != SECAUTH_DB_OK && rc == SECAUTH_DB_OK) {
        rc = SECAUTH_DB_ERROR;
    }
    if (rc == SECAUTH_DB_OK) {
        secauth_cache_changed_id(SECAUTH_CACHE_PRODUCT, id);
    }
    return rc;
}

static int create_once(secauth_req_t *req, ap_dbd_t *dbd, const secauth_product_input_t *in,
                       secauth_idem_t *idem)
{
    request_rec *r = req->r;
    const char *location = NULL, *etag = NULL, *body = NULL;
    int rc, attempt;

    secauth_idem_bind(r->pool, idem, "POST /products", canonical_input(r->pool, in));
    for (attempt = 0; ; attempt++) {
        rc = secauth_idem_replay(req, dbd, idem);
        if (rc == SECAUTH_IDEM_ANSWERED) return idem->status;
        if (rc != SECAUTH_IDEM_NEW) return secauth_unavailable(r);
        rc = insert_once(req, dbd, in, idem, &location, &etag, &body);
        if (rc == SECAUTH_DB_OK) {
            secauth_idem_purge(req, dbd);
            return secauth_idem_send(r, HTTP_CREATED, location, etag, body, 0);
        }
        if (rc == SECAUTH_DB_DUPLICATE) {
            /* the same key committed by a concurrent request: its answer, or 409 while it
             * is not yet visible here */
            rc = secauth_idem_replay(req, dbd, idem);
            if (rc == SECAUTH_IDEM_ANSWERED) return idem->status;
            if (rc != SECAUTH_IDEM_NEW) return secauth_unavailable(r);
            return secauth_problem(r, HTTP_CONFLICT,
                                   "a request with this Idempotency-Key is in progress", NULL);
        }
        if (!secauth_db_retry(r, rc, attempt, "product create")) {
            return secauth_unavailable(r);
        }
    }
}

int secauth_products_create(secauth_req_t *req)
{
    request_rec *r = req->r;
    secauth_product_input_t in;
    product_t prod;
    ap_dbd_t *dbd;
    const char *now;
    const secauth_caller_t *caller;
    secauth_idem_t idem;
    int rc, id = 0;

    if ((rc = authorize(req, 1)) != OK || (rc = read_input(req, 1, &in)) != OK) {
        return rc;
    }
    caller = req->caller;
    if ((rc = secauth_idem_header(req, caller ? caller->user_id : 0, &idem))
        == SECAUTH_IDEM_ANSWERED) {
        return idem.status;
    }
    if (!(dbd = secauth_db_acquire(r))) {
        return secauth_unavailable(r);
    }
    if (rc == SECAUTH_IDEM_NEW) {
        return create_once(req, dbd, &in, &idem);
    }
    now = secauth_db_time(r->pool, r->request_time);
    if (insert_row(req, dbd, &in, now, &id) != SECAUTH_DB_OK) {
        return secauth_unavailable(r);
    }
    secauth_cache_changed_id(SECAUTH_CACHE_PRODUCT, id);
    prod.id = id;
    prod.name = in.name;
    prod.description = in.description;
    prod.cents = in.cents;
    prod.quantity = in.quantity;
    prod.version = 1;
    prod.created_at = prod.updated_at = now;
    apr_table_setn(r->headers_out, "Location",
                   apr_psprintf(r->pool, "%s/products/%d", req->mount, id));
    return send_product(req, HTTP_CREATED, &prod);
}

int secauth_products_get(secauth_req_t *req)
{
    product_t prod;
    ap_dbd_t *dbd;
    const char *key;
    char *entry, *fields[2];
    apr_size_t len;
    int rc;

    if ((rc = authorize(req, 0)) != OK) {
        return rc;
    }
    key = secauth_cache_key(req->r->pool, SECAUTH_CACHE_PRODUCT, apr_itoa(req->r->pool, req->id),
                            SECAUTH_CACHE_PRODUCT, NULL, SECAUTH_CACHE_PRODUCT, NULL);
    if ((entry = secauth_cache_get(req->r, key, PRODUCT_ENTRY_MAX, &len))
        && split_entry(entry, 2, fields)) {
        return send_rendered(req->r, fields[0], fields[1], strlen(fields[1]));
    }
    if (!(dbd = secauth_db_acquire(req->r))) {
        return secauth_unavailable(req->r);
    }
    rc = load(req, dbd, req->id, &prod);
    if (rc < 0) return secauth_unavailable(req->r);
    if (rc == 0) return not_found(req->r);
    return send_product_read(req, key, &prod);
}

/* A list page, with the Link to the next one when next is not 0. */
static int send_list(secauth_req_t *req, int next, int limit, const char *etag, const char *body)
{
    if (next) {
        apr_table_setn(req->r->headers_out, "Link",
                       apr_psprintf(req->r->pool, "<%s/products?after=%d&limit=%d>; rel=\"next\"",
                                    req->mount, next, limit));
    }
    return send_rendered(req->r, etag, body, strlen(body));
}

int secauth_products_list(secauth_req_t *req)
{
    request_rec *r = req->r;
    secauth_rows_t rows;
    ap_dbd_t *dbd;
    const void *args[2];
    json_t *list;
    product_t prod;
    const char *key, *etag;
    char *entry, *fields[3], *body;
    apr_size_t len;
    int rc, limit, after, fetch, i, shown, next = 0;

    if ((rc = authorize(req, 0)) != OK) {
        return rc;
    }
    if (!secauth_parse_paging(req, "must be a product id", &limit, &after)) {
        return secauth_send_field_errors(req);
    }
    key = secauth_cache_key(r->pool, SECAUTH_CACHE_LIST, apr_psprintf(r->pool, "%d.%d", after,
                            limit), SECAUTH_CACHE_LIST, NULL, SECAUTH_CACHE_LIST, NULL);
    if ((entry = secauth_cache_get(r, key, (apr_size_t)limit * ROW_ENTRY_MAX + 64, &len))
        && split_entry(entry, 3, fields)) {
        return send_list(req, atoi(fields[0]), limit, fields[1], fields[2]);
    }
    if (!(dbd = secauth_db_acquire(r))) {
        return secauth_unavailable(r);
    }
    /* one row more than asked tells whether a next page exists */
    fetch = limit + 1;
    args[0] = &after;
    args[1] = &fetch;
    if (secauth_db_select(r, dbd, "secauth_prod_list", args, &rows) != SECAUTH_DB_OK
        || (rows.nrows && rows.ncols < 8)) {
        return secauth_unavailable(r);
    }
    shown = rows.nrows > limit ? limit : rows.nrows;
    list = json_array();
    for (i = 0; i < shown; i++) {
        product_of_row(rows.rows[i], &prod);
        if (json_array_append_new(list, product_json(r->pool, &prod)) != 0) {
            json_decref(list);
            return secauth_problem(r, HTTP_INTERNAL_SERVER_ERROR,
                                   "the products could not be encoded", NULL);
        }
    }
    if (rows.nrows > limit) {
        next = prod.id;
    }
    if (!(body = secauth_json_text(r->pool, list, &len))) {
        return secauth_problem(r, HTTP_INTERNAL_SERVER_ERROR,
                               "the products could not be encoded", NULL);
    }
    etag = list_etag(r->pool, body, len);
    entry = apr_psprintf(r->pool, "%d\n%s\n%s", next, etag, body);
    secauth_cache_put(r, key, r->request_time + apr_time_from_sec(3600), entry, strlen(entry));
    return send_list(req, next, limit, etag, body);
}

static void apply(const secauth_product_input_t *in, product_t *prod)
{
    if (in->has_name) prod->name = in->name;
    if (in->has_description) prod->description = in->description;
    if (in->has_price) prod->cents = in->cents;
    if (in->has_quantity) prod->quantity = in->quantity;
}

int secauth_products_update(secauth_req_t *req)
{
    request_rec *r = req->r;
    secauth_product_input_t in;
    product_t prod;
    ap_dbd_t *dbd;
    const void *args[7];
    const char *now;
    int rc, attempt, affected, version;

    if ((rc = authorize(req, 1)) != OK || (rc = read_input(req, 0, &in)) != OK) {
        return rc;
    }
    if (!(dbd = secauth_db_acquire(r))) {
        return secauth_unavailable(r);
    }
    now = secauth_db_time(r->pool, r->request_time);
    for (attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
        rc = load(req, dbd, req->id, &prod);
        if (rc < 0) return secauth_unavailable(r);
        if (rc == 0) return not_found(r);
        if (!if_match(r, &prod)) return stale(r);
        if (!in.has_name && !in.has_description && !in.has_price && !in.has_quantity) {
            /* nothing to change: no write, no new version */
            return send_product(req, HTTP_OK, &prod);
        }
        apply(&in, &prod);
        version = prod.version;
        args[0] = prod.name;
        args[1] = prod.description;
        args[2] = cents_text(r->pool, prod.cents);
        args[3] = &prod.quantity;
        args[4] = now;
        args[5] = &prod.id;
        args[6] = &version;
        if (secauth_db_exec(r, dbd, "secauth_prod_update", args, &affected) != SECAUTH_DB_OK) {
            return secauth_unavailable(r);
        }
        if (affected == 1) {
            secauth_cache_changed_id(SECAUTH_CACHE_PRODUCT, prod.id);
            prod.version = version + 1;
            prod.updated_at = now;
            return send_product(req, HTTP_OK, &prod);
        }
        /* another writer won between the read and the write: read again; with If-Match
         * that now answers 412 (or 404 when it was deleted) */
    }
    return lost_races(r);
}

int secauth_products_delete(secauth_req_t *req)
{
    request_rec *r = req->r;
    product_t prod;
    ap_dbd_t *dbd;
    const void *args[2];
    int rc, attempt, affected;

    if ((rc = authorize(req, 1)) != OK) {
        return rc;
    }
    if (!(dbd = secauth_db_acquire(r))) {
        return secauth_unavailable(r);
    }
    for (attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
        rc = load(req, dbd, req->id, &prod);
        if (rc < 0) return secauth_unavailable(r);
        if (rc == 0) return not_found(r);
        if (!if_match(r, &prod)) return stale(r);
        args[0] = &prod.id;
        args[1] = &prod.version;
        if (secauth_db_exec(r, dbd, "secauth_prod_delete", args, &affected) != SECAUTH_DB_OK) {
            return secauth_unavailable(r);
        }
        if (affected == 1) {
            secauth_cache_changed_id(SECAUTH_CACHE_PRODUCT, prod.id);
            return secauth_send_bytes(r, HTTP_NO_CONTENT, NULL, NULL, 0);
        }
    }
    return lost_races(r);
}
