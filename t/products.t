# products.t — the products CRUD of API.md §5: the create/read/update/delete flow, every
# validation rule with its field error, exact decimal prices, pagination, If-Match (also under
# concurrent writers), roles, HEAD, and text that must come back byte for byte.
use strict;
use warnings;
use utf8;
use Test::More;
use Apache::Test ();
use Encode qw(encode_utf8);
use JSON::PP ();
use Time::HiRes qw(time sleep);
use SecAuthTest;

my $json = JSON::PP->new->canonical;
binmode(Test::More->builder->$_, ":encoding(UTF-8)") for qw(output failure_output todo_output);

my $editor = make_user('editor');
my $viewer = make_user('viewer');
my $admin = make_user('admin');
my %as = map { $_->{role} => mint_token($_) } $editor, $viewer, $admin;

# api() with the JSON body encoded as UTF-8 (names and descriptions here are not all ASCII).
sub japi {
    my ($method, $path, $body, @headers) = @_;
    return api($method, $path, ref $body ? encode_utf8($json->encode($body)) : $body, @headers);
}

# The response body as Perl data, with strings decoded from UTF-8.
sub jbody { my ($res) = @_; return eval { JSON::PP->new->utf8->decode($res->content) } }

sub auth { my ($role) = @_; return (Authorization => "Bearer $as{$role // 'editor'}") }

sub errors_of {
    my ($res) = @_;
    my $b = jbody($res) || {};
    return {map { $_->{field} => $_->{detail} } @{$b->{errors} || []}};
}

# A body sent exactly as written, so that numbers reach the server as typed.
sub raw { my ($method, $path, $text, %h) = @_; return api($method, $path, encode_utf8($text), auth(), %h) }

sub create {
    my ($product) = @_;
    my $res = japi(POST => '/products', $product, auth());
    die 'create: ' . $res->code . ' ' . $res->content unless $res->code == 201;
    return jbody($res);
}

my $iso = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

# ---- the flow of the original API ----
my $res = japi(POST => '/products', {name => 'Laptop', description => 'Gaming Laptop',
                                    price => 1200, quantity => 5}, auth());
is($res->code, 201, 'POST /products is 201');
my $p = jbody($res);
my $id = $p->{id};
ok($id && $id =~ /^\d+$/, 'with a numeric id');
is($res->header('Location'), "/products/$id", 'Location names the new product');
is($res->header('ETag'), qq{"$id-1"}, 'ETag of the first version');
is($res->header('Content-Type'), 'application/json; charset=utf-8', 'JSON');
is($res->header('Cache-Control'), 'no-store', 'not cached');
is_deeply([@$p{qw(name description price quantity)}], ['Laptop', 'Gaming Laptop', 1200, 5],
          'the product as sent');
