# zz_outage.t — the database goes away and comes back (API.md §7): /health and every route that
# needs the database answer 503 problem+json with Retry-After at once, nothing crashes, and
# service resumes without restarting httpd. MariaDB only (SQLite cannot be stopped); runs last.
use strict;
use warnings;
use Test::More;
use Apache::Test ();
use Time::HiRes qw(time);
use SecAuthTest;

plan skip_all => 'the database can be stopped only in the MariaDB run' unless $ENV{SECAUTH_DB} eq 'mysql';
plan tests => 22;

my $user = make_user('editor');
my $token = mint_token($user);
my %auth = (Authorization => "Bearer $token");

my $res = api(GET => '/health');
is($res->code, 200, 'health is 200 with the database up');
$res = api(POST => '/products', {name => 'before outage', price => 1.5}, %auth);
is($res->code, 201, 'a product is created before the outage');

ok(db_ctl('stop'), 'MariaDB stopped');

my $t0 = time;
$res = api(GET => '/health');
my $elapsed = time - $t0;
is($res->code, 503, 'health is 503 while the database is down');
is_deeply(json_of($res), {status => 'unavailable', database => 'unavailable'}, 'health body says so');
ok($res->header('Retry-After'), 'with Retry-After');
cmp_ok($elapsed, '<', 5, 'answered within the connect timeout');

$res = api(GET => '/products', undef, %auth);
ok(is_problem($res, 503, 'products while down'), 'GET /products is 503 problem+json');
ok($res->header('Retry-After'), 'with Retry-After');
$res = api(POST => '/products', {name => 'during outage', price => 2}, %auth);
ok(is_problem($res, 503, 'create while down'), 'POST /products is 503 problem+json');
$res = api(POST => '/login', {username => $user->{username}, password => 'whatever password', code => '123456'});
ok(is_problem($res, 503, 'login while down'), 'POST /login is 503, not a 401');
$res = api(POST => '/register', {username => unique_name('down'), password => strong_password()});
ok(is_problem($res, 503, 'register while down'), 'POST /register is 503');
$res = api(GET => '/static/hello.txt');
is($res->code, 200, 'the rest of the server is unaffected');

ok(db_ctl('start'), 'MariaDB started again');

# mod_dbd drops each dead pooled connection the first time it is handed out; service is back
# once /health answers 200, and then stays back
my $back = 0;
for (1 .. 40) {
    $res = api(GET => '/health');
    if ($res->code == 200) { $back = 1; last }
    select(undef, undef, undef, 0.25);
}
ok($back, 'health is 200 again without restarting httpd');
my @codes = map { api(GET => '/products', undef, %auth)->code } 1 .. 10;
is_deeply(\@codes, [(200) x 10], 'reads work again on every pooled connection');
$res = api(POST => '/products', {name => 'after outage', price => 3.25}, %auth);
is($res->code, 201, 'writes work again');
my $created = json_of($res) || {};
is($created->{price}, 3.25, 'and store exactly');

my @names = map { $_->[0] } db_rows("SELECT name FROM products WHERE name IN ('before outage', 'during outage', 'after outage') ORDER BY id");
ok((grep { $_ eq 'before outage' } @names), 'the product created before the outage is kept');
ok(!(grep { $_ eq 'during outage' } @names), 'nothing was written for the refused create');
ok((grep { $_ eq 'after outage' } @names), 'the product created after is stored');
my $log = error_log_since(0);
unlike($log, qr/Segmentation fault|child pid \d+ exit signal/, 'no child crashed');
