# vhost_db.t — a <VirtualHost> with a database of its own (DBDriver/DBDParams of its own: a
# second SQLite file, beside the main server's MariaDB or SQLite) prepares the module's
# statements on its own connections, in its own driver's SQL, and works end to end; and its
# SecAuthRegisterLimit 3 60 bounds registrations per client address (429, nothing stored). A
# virtual host whose database belongs to another mod_dbd user (mod_authn_dbd) is left alone.
use strict;
use warnings;
use Test::More;
use Apache::Test ();
use Apache::TestRequest ();
use HTTP::Request;
use SecAuthTest;

my $other = $ENV{SECAUTH_OTHER_SQLITE_FILE};
sub other_rows {
    my ($sql) = @_;
    open(my $fh, '-|', 'sqlite3', '-separator', "\t", $other, $sql) or die "sqlite3: $!";
    my @rows = map { chomp; [split /\t/, $_, -1] } <$fh>;
    close $fh;
    return @rows;
}

my $offset = error_log_offset();
Apache::TestRequest::module('secauth_otherdb');

my $res = api(GET => '/health');
is($res->code, 200, 'the virtual host answers /health 200');
is_deeply(json_of($res), {status => 'ok', database => 'ok'}, '... with its database ok');

# a whole flow on the virtual host: register, verify-2fa, login, a product
my $user = enroll();
ok($user->{id}, 'registered and enrolled on the virtual host');
my ($row) = other_rows("SELECT username, twofa_confirmed FROM users WHERE id = $user->{id}");
is_deeply($row, [$user->{username}, 1], 'the account is in the virtual host\'s database');
is(scalar(db_rows("SELECT id FROM users WHERE username = '$user->{username}'")), 0,
   'and not in the main server\'s');
$res = api(POST => '/login', {username => $user->{username}, password => $user->{password},
                              recovery_code => $user->{recovery_codes}[0]});
is($res->code, 200, 'login on the virtual host');
my $token = json_of($res)->{token};
$res = api(POST => '/products', {name => 'vhost widget', price => 1.5}, Authorization => "Bearer $token");
is($res->code, 201, 'a product created on the virtual host');
my ($p) = other_rows("SELECT name, price FROM products WHERE id = " . (json_of($res)->{id} // 0));
is_deeply($p, ['vhost widget', '1.50'], 'stored in the virtual host\'s database');

# --- SecAuthRegisterLimit 3 60: one registration is counted already (enroll above) ---
for my $n (2 .. 3) {
    my ($r) = register(unique_name('lim'), strong_password());
    is($r->code, 201, "registration $n of 3 from this address: 201");
}
my $name = unique_name('lim');
my $before = (other_rows('SELECT COUNT(*) FROM users'))[0][0];
$res = register($name, strong_password());
my $b = is_problem($res, 429, 'registration 4');
ok($b, 'the fourth registration within the window: 429');
is($b && $b->{detail}, 'too many registrations from this address: try again later', '429 detail');
my $wait = $res->header('Retry-After') // 0;
ok($wait >= 1 && $wait <= 60, "Retry-After within the window ($wait)");
is((other_rows('SELECT COUNT(*) FROM users'))[0][0], $before, 'nothing was stored');
$res = api(POST => '/register', {username => 'x', password => 'short'});
is($res->code, 400, 'a bad body is still 400 (validated before the limit)');
my @keys = map { $_->[0] } other_rows("SELECT name_hash FROM login_throttle WHERE name_hash LIKE 'r%'");
is(scalar(@keys), 1, 'one throttle row for the address');
like($keys[0] // '', qr/^r[0-9a-f]{5}$/, 'keyed by 20 bits of HMAC, no address stored');

# --- a virtual host whose database is mod_authn_dbd's, not the module's ---
Apache::TestRequest::module('secauth_foreigndb');
{
    my $dir = Apache::Test::vars('documentroot') . '/members';
    mkdir $dir;
    open(my $fh, '>', "$dir/index.txt") or die "$dir/index.txt: $!";
    print $fh "members only\n";
    close $fh;
    my $url = Apache::TestRequest::resolve_url('/members/index.txt');
    my $ua = Apache::TestRequest::user_agent(reset => 1, keep_alive => 0);
    my $req = HTTP::Request->new(GET => $url);
    $req->authorization_basic('bob', 'bob password');
    my $r = $ua->request($req);
    is($r->code, 200, 'mod_authn_dbd on a database of its own still works beside the module');
    is($r->content, "members only\n", '... and serves the file');
    $req->authorization_basic('bob', 'wrong password');
    is($ua->request($req)->code, 401, '... and refuses a wrong password');
}

Apache::TestRequest::module('default');
my $log = error_log_since($offset);
unlike($log, qr/is not prepared|failed to prepare|Can't prepare/i, 'no statement failed to prepare');
like($log, qr/SA614: mod_secauth: registration from 127\.0\.0\.1 refused/, 'the refusal is logged');

done_testing();
