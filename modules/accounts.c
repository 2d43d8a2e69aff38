/* accounts.c — placeholder until the routes land: answers 501. */
#include "accounts.h"
#include "http_protocol.h"
const secauth_stmt_t secauth_account_statements[] = {{NULL, NULL, NULL}};
int secauth_register(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
int secauth_generate_qr(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
int secauth_verify_2fa(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
int secauth_login(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
int secauth_logout(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
int secauth_me(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
