/* accounts.h — the account routes of API.md §2 and §3: registration, QR enrolment,
 * verify-2fa, login with lockout, logout, /me. */
#ifndef SECAUTH_ACCOUNTS_H
#define SECAUTH_ACCOUNTS_H

#include "http.h"
#include "db.h"

extern const secauth_stmt_t secauth_account_statements[];

int secauth_register(secauth_req_t *req);
int secauth_generate_qr(secauth_req_t *req);
int secauth_verify_2fa(secauth_req_t *req);
int secauth_login(secauth_req_t *req);
int secauth_logout(secauth_req_t *req);
int secauth_me(secauth_req_t *req);

#endif