like($p->{created_at} // '', $iso, 'created_at is ISO 8601 UTC');
is($p->{updated_at}, $p->{created_at}, 'updated_at equals created_at at first');

$res = japi(GET => "/products/$id", undef, auth());
is($res->code, 200, 'GET /products/{id} is 200');
is_deeply(jbody($res), $p, 'returns the stored product');
is($res->header('ETag'), qq{"$id-1"}, 'with the ETag');

$res = japi(HEAD => "/products/$id", undef, auth());
is($res->code, 200, 'HEAD /products/{id} is 200');
is($res->content, '', 'without a body');
is($res->header('ETag'), qq{"$id-1"}, 'but with the ETag');

$res = japi(GET => '/products', undef, auth('viewer'));
is($res->code, 200, 'a viewer lists products');
ok((grep { $_->{id} == $id } @{jbody($res) || []}), 'the new product is listed');
$res = japi(HEAD => '/products', undef, auth());
is($res->code, 200, 'HEAD /products is 200');
is($res->content, '', 'HEAD /products has no body');

$res = japi(PUT => "/products/$id", {name => 'Laptop Pro'}, auth());
is($res->code, 200, 'PUT with one field is 200');
is_deeply([@{jbody($res)}{qw(name description price quantity)}],
          ['Laptop Pro', 'Gaming Laptop', 1200, 5], 'PUT changed the name, kept the rest');
is($res->header('ETag'), qq{"$id-2"}, 'a new ETag');

$res = japi(PATCH => "/products/$id", {quantity => 7, description => undef}, auth());
is($res->code, 200, 'PATCH is 200');
is_deeply([@{jbody($res)}{qw(name description price quantity)}],
          ['Laptop Pro', undef, 1200, 7], 'PATCH set the quantity and cleared the description');
is($res->header('ETag'), qq{"$id-3"}, 'version 3');
like(jbody($res)->{updated_at}, $iso, 'updated_at is ISO 8601 UTC');

$res = japi(PATCH => "/products/$id", {}, auth());
is($res->code, 200, 'an empty PATCH is 200');
is($res->header('ETag'), qq{"$id-3"}, 'and writes nothing (same version)');

# ---- If-Match ----
$res = japi(PUT => "/products/$id", {price => 1}, auth(), 'If-Match' => qq{"$id-1"});
ok(is_problem($res, 412, 'stale If-Match'), 'a stale If-Match is 412 problem+json');
$res = japi(GET => "/products/$id", undef, auth());
is(jbody($res)->{price}, 1200, 'nothing was written');
is($res->header('ETag'), qq{"$id-3"}, 'the version is unchanged');
$res = japi(PATCH => "/products/$id", {price => 1}, auth(), 'If-Match' => qq{W/"$id-3"});
ok(is_problem($res, 412, 'weak If-Match'), 'a weak ETag never matches (strong comparison)');
$res = japi(PATCH => "/products/$id", {price => 1}, auth(), 'If-Match' => 'garbage');
ok(is_problem($res, 412, 'garbage If-Match'), 'a malformed If-Match does not match');
$res = japi(PATCH => "/products/$id", {price => 1}, auth(), 'If-Match' => qq{"1-1", "$id-3"});
is($res->code, 200, 'an If-Match list containing the current ETag matches');
is($res->header('ETag'), qq{"$id-4"}, 'version 4');
$res = japi(PATCH => "/products/$id", {price => 2}, auth(), 'If-Match' => '*');
is($res->code, 200, 'If-Match: * matches an existing product');
is(jbody($res)->{price}, 2, 'and the write happened');

# ---- delete ----
$res = japi(DELETE => "/products/$id", undef, auth(), 'If-Match' => qq{"$id-1"});
ok(is_problem($res, 412, 'stale delete'), 'DELETE with a stale If-Match is 412');
is(japi(GET => "/products/$id", undef, auth())->code, 200, 'and the product is still there');
$res = japi(DELETE => "/products/$id", undef, auth(), 'If-Match' => qq{"$id-5"});
is($res->code, 204, 'DELETE with the current ETag is 204');
is($res->content, '', 'with no body');
ok(is_problem(japi(GET => "/products/$id", undef, auth()), 404, 'deleted'), 'then GET is 404');
ok(is_problem(japi(DELETE => "/products/$id", undef, auth()), 404, 'twice'), 'DELETE again is 404');
ok(is_problem(japi(PUT => "/products/$id", {name => 'x'}, auth()), 404, 'PUT gone'),
   'PUT on a deleted product is 404');
ok(is_problem(japi(PATCH => '/products/2147483647', {name => 'x'}, auth(), 'If-Match' => '*'),
              404, 'absent'), 'PATCH of an absent id is 404, even with If-Match: *');
ok(is_problem(japi(GET => '/products/2147483647', undef, auth()), 404, 'absent'),
   'GET of an absent id is 404');
ok(is_problem(japi(DELETE => '/products/99999999999', undef, auth()), 404, 'bad id'),
   'a malformed id is 404');
$id = create({name => 'plain', price => 3})->{id};
is(japi(DELETE => "/products/$id", undef, auth())->code, 204, 'DELETE without If-Match is 204');

$res = japi(POST => "/products/1", {}, auth());
ok(is_problem($res, 405, 'POST on an item'), 'POST /products/{id} is 405');
is($res->header('Allow'), 'GET, HEAD, PUT, PATCH, DELETE', 'with Allow');

# ---- validation: one rule, one field error ----
my @invalid = (
    [{price => 1}, name => 'is required'],
    [{name => 'x'}, price => 'is required'],
    [{name => '', price => 1}, name => 'must be 1 to 100 characters'],
    [{name => 'n' x 101, price => 1}, name => 'must be 1 to 100 characters'],
    [{name => 'é' x 101, price => 1}, name => 'must be 1 to 100 characters'],
    [{name => 5, price => 1}, name => 'must be a string'],
    [{name => undef, price => 1}, name => 'must be a string'],
    [{name => 'x', price => 1, description => 'd' x 256}, description => 'must be at most 255 characters'],
    [{name => 'x', price => 1, description => '€' x 256}, description => 'must be at most 255 characters'],
    [{name => 'x', price => 1, description => 5}, description => 'must be a string or null'],
    [{name => 'x', price => '5'}, price => 'must be a number'],
    [{name => 'x', price => JSON::PP::true}, price => 'must be a number'],
    [{name => 'x', price => undef}, price => 'must be a number'],
    [{name => 'x', price => -1}, price => 'must be at least 0'],
    [{name => 'x', price => 1, quantity => '5'}, quantity => 'must be an integer'],
    [{name => 'x', price => 1, quantity => JSON::PP::true}, quantity => 'must be an integer'],
    [{name => 'x', price => 1, quantity => undef}, quantity => 'must be an integer'],
    [{name => 'x', price => 1, quantity => -1}, quantity => 'must be at least 0'],
    [{name => 'x', price => 1, quantity => 2147483648}, quantity => 'must be at most 2147483647'],
);
for my $case (@invalid) {
    my ($body, $field, $detail) = @$case;
    my $label = $json->encode($body);
    $label = substr($label, 0, 60) . '...' if length $label > 60;
    $res = japi(POST => '/products', $body, auth());
    ok(is_problem($res, 400, $label), "400 for $label");
    is_deeply(errors_of($res), {$field => $detail}, "$field: $detail");
}
# numbers exactly as typed
my @invalid_raw = (
    ['{"name":"x","price":0.001}', price => 'must have at most two decimal places'],
    ['{"name":"x","price":19.999}', price => 'must have at most two decimal places'],
    ['{"name":"x","price":100000000}', price => 'must be at most 99999999.99'],
    ['{"name":"x","price":100000000.00}', price => 'must be at most 99999999.99'],
    ['{"name":"x","price":99999999.999}', price => 'must have at most two decimal places'],
    ['{"name":"x","price":-0.01}', price => 'must be at least 0'],
    ['{"name":"x","price":1e300}', price => 'must be at most 99999999.99'],
    ['{"name":"x","price":1,"quantity":5.5}', quantity => 'must be an integer'],
    ['{"name":"x","price":1,"quantity":1e10}', quantity => 'must be at most 2147483647'],
);
for my $case (@invalid_raw) {
    my ($text, $field, $detail) = @$case;
    $res = raw(POST => '/products', $text);
    ok(is_problem($res, 400, $text), "400 for $text");
    is_deeply(errors_of($res), {$field => $detail}, "$field: $detail");
}
$res = japi(POST => '/products', {name => '', price => -1, quantity => 1.5, description => 1}, auth());
ok(is_problem($res, 400, 'all bad'), 'every bad field at once is one 400');
is_deeply([sort keys %{errors_of($res)}], [qw(description name price quantity)],
          'with one error per bad field');
like(jbody($res)->{detail} // '', qr/^(name|price|quantity|description) /, 'detail names a field');
for my $field (qw(id role version created_at)) {
    $res = japi(POST => '/products', {name => 'x', price => 1, $field => 1}, auth());
    ok(is_problem($res, 400, "unknown $field"), "the unknown field $field is refused");
    is_deeply(errors_of($res), {$field => 'is not a known field'}, "and named");
}
ok(is_problem(japi(POST => '/products', '{"name":"x","price":1}', auth(), 'Content-Type' => 'text/plain'),
              415, 'text/plain'), 'a non-JSON body is 415');
ok(is_problem(raw(POST => '/products', '{"name":"x",'), 400, 'bad JSON'), 'invalid JSON is 400');
ok(is_problem(raw(POST => '/products', '[1]'), 400, 'array'), 'a JSON array is 400');
ok(is_problem(raw(POST => '/products', '{"name":"a","name":"b","price":1}'), 400, 'dup'),
   'duplicate keys are 400');
ok(is_problem(raw(POST => '/products', '{"name":"a\u0000b","price":1}'), 400, 'NUL'),
   'a NUL character is 400');

# the same rules on update, and nothing written on a 400
$id = create({name => 'keep', price => 4, quantity => 4})->{id};
for my $bad ({name => ''}, {price => 0.001}, {quantity => 5.5}, {description => 'd' x 256},
             {name => 'ok', version => 9}) {
    my $label = $json->encode($bad);
    ok(is_problem(japi(PATCH => "/products/$id", $bad, auth()), 400, "PATCH $label"),
       "PATCH $label is 400");
}
$res = japi(GET => "/products/$id", undef, auth());
is_deeply([@{jbody($res)}{qw(name price quantity)}], ['keep', 4, 4], 'nothing was written');
is($res->header('ETag'), qq{"$id-1"}, 'still version 1');

# limits that are allowed
my @valid = (
    [{name => 'é' x 100, price => 0}, 'name of 100 two-byte characters, price 0'],
    [{name => '😀' x 100, price => 1, description => '😀' x 255}, '100 and 255 four-byte characters'],
    [{name => 'n', price => 1, description => ''}, 'an empty description'],
    [{name => 'n', price => 1, quantity => 2147483647}, 'the largest quantity'],
);
for my $case (@valid) {
    my ($body, $label) = @$case;
    $res = japi(POST => '/products', $body, auth());
    is($res->code, 201, "201: $label");
    my $got = jbody($res);
    is_deeply({map { $_ => $got->{$_} } keys %$body}, $body, "stored and returned intact: $label");
}
$res = raw(POST => '/products', '{"name":"q","price":1,"quantity":5.0}');
is($res->code, 201, 'quantity 5.0 counts as an integer');
is(jbody($res)->{quantity}, 5, 'and is stored as 5');
like($res->content, qr/"quantity":5[,}]/, 'and returned as the integer 5');
$res = japi(POST => '/products', {name => 'd'}, auth());
is($res->code, 400, 'price is required');
$res = japi(POST => '/products', {name => 'd', price => 1}, auth());
is(jbody($res)->{quantity}, 0, 'quantity defaults to 0');
is(jbody($res)->{description}, undef, 'description defaults to null');

# ---- exact decimals ----
# typed in the request, stored in the database, printed in the response
for my $case (['0.1', '0.10', '0.1'], ['19.99', '19.99', '19.99'],
              ['99999999.99', '99999999.99', '99999999.99'], ['0.01', '0.01', '0.01'],
              ['1200.00', '1200.00', '1200.0'], ['1e2', '100.00', '100.0'], ['0', '0.00', '0.0'],
              ['12.5', '12.50', '12.5'], ['0.30', '0.30', '0.3'], ['1.1', '1.10', '1.1']) {
    my ($typed, $stored, $shown) = @$case;
    $res = raw(POST => '/products', qq({"name":"price $typed","price":$typed}));
    is($res->code, 201, "price $typed is accepted");
    my $pid = jbody($res)->{id} // 0;
    my ($printed) = $res->content =~ /"price":([^,}]+)/;
    is($printed, $shown, "price $typed is printed as $shown");
    my ($row) = db_rows("SELECT price FROM products WHERE id = $pid");
    is($row && $row->[0], $stored, "and stored as the decimal $stored");
    my ($again) = japi(GET => "/products/$pid", undef, auth())->content =~ /"price":([^,}]+)/;
    is($again, $shown, 'and read back the same');
}
$res = raw(POST => '/products', '{"name":"exact","price":19.99}');
unlike($res->content, qr/19\.98999|19\.990000/, '19.99 is never printed approximately');

