/* products.h — the products CRUD of API.md §5. */
#ifndef SECAUTH_PRODUCTS_H
#define SECAUTH_PRODUCTS_H

#include "http.h"
#include "db.h"

extern const secauth_stmt_t secauth_product_statements[];

int secauth_products_list(secauth_req_t *req);
int secauth_products_create(secauth_req_t *req);
int secauth_products_get(secauth_req_t *req);
int secauth_products_update(secauth_req_t *req);   /* PUT and PATCH: partial update */
int secauth_products_delete(secauth_req_t *req);

#endif
