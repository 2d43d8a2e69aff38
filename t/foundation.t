# foundation.t — routing, fall-through, methods, /health, the prefix mount and problem+json for
# errors httpd itself raises inside the API.
use strict;
use warnings;
use Apache::Test ();
use Test::More;
use SecAuthTest;

plan tests => 35;

my $viewer = mint_token(make_user('viewer'));

my $res = api(GET => '/health');
is($res->code, 200, 'GET /health is 200');
is($res->header('Content-Type'), 'application/json; charset=utf-8', 'health is JSON');
is($res->header('Cache-Control'), 'no-store', 'health is not cached');
is_deeply(json_of($res), {status => 'ok', database => 'ok'}, 'health body');

$res = api(HEAD => '/health');
is($res->code, 200, 'HEAD /health is 200');
is($res->content, '', 'HEAD has no body');

$res = api(POST => '/health', {});
ok(is_problem($res, 405, 'POST /health'), 'POST /health is 405 problem+json');
is($res->header('Allow'), 'GET, HEAD', 'Allow names GET and HEAD');
is($res->header('Cache-Control'), 'no-store', 'errors are not cached either');

$res = api(DELETE => '/register');
ok(is_problem($res, 405, 'DELETE /register'), 'DELETE /register is 405');
is($res->header('Allow'), 'POST', 'Allow: POST');

# under a protected prefix the token is checked first (API.md §8): then a malformed id is 404
$res = api(GET => '/products/abc', undef, Authorization => 'Bearer x');
is($res->code, 401, 'a malformed id with a bogus token is 401: nothing before the token');
$res = api(GET => '/products/abc', undef, Authorization => "Bearer $viewer");
ok(is_problem($res, 404, 'malformed id'), 'a malformed id is 404 problem+json');
for my $id (qw(0 -1 1e3 99999999999 01 1.5)) {
    my $r = api(GET => "/products/$id", undef, Authorization => "Bearer $viewer");
    ok(is_problem($r, 404, "id $id"), "id '$id' is 404");
}

# paths that are not routes fall through to the rest of httpd
$res = api(GET => '/static/hello.txt');
is($res->code, 200, 'a static file next to the API is served');
is($res->content, "hello from a static file\n", 'with its content');
$res = api(GET => '/no-such-route');
is($res->code, 404, 'an unknown path is 404');
unlike($res->header('Content-Type') // '', qr/problem/, 'from httpd, not the API');
$res = api(GET => '/products/1/extra');
is($res->code, 401, 'a longer path under a protected prefix needs a token');
$res = api(GET => '/products/1/extra', undef, Authorization => "Bearer $viewer");
is($res->code, 404, 'a longer path is not a route');

# mounted at a prefix, the same routes answer under it
$res = api(GET => '/api/health');
is($res->code, 200, '/api/health answers');
is_deeply(json_of($res), {status => 'ok', database => 'ok'}, 'with the health body');
$res = api(GET => '/api/products');
ok(is_problem($res, 401, '/api/products'), '/api/products needs a token');

# errors from the access check are problem+json, not httpd's HTML page
$res = api(GET => '/products');
ok(is_problem($res, 401, 'no token'), 'GET /products without a token is 401 problem+json');
is($res->header('WWW-Authenticate'), 'Bearer realm="secauth"', 'with the plain challenge');
$res = api(POST => '/products', {name => 'x', price => 1});
ok(is_problem($res, 401, 'POST no token'), 'POST /products without a token is 401');
$res = api(GET => '/me', undef, Authorization => 'Basic dXNlcjpwYXNz');
ok(is_problem($res, 401, 'basic'), 'Basic credentials count as no bearer token');
is($res->header('WWW-Authenticate'), 'Bearer realm="secauth"', 'plain challenge for Basic');
$res = api(GET => '/me', undef, Authorization => 'Bearer');
ok(is_problem($res, 400, 'empty bearer'), '"Bearer" without a token is 400');
like($res->header('WWW-Authenticate') // '', qr/error="invalid_request"/, 'invalid_request');
