# dbreuse.t — connections given back by a request are reused by the next one without mod_dbd's
# check (one MariaDB ping per connection taken from mod_dbd's pool), only while they are fresh,
# and never mix up requests. MariaDB only: SQLite's check makes no round trip.
use strict;
use warnings;
use Test::More;
use Apache::Test ();
use Time::HiRes qw(sleep);
use SecAuthTest;

plan skip_all => 'the ping is a MariaDB round trip' unless $ENV{SECAUTH_DB} eq 'mysql';
plan tests => 9;

# MariaDB counts COM_PING among its admin commands; the test's own queries are not among them.
sub pings {
    my ($row) = db_rows("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                        . "WHERE VARIABLE_NAME = 'COM_ADMIN_COMMANDS'");
    return $row->[0];
}

my $user = make_user('editor');
my %auth = (Authorization => 'Bearer ' . mint_token($user));

my $res = api(POST => '/products', {name => 'reuse probe', price => 2.5}, %auth);
is($res->code, 201, 'a product to read');
my $id = json_of($res)->{id};

# back-to-back requests that need the database (GET /me always asks it; product reads come
# from the state cache): at most one check per httpd child (the first take from the pool)
my $before = pings();
my $good = 0;
for (1 .. 30) {
    $res = api(GET => '/me', undef, %auth);
    $good++ if $res->code == 200 && json_of($res)->{id} == $user->{id};
}
my $back_to_back = pings() - $before;
is($good, 30, '30 back-to-back reads answer 200 with the account');
cmp_ok($back_to_back, '<', 10, "30 back-to-back reads cost $back_to_back pings, not 30");

# a connection that rested longer than the reuse window is checked again
sleep(1);
$before = pings();
$res = api(GET => '/me', undef, %auth);
is($res->code, 200, 'a read after a second of rest');
cmp_ok(pings() - $before, '>=', 1, 'the rested connection is checked (pinged) again');

# writes in transactions and reads interleaved from many clients: each answer is its own
my @results = in_parallel(20, sub {
    my ($i) = @_;
    my $name = "reuse parallel $i";
    my $created = api(POST => '/products', {name => $name, price => $i + 0.25}, %auth);
    return 'create ' . $created->code unless $created->code == 201;
    my $pid = json_of($created)->{id};
    my $read = api(GET => "/products/$pid", undef, %auth);
    my $body = $read->code == 200 ? json_of($read) : {};
    return ($body->{name} // '') eq $name && ($body->{price} // 0) == $i + 0.25
        ? 'ok' : 'read ' . $read->code . ' ' . $read->content;
});
is(scalar(grep { $_ eq 'ok' } @results), 20, '20 parallel create-then-read pairs each see their own row')
    or diag(join("\n", grep { $_ ne 'ok' } @results));

# a statement refused by a unique key is an answer, not a broken connection: the connection is
# reused and the following requests are served
my $name = unique_name('dup');
is(api(POST => '/register', {username => $name, password => strong_password()})->code, 201,
   'a registration');
is(api(POST => '/register', {username => $name, password => strong_password()})->code, 409,
   'the same name again: 409 from the unique key');
$res = api(GET => "/products/$id", undef, %auth);
is($res->code, 200, 'the next request is served');