# ---- SQL metacharacters and Unicode come back intact ----
for my $name ("Robert'); DROP TABLE products;--", q{100% "quoted" \\back\\slash %s %d %lld},
              "Ünïcødé 😀 日本語 עברית", "tab\tnew\nline", "' OR '1'='1") {
    my $desc = "desc: $name";
    $res = japi(POST => '/products', {name => $name, description => $desc, price => 1.5}, auth());
    is($res->code, 201, 'created: ' . encode_utf8($name));
    my $pid = jbody($res)->{id} // 0;
    my $got = jbody(japi(GET => "/products/$pid", undef, auth())) || {};
    is($got->{name}, $name, 'name intact');
    is($got->{description}, $desc, 'description intact');
}
ok(japi(GET => '/products?limit=1', undef, auth())->code == 200, 'the table is still there');

# ---- roles ----
for my $req (['POST', '/products', {name => 'v', price => 1}], ['PUT', "/products/$id", {name => 'v'}],
             ['PATCH', "/products/$id", {name => 'v'}], ['DELETE', "/products/$id", undef]) {
    for my $prefix ('', '/api') {
        my ($method, $path, $body) = @$req;
        $res = japi($method, "$prefix$path", $body, auth('viewer'));
        ok(is_problem($res, 403, "viewer $method $prefix$path"), "viewer: $method $prefix$path is 403");
        like($res->header('WWW-Authenticate') // '',
             qr/^Bearer realm="secauth", error="insufficient_scope"/, 'with insufficient_scope');
    }
}
$res = japi(GET => "/products/$id", undef, auth('viewer'));
is($res->code, 200, 'a viewer reads a product');
is(jbody($res)->{name}, 'keep', 'the viewer wrote nothing');
$res = japi(PATCH => "/products/$id", {name => 'by admin'}, auth('admin'));
is($res->code, 200, 'an admin writes');
for my $req (['GET', '/products'], ['GET', "/products/$id"], ['POST', '/products'],
             ['PATCH', "/products/$id"], ['DELETE', "/products/$id"], ['HEAD', '/products']) {
    my ($method, $path) = @$req;
    $res = japi($method, $path, $method =~ /P/ ? {name => 'x', price => 1} : undef);
    is($res->code, 401, "$method $path without a token is 401");
    is($res->header('WWW-Authenticate'), 'Bearer realm="secauth"', 'with the plain challenge');
}
$res = japi(GET => '/api/products', undef, auth('viewer'));
is($res->code, 200, 'GET /api/products with a token');

