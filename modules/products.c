/* products.c — placeholder until the routes land: answers 501. */
#include "products.h"
#include "http_protocol.h"
const secauth_stmt_t secauth_product_statements[] = {{NULL, NULL, NULL}};
int secauth_products_list(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
int secauth_products_create(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
int secauth_products_get(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
int secauth_products_update(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
int secauth_products_delete(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
