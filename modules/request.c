/* request.c — the per-request context (request.h) in r->request_config, as httpd's own modules
 * keep theirs (mod_authnz_ldap): made on first use from the request pool, gone with it. */
#include "request.h"

#include "http_config.h"

extern module AP_MODULE_DECLARE_DATA secauth_module;

secauth_req_t *secauth_request_find(request_rec *r)
{
    return ap_get_module_config(r->request_config, &secauth_module);
}

secauth_req_t *secauth_request(request_rec *r)
{
    secauth_req_t *req = secauth_request_find(r);

    if (!req) {
        req = apr_pcalloc(r->pool, sizeof(*req));
        req->r = r;
        req->conf = secauth_server_config(r->server);
        req->mount = "";
        req->path = r->uri;
        ap_set_module_config(r->request_config, &secauth_module, req);
    }
    return req;
}

const secauth_caller_t *secauth_caller(request_rec *r)
{
    secauth_req_t *req = secauth_request_find(r);
    return req ? req->caller : NULL;
}