# ---- mounted at /api: Location and Link carry the prefix ----
$res = japi(POST => '/api/products', {name => 'under api', price => 2}, auth());
is($res->code, 201, 'POST /api/products');
my $api_id = jbody($res)->{id};
is($res->header('Location'), "/api/products/$api_id", 'Location under /api');
is(japi(GET => "/api/products/$api_id", undef, auth())->code, 200, 'GET /api/products/{id}');
$res = japi(GET => '/api/products?limit=1', undef, auth());
like($res->header('Link') // '', qr{^</api/products\?after=\d+&limit=1>; rel="next"$},
     'Link under /api');

# ---- pagination ----
for my $q ('limit=0', 'limit=1001', 'limit=abc', 'limit=', 'limit=-1', 'limit=1.5',
           'after=-1', 'after=x', 'after=99999999999', 'limit=5&limit=6', 'limit', 'after=',
           'after=1&after=2', 'limit=1&x=1&limit=1') {
    $res = japi(GET => "/products?$q", undef, auth());
    ok(is_problem($res, 400, $q), "?$q is 400");
    my ($field) = $q =~ /^(\w+)/;
    ok(exists errors_of($res)->{$field}, "naming $field");
}
is(japi(GET => '/products?limit=1000', undef, auth())->code, 200, 'limit=1000 is allowed');
is(japi(GET => '/products?after=0', undef, auth())->code, 200, 'after=0 starts at the beginning');

