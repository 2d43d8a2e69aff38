/* access.h — the bearer access check: AuthType Bearer (check_authn), the secauth-role
 * authorization provider, RFC 6750 challenges, and removal of spoofed SECAUTH_* headers. */
#ifndef SECAUTH_ACCESS_H
#define SECAUTH_ACCESS_H

#include "httpd.h"
#include "db.h"
#include "request.h"
#include "token.h"

void secauth_access_register_hooks(apr_pool_t *p);

/* For the handlers of protected routes: the caller, authenticating now when the configuration
 * did not put the route behind AuthType Bearer (defence in depth: httpd's section merging can
 * leave a method without a Require). Returns OK, or an HTTP status for the handler to return
 * (httpd renders it as problem+json with the RFC 6750 challenge). */
int secauth_require_caller(request_rec *r, const secauth_caller_t **caller);

/* The rule of "revoke every token of a user" (API.md §4), for access and enrolment tokens
 * alike: a token issued under an older generation than the user's (or, for an operator's
 * coarse cut, before the unix second not_before) is revoked, unless it is the one session a
 * password change kept. */
int secauth_token_revoked(const secauth_claims_t *claims, apr_int64_t generation,
                          apr_int64_t not_before, const char *keep_jti);

/* An integer column as the database returns it; NULL counts as 0. */
apr_int64_t secauth_column_int(const char *value);

/* For the enrolment routes (GET /generate-qr, POST /verify-2fa): the enrolment token of
 * "Authorization: Bearer", verified as kind SECAUTH_TOKEN_ENROLL (an access token is refused).
 * Returns OK with *claims filled, or 401/400 with the RFC 6750 challenge already set for the
 * handler to return (httpd renders it as problem+json). */
int secauth_require_enrollment(request_rec *r, secauth_claims_t *claims);

/* 401 invalid_token with the RFC 6750 challenge and why as its description, for the handler
 * to return (httpd renders it as problem+json). */
int secauth_refuse_token(request_rec *r, const char *why);

/* OK when the caller has one of the roles (NULL-terminated), else 403 insufficient_scope. */
int secauth_require_role(request_rec *r, const secauth_caller_t *caller,
                         const char *const *roles);

#endif
