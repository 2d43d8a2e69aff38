/* ops.h — operational routes: GET /health and GET /.well-known/jwks.json. */
#ifndef SECAUTH_OPS_H
#define SECAUTH_OPS_H

#include "http.h"

int secauth_health(secauth_req_t *req);
int secauth_jwks(secauth_req_t *req);

#endif