my %mine;
for my $n (1 .. 250) {
    $res = japi(POST => '/products', {name => "page $n", price => $n / 100, quantity => $n}, auth());
    $mine{jbody($res)->{id}} = 1 if $res->code == 201;
}
is(scalar(keys %mine), 250, '250 products created');
my @all_db = map { $_->[0] } db_rows('SELECT id FROM products ORDER BY id');

$res = japi(GET => '/products', undef, auth());
is(scalar(@{jbody($res)}), 100, 'the default page holds 100');
like($res->header('Link') // '', qr{^</products\?after=\d+&limit=100>; rel="next"$},
     'and links to the next page');

my @seen;
my ($pages, $ordered, $link_ok) = (0, 1, 1);
my $url = '/products?limit=7';
while ($url && $pages < 1000) {
    $res = japi(GET => $url, undef, auth());
    last unless $res->code == 200;
    $pages++;
    my $page = jbody($res);
    $ordered &&= @$page <= 7;
    for my $item (@$page) {
        $ordered &&= !@seen || $item->{id} > $seen[-1];
        push @seen, $item->{id};
    }
    my $link = $res->header('Link');
    if ($link) {
        my ($next, $after) = $link =~ m{^<(/products\?after=(\d+)&limit=7)>; rel="next"$};
        $link_ok &&= defined $after && $after == $seen[-1] && @$page == 7;
        $url = $next;
    }
    else {
        $url = undef;
    }
}
ok($ordered, 'pages come in id order, none larger than the limit');
ok($link_ok, 'every Link points after the last id of its page');
my %count;
$count{$_}++ for @seen;
is(scalar(grep { $count{$_} > 1 } keys %count), 0, 'no product appears twice');
is_deeply([@seen], [@all_db], 'every product appears exactly once, in order');
is(scalar(grep { !$count{$_} } keys %mine), 0, 'none of the 250 is missing');
is($pages, int((@all_db + 6) / 7), 'the number of pages is right');
$res = japi(GET => "/products?after=$all_db[-1]", undef, auth());
is_deeply(jbody($res), [], 'after the last id: an empty page');
ok(!defined $res->header('Link'), 'and no Link');
$res = japi(GET => "/products?after=$all_db[-2]&limit=1", undef, auth());
ok(!defined $res->header('Link'), 'a page that ends exactly at the last product has no Link');

