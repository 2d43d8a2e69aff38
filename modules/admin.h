/* admin.h — user administration (API.md §6, role admin), the password change of any user,
 * and SecAuthBootstrapAdmin. */
#ifndef SECAUTH_ADMIN_H
#define SECAUTH_ADMIN_H

#include "http.h"
#include "db.h"

extern const secauth_stmt_t secauth_admin_statements[];

int secauth_users_list(secauth_req_t *req);
int secauth_users_patch(secauth_req_t *req);
int secauth_users_reset_2fa(secauth_req_t *req);
int secauth_users_unlock(secauth_req_t *req);

/* SecAuthBootstrapAdmin: promotes the named existing account at startup (child_init). */
void secauth_admin_bootstrap(apr_pool_t *p, server_rec *s);

#endif
