/* admin.c — placeholder until the routes land: answers 501. */
#include "admin.h"
#include "http_protocol.h"
const secauth_stmt_t secauth_admin_statements[] = {{NULL, NULL, NULL}};
int secauth_users_list(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
int secauth_users_patch(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
int secauth_users_reset_2fa(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
int secauth_users_unlock(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
int secauth_password_change(secauth_req_t *req) { return secauth_problem(req->r, HTTP_NOT_IMPLEMENTED, "not implemented yet", NULL); }
void secauth_admin_bootstrap(apr_pool_t *p, server_rec *s) { (void)p; (void)s; }