# ---- concurrent writers with one ETag ----
# Each child sends its request at the same instant and reports the status through its exit
# code (an index into @STATUSES); returns {status => how many}.
my @STATUSES = (200, 204, 404, 412);
sub race {
    my ($n, $make) = @_;
    my $start = time + 1;
    my @pids;
    for my $i (1 .. $n) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if (!$pid) {
            sleep($start - time) if $start > time;
            my $code = $make->($i)->code;
            my ($index) = grep { $STATUSES[$_] == $code } 0 .. $#STATUSES;
            exit($index // 99);
        }
        push @pids, $pid;
    }
    my %codes;
    for my $pid (@pids) {
        waitpid($pid, 0);
        $codes{$STATUSES[$? >> 8] // 'other'}++;
    }
    return \%codes;
}

$res = japi(POST => '/products', {name => 'race', price => 1}, auth());
$id = jbody($res)->{id};
my $etag = $res->header('ETag');
my $codes = race(2, sub { japi(PUT => "/products/$id", {quantity => $_[0]}, auth(), 'If-Match' => $etag) });
is_deeply($codes, {200 => 1, 412 => 1}, 'two racing updates with one ETag: one 200, one 412');
$res = japi(GET => "/products/$id", undef, auth());
is($res->header('ETag'), qq{"$id-2"}, 'exactly one write happened');

$etag = $res->header('ETag');
$codes = race(20, sub { japi(PATCH => "/products/$id", {quantity => 100 + $_[0]}, auth(), 'If-Match' => $etag) });
is_deeply($codes, {200 => 1, 412 => 19}, '20 racing updates with one ETag: exactly one 200');
$res = japi(GET => "/products/$id", undef, auth());
is($res->header('ETag'), qq{"$id-3"}, 'and exactly one write');

# without If-Match nobody is refused, and no write is lost: every one bumps the version
$codes = race(10, sub { japi(PATCH => "/products/$id", {price => $_[0]}, auth()) });
is_deeply($codes, {200 => 10}, '10 concurrent updates without If-Match all succeed');
$res = japi(GET => "/products/$id", undef, auth());
is($res->header('ETag'), qq{"$id-13"}, 'each one is a version of its own');

$codes = race(2, sub { japi(DELETE => "/products/$id", undef, auth(), 'If-Match' => qq{"$id-13"}) });
is($codes->{204}, 1, 'of two racing deletes one is 204');
is(($codes->{404} // 0) + ($codes->{412} // 0), 1, 'the other 404 or 412');
ok(is_problem(japi(GET => "/products/$id", undef, auth()), 404, 'raced delete'), 'the product is gone');

done_testing();
