# idempotency.t — Idempotency-Key on POST /products (API.md §5): the key is stored with the row in
# one transaction, a repeat answers the original status, headers and body without a second row,
# the same key with another request is 422, keys are the caller's own and expire after a day,
# malformed keys are 400, and simultaneous repeats still make exactly one row.
use strict;
use warnings;
use Test::More;
use Apache::Test ();
use SecAuthTest;
use SecAuthParallel;

my $editor = make_user('editor');
my $other = make_user('editor');
my %auth = (Authorization => 'Bearer ' . mint_token($editor));
my %auth2 = (Authorization => 'Bearer ' . mint_token($other));

sub count_named {
    my ($name) = @_;
    my ($row) = db_rows("SELECT COUNT(*) FROM products WHERE name = '$name'");
    return $row->[0];
}

# ---- first request and its repeat ----
my $name = unique_name('idem');
my $key = '"' . unique_name('key') . '-8e03978e"';
my $res = api(POST => '/products', {name => $name, price => 19.99, quantity => 2}, %auth,
              'Idempotency-Key' => $key);
is($res->code, 201, 'a create with a key is 201');
my $first = json_of($res) || {};
my ($location, $etag, $body) = ($res->header('Location'), $res->header('ETag'), $res->content);
is($location, "/products/$first->{id}", 'with its Location');
is($etag, qq{"$first->{id}-1"}, 'and its ETag');
ok(!defined $res->header('Idempotent-Replayed'), 'a first answer is not marked as a replay');

my ($stored) = db_rows("SELECT status, location, expires_at - " . ($ENV{SECAUTH_DB} eq 'mysql'
    ? 'UNIX_TIMESTAMP()' : "CAST(strftime('%s','now') AS INTEGER)")
    . " FROM idempotency_keys WHERE user_id = $editor->{id}");
is_deeply([@$stored[0, 1]], [201, $location], 'the key is stored with the answer');
cmp_ok(abs($stored->[2] - 86400), '<=', 5, 'and expires after a day');

$res = api(POST => '/products', {name => $name, price => 19.99, quantity => 2}, %auth,
           'Idempotency-Key' => $key);
is($res->code, 201, 'the repeat answers the original status');
is($res->content, $body, 'and the original body, byte for byte');
is($res->header('Location'), $location, 'the original Location');
is($res->header('ETag'), $etag, 'the original ETag');
is($res->header('Idempotent-Replayed'), 'true', 'marked as a replay');
is($res->header('Content-Type'), 'application/json; charset=utf-8', 'JSON as the first time');

$res = api(POST => '/products', '{"quantity": 2, "price": 19.990, "name": "' . $name . '"}', %auth,
           'Idempotency-Key' => $key);
is($res->code, 201, 'the same request written differently is a repeat');
is($res->content, $body, 'answered with the original body');
is(count_named($name), 1, 'three requests, one row');

# ---- the key with another request ----
$res = api(POST => '/products', {name => $name, price => 20, quantity => 2}, %auth,
           'Idempotency-Key' => $key);
ok(is_problem($res, 422, 'reused key'), 'the same key with another body is 422 problem+json');
like((json_of($res) || {})->{detail} // '', qr/Idempotency-Key/, 'naming the header');
is(count_named($name), 1, 'and writes nothing');

# ---- keys are the caller's own ----
$res = api(POST => '/products', {name => $name, price => 19.99, quantity => 2}, %auth2,
           'Idempotency-Key' => $key);
is($res->code, 201, "another caller's equal key is its own");
isnt((json_of($res) || {})->{id}, $first->{id}, 'and makes its own product');
ok(!defined $res->header('Idempotent-Replayed'), 'not a replay of the first caller');

# ---- expiry ----
db_do("UPDATE idempotency_keys SET expires_at = expires_at - 86401 WHERE user_id = $editor->{id}");
$res = api(POST => '/products', {name => $name, price => 19.99, quantity => 2}, %auth,
           'Idempotency-Key' => $key);
is($res->code, 201, 'after a day the key is free again');
ok(!defined $res->header('Idempotent-Replayed'), 'and the request runs anew');
isnt((json_of($res) || {})->{id}, $first->{id}, 'making a new product');
my ($keys) = db_rows("SELECT COUNT(*) FROM idempotency_keys WHERE user_id = $editor->{id}");
is($keys->[0], 1, 'the expired key was replaced, not kept beside');

# ---- malformed keys ----
my $bad = unique_name('badkey');
for my $k ('""', '"unterminated', "\"tab\there\"", '"' . ('k' x 256) . '"', '"a", "b"',
           'two words', '"back\\slash"') {
    $res = api(POST => '/products', {name => $bad, price => 1}, %auth, 'Idempotency-Key' => $k);
    ok(is_problem($res, 400, "key [$k]"), 'a malformed key is 400: ' . substr($k, 0, 20));
}
is(count_named($bad), 0, 'and writes nothing');
$res = api(POST => '/products', {name => $bad, price => 1}, %auth,
           'Idempotency-Key' => '"quote \\" and backslash \\\\ escaped"');
is($res->code, 201, 'an sf-string with escapes is a key');
$res = api(POST => '/products', {name => $bad, price => 1}, %auth,
           'Idempotency-Key' => 'bare-token-123');
is($res->code, 201, 'a bare token is taken as well');
$res = api(POST => '/products', {name => $bad, price => 1}, %auth,
           'Idempotency-Key' => 'bare-token-123');
is($res->header('Idempotent-Replayed'), 'true', 'and repeats like a quoted one');
is(count_named($bad), 2, 'one row per key');

# a request refused by validation is not stored under its key
$res = api(POST => '/products', {name => $bad, price => -1}, %auth, 'Idempotency-Key' => '"k-invalid"');
is($res->code, 400, 'an invalid body with a key is 400');
$res = api(POST => '/products', {name => $bad, price => 1}, %auth, 'Idempotency-Key' => '"k-invalid"');
is($res->code, 201, 'and the key stays free for the corrected request');

# ---- simultaneous repeats ----
my $race = unique_name('race');
my @out = in_parallel(10, sub {
    my $r = api(POST => '/products', {name => $race, price => 5}, %auth,
                'Idempotency-Key' => '"race-key-' . $race . '"');
    return $r->code . ' ' . ($r->code == 201 ? $r->content : '');
});
my %codes;
$codes{(split / /, $_)[0]}++ for @out;
my %bodies = map { (split / /, $_, 2)[1] => 1 } grep { /^201 / } @out;
is(count_named($race), 1, '10 simultaneous requests with one key make one row');
ok($codes{201} && !grep({ $_ != 201 && $_ != 409 } keys %codes),
   'answered 201 (or 409 while the first is in progress): ' . join(',', map { "$_×$codes{$_}" } sort keys %codes));
is(scalar(keys %bodies), 1, 'every 201 carries the same product');

# without a key nothing changes
$res = api(POST => '/products', {name => $race, price => 5}, %auth);
is($res->code, 201, 'without a key a create is a create');
is(count_named($race), 2, 'and makes a row');

my $log = error_log_since(0);
unlike($log, qr/Segmentation fault|child pid \d+ exit signal/, 'no child crashed');
done_testing();
