# mpms.t — the whole flow under each of httpd's MPMs (prefork: one thread per child, worker and
# event: threads): a fresh httpd on SQLite serves register, verify-2fa, login, the products API
# and the bearer check, parallel logins and reads, then stops gracefully without a crashed child.
use strict;
use warnings;
use Apache::Test ();
use Test::More;
use File::Temp qw(tempdir);
use LWP::UserAgent;
use JSON::PP;
use SecAuthTest;
use SecAuthServer;

my @mpms = grep { -e "$ENV{SECAUTH_MODDIR}/mod_mpm_$_.so" } qw(prefork worker event);
plan skip_all => 'runs its own servers on SQLite: once, in the SQLite run' unless $ENV{SECAUTH_DB} eq 'sqlite';
plan tests => 12 * @mpms;

my $json = JSON::PP->new->canonical;
my $server;

sub start_server {
    my ($mpm, $dir) = @_;
    system('sqlite3', "$dir/db", ".read $ENV{SECAUTH_SRCDIR}/sql/sqlite/schema.sql") == 0 or die 'schema';
    return SecAuthServer->start(mpm => $mpm, driver => 'sqlite3', params => "$dir/db",
                                extra => "SecAuthPasswordHash argon2id m=4096 t=1 p=1\n"
                                         . "LogLevel notice");   # crashed children: notice
}

sub call {
    my ($method, $path, $body, %headers) = @_;
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my $req = HTTP::Request->new($method => $server->url($path));
    if (defined $body) {
        $req->content($json->encode($body));
        $req->header('Content-Type' => 'application/json');
    }
    $req->header($_ => $headers{$_}) for keys %headers;
    my $res = $ua->request($req);
    # LWP answers 500 itself when the connection breaks: keep its status line for the report
    my $data = eval { $json->decode($res->content) } // {status_line => $res->status_line};
    return ($res->code, $data);
}

# register, confirm with the current code, and log in with the next step's code
sub enrolled_token {
    my ($name) = @_;
    my $pw = 'correct horse battery staple';
    my ($code, $reg) = call(POST => '/register', {username => $name, password => $pw});
    return "register $code " . ($reg->{status_line} // $reg->{detail} // '') unless $code == 201;
    my $secret = secret_of($reg->{otpauth_uri});
    my $now = time;
    ($code, my $v) = call(POST => '/verify-2fa', {username => $name, code => totp_code($secret, $now)},
                          Authorization => "Bearer $reg->{enrollment_token}");
    return "verify-2fa $code " . ($v->{status_line} // $v->{detail} // '') unless $code == 200;
    my ($lcode, $login) = call(POST => '/login', {username => $name, password => $pw,
                                                  code => totp_code($secret, $now + 30)});
    return $lcode == 200 ? $login->{token}
                         : "login $lcode " . ($login->{status_line} // $login->{detail} // '');
}

for my $mpm (@mpms) {
    my $dir = tempdir(CLEANUP => 1);
    $server = start_server($mpm, $dir);
    my ($code, $health) = call(GET => '/health');
    is($code, 200, "$mpm: the server answers /health") or diag($server->error_log);

    my $token = enrolled_token("solo$mpm");
    like($token, qr/^[\w-]+\.[\w-]+\.[\w-]+$/, "$mpm: register, verify-2fa and login give a token");
    my %auth = (Authorization => "Bearer $token");
    ($code) = call(GET => '/products');
    is($code, 401, "$mpm: /products without a token is 401");
    ($code) = call(GET => '/products', undef, %auth);
    is($code, 200, "$mpm: with the token 200");
    my ($made, $p) = call(POST => '/products', {name => "widget $mpm", price => 9.99, quantity => 3}, %auth);
    is($made, 201, "$mpm: a new user (role editor) creates a product");

    # parallel enrolments and logins, then parallel reads with their tokens
    my @tokens = in_parallel(16, sub { enrolled_token("par$mpm$_[0]") });
    is(scalar(grep { /^[\w-]+\.[\w-]+\.[\w-]+$/ } @tokens), 16, "$mpm: 16 parallel enrolments and logins")
        or diag("@tokens\n" . $server->error_log);
    my @reads = in_parallel(12, sub {
        my $t = $tokens[$_[0] % 16];
        my @codes = map { (call(GET => '/me', undef, Authorization => "Bearer $t"))[0] } 1 .. 10;
        return join ',', @codes;
    });
    is(scalar(grep { $_ eq join(',', (200) x 10) } @reads), 12, "$mpm: 12 clients x 10 reads of /me: all 200")
        or diag("@reads");
    ($code, my $me) = call(GET => '/me', undef, %auth);
    is($me->{username}, "solo$mpm", "$mpm: /me names the token's user");

    ($code) = call(POST => '/logout', undef, %auth);
    is($code, 204, "$mpm: logout");
    ($code) = call(GET => '/me', undef, %auth);
    is($code, 401, "$mpm: the revoked token is refused");

    ok($server->stop('graceful-stop'), "$mpm: graceful stop");
    my $log = $server->error_log;
    unlike($log, qr/AH00052|Segmentation|exit signal|AddressSanitizer|runtime error/,
           "$mpm: no child crashed") or diag($log);
}
