# SecAuthTest.pm — helpers shared by the Apache::Test suite: JSON requests, the user flow
# (register, enrol with a real TOTP code, login), forged tokens, and direct reads of the
# database (to check what is stored) through the database's own command-line client.
package SecAuthTest;
use strict;
use warnings;

use Apache::Test ();
use Apache::TestRequest ();
use SecAuthParallel;   # in_parallel, exported from here too
use Authen::OATH;
use Exporter 'import';
use HTTP::Request;
use JSON::PP ();
use MIME::Base64 qw(decode_base64 encode_base64);
use Time::HiRes ();
use URI::Escape qw(uri_unescape);

our @EXPORT = qw(api json_of unique_name register enroll login_user totp_code secret_of
                 db_rows db_do db_ctl is_problem base32_decode hs_key key_dir b64url
                 strong_password time_step make_user mint_token raw_jws);

my $JSON = JSON::PP->new->canonical->allow_nonref;

sub key_dir { $ENV{SECAUTH_KEYDIR} }

sub b64url {
    my ($bytes) = @_;
    my $s = encode_base64($bytes, '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}

# api(METHOD, PATH, BODY, HEADERS...): BODY is a Perl structure (sent as JSON), a string (sent
# as is), or undef. Returns the HTTP::Response.
sub api {
    my ($method, $path, $body, %headers) = @_;
    my $ua = Apache::TestRequest::user_agent(reset => 1, keep_alive => 0, requests_redirectable => 0);
    my $url = Apache::TestRequest::resolve_url($path);
    my $req = HTTP::Request->new($method => $url);
    if (defined $body) {
        $req->content(ref $body ? $JSON->encode($body) : $body);
        $req->header('Content-Type' => 'application/json') unless exists $headers{'Content-Type'};
    }
    for my $h (keys %headers) {
        $req->header($h => $headers{$h}) if defined $headers{$h};
    }
    return $ua->request($req);
}

sub json_of {
    my ($res) = @_;
    my $content = $res->decoded_content // $res->content;
    my $v = eval { $JSON->decode($content) };
    return $v;
}

# Checks an error response is problem+json with the given status; returns its body.
sub is_problem {
    my ($res, $status, $name) = @_;
    my $b = json_of($res) || {};
    my $ok = $res->code == $status
        && ($res->header('Content-Type') // '') =~ m{^application/problem\+json}
        && ($b->{status} // 0) == $status && ($b->{type} // '') eq 'about:blank'
        && defined $b->{title};
    Test::More::diag("$name: got " . $res->code . " " . ($res->header('Content-Type') // '')
                     . " " . $res->content) unless $ok;
    return $ok ? $b : undef;
}

my $counter = 0;
sub unique_name {
    my ($prefix) = @_;
    $counter++;
    return lc(($prefix // 'u') . "$$" . "x$counter" . int(rand(1e6)));
}

sub strong_password { 'correct horse battery staple ' . int(rand(1e9)) }

sub base32_decode {
    my ($s) = @_;
    $s = uc $s;
    $s =~ s/=+$//;
    my $bits = join '', map { sprintf '%05b', index('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', $_) } split //, $s;
    my $bytes = '';
    $bytes .= chr(oct("0b" . substr($bits, $_ * 8, 8))) for 0 .. int(length($bits) / 8) - 1;
    return $bytes;
}

sub secret_of {
    my ($uri) = @_;
    my ($s) = $uri =~ /[?&]secret=([A-Z2-7]+)/;
    return $s;
}

sub time_step { int((shift // time) / 30) }

sub totp_code {
    my ($secret_b32, $time) = @_;
    my $oath = Authen::OATH->new(digits => 6, timestep => 30);
    return sprintf '%06d', $oath->totp(base32_decode($secret_b32), $time // time);
}

# register(username, password) → (response, body)
sub register {
    my ($username, $password) = @_;
    my $res = api(POST => '/register', {username => $username, password => $password});
    return wantarray ? ($res, json_of($res)) : $res;
}

# enroll(username, password) → hashref {id, username, secret, enrollment_token, recovery_codes,
# password, step} of a confirmed account (its current TOTP step is used up).
sub enroll {
    my ($username, $password) = @_;
    $username //= unique_name('user');
    $password //= strong_password();
    my ($res, $body) = register($username, $password);
    die "register $username: " . $res->code . ' ' . $res->content unless $res->code == 201;
    my $secret = secret_of($body->{otpauth_uri});
    my $time = time;
    my $v = api(POST => '/verify-2fa', {username => $username, code => totp_code($secret, $time)},
                Authorization => "Bearer $body->{enrollment_token}");
    die "verify-2fa $username: " . $v->code . ' ' . $v->content unless $v->code == 200;
    return {%$body, secret => $secret, password => $password,
            recovery_codes => json_of($v)->{recovery_codes}, step => time_step($time)};
}

# login_user(user) → access token; uses the next unused TOTP step (waits for it if needed).
sub login_user {
    my ($user) = @_;
    # a code works once per step: use the current step, or the next one (SecAuthTOTPSkew 1
    # accepts it), and wait for time to move on when both are used up
    my $step = time_step();
    my $use = $step > $user->{step} ? $step : $user->{step} + 1;
    if ($use > $step + 1) {
        sleep(($step + 1) * 30 - time + 1);
        return login_user($user);
    }
    my $res = api(POST => '/login', {username => $user->{username}, password => $user->{password},
                                     code => totp_code($user->{secret}, $use * 30 + 1)});
    die "login $user->{username}: " . $res->code . ' ' . $res->content unless $res->code == 200;
    $user->{step} = $use;
    return json_of($res)->{token};
}

# Rows of a query run with the database's own client, as arrays of strings.
sub db_rows {
    my ($sql) = @_;
    my @cmd;
    if ($ENV{SECAUTH_DB} eq 'mysql') {
        @cmd = ('mariadb', '--no-defaults', "--socket=$ENV{SECAUTH_DB_DIR}/mysqld.sock", '-uroot',
                '-N', '-B', 'security_db', '-e', $sql);
    }
    else {
        @cmd = ('sqlite3', '-separator', "\t", $ENV{SECAUTH_SQLITE_FILE}, $sql);
    }
    open(my $fh, '-|', @cmd) or die "cannot run @cmd: $!";
    my @rows = map { chomp; [split /\t/, $_, -1] } <$fh>;
    close $fh;
    return @rows;
}

# A change made with direct SQL reaches the server's state cache through the change feed:
# within SecAuthStateRefresh (100 ms) plus one poll (API.md §12), so the caller waits that long.
use constant FEED_DELAY => 0.35;
sub db_do { db_rows(@_); Time::HiRes::sleep(FEED_DELAY); return 1 }

# db_ctl('stop'|'start'): stops or starts the private MariaDB (MySQL runs only).
sub db_ctl {
    my ($what) = @_;
    return system("$ENV{SECAUTH_SRCDIR}/scripts/mariadb", $what, $ENV{SECAUTH_DB_DIR},
                  $ENV{SECAUTH_DB_PORT}) == 0;
}

# make_user(ROLE, USERNAME) → {id, username, role}: an account inserted straight into the
# database (enrolled, never logged in), for tests that need a valid token but not the login flow.
sub make_user {
    my ($role, $username) = @_;
    $role //= 'editor';
    $username //= unique_name('tok');
    die "make_user: unsafe name $username" unless $username =~ /^[a-z0-9._@+-]+$/;
    db_do("INSERT INTO users (username, password, role, twofa_confirmed) "
          . "VALUES ('$username', 'not-a-password-hash', '$role', 1)");
    my ($row) = db_rows("SELECT id FROM users WHERE username = '$username'");
    die "make_user: $username was not stored" unless $row;
    return {id => $row->[0], username => $username, role => $role};
}

# Signing keys of the test server by algorithm: key material for Crypt::JWT and the key id.
sub _signing_key {
    my ($alg, $name) = @_;
    require Crypt::PK::RSA;
    require Crypt::PK::ECC;
    return (hs_key($name // 'hs-current'), $name && $name eq 'hs-previous' ? 'previous' : 'current')
        if $alg =~ /^HS/;
    return (Crypt::PK::RSA->new(key_dir() . '/rsa.pem'), 'rsa1') if $alg eq 'RS256';
    return (Crypt::PK::ECC->new(key_dir() . '/ec.pem'), 'ec1') if $alg eq 'ES256';
    die "no test key for $alg";
}

# mint_token(USER, OPTIONS) → an access token as POST /login issues it (API.md §4), signed with a
# test key through Crypt::JWT, with the user's current token generation (claim gen). OPTIONS: alg (HS256, RS256, ES256), key_name (hs-current or
# hs-previous), key (raw key material, overrides), claims / header (hashes merged over the
# defaults; an undef value removes the entry).
sub mint_token {
    my ($user, %opt) = @_;
    require Crypt::JWT;
    my $alg = $opt{alg} // 'HS256';
    my ($key, $kid) = $alg eq 'none' ? ('', 'current') : _signing_key($alg, $opt{key_name});
    $key = $opt{key} if exists $opt{key};
    my $now = time;
    # the user's token generation now, as a login would put it into the token
    my $gen = 0;
    if (!exists(($opt{claims} // {})->{gen}) && ($user->{id} // '') =~ /^\d+$/) {
        my ($row) = db_rows("SELECT token_generation FROM users WHERE id = $user->{id}");
        $gen = $row ? $row->[0] + 0 : 0;
    }
    my %claims = (iss => 'https://secauth.test', aud => 'products-api', sub => "$user->{id}",
                  preferred_username => $user->{username}, role => $user->{role},
                  iat => $now, nbf => $now, exp => $now + 600, gen => $gen,
                  jti => join('', map { sprintf '%02x', int(rand(256)) } 1 .. 16));
    my %header = (typ => 'at+jwt', kid => $kid);
    for my $set ([\%claims, $opt{claims}], [\%header, $opt{header}]) {
        my ($into, $over) = @$set;
        for my $k (keys %{$over // {}}) {
            if (defined $over->{$k}) { $into->{$k} = $over->{$k} } else { delete $into->{$k} }
        }
    }
    return Crypt::JWT::encode_jwt(payload => \%claims, alg => $alg, key => $key,
                                  extra_headers => \%header, allow_none => 1);
}

# raw_jws(HEADER, CLAIMS, SIGNATURE) → "b64(header).b64(claims).SIGNATURE": a token no library
# would make (alg "None", a tampered payload...).
sub raw_jws {
    my ($header, $claims, $signature) = @_;
    return join '.', b64url($JSON->encode($header)), b64url($JSON->encode($claims)),
        $signature // '';
}

sub hs_key {
    my ($name) = @_;
    open(my $fh, '<:raw', key_dir() . "/$name.key") or die $!;
    local $/;
    return <$fh>;
}

# ---- accounts and two-factor helpers ----
push @EXPORT, qw(jwt_parts fresh_step in_parallel error_log_offset error_log_since);

# jwt_parts(TOKEN) → (header, claims) as Perl structures (no signature check).
sub jwt_parts {
    my ($token) = @_;
    my @p = split /\./, $token // '';
    my $dec = sub { my $s = shift // ''; $s =~ tr{-_}{+/}; $s .= '=' x ((4 - length($s) % 4) % 4);
                    return eval { $JSON->decode(decode_base64($s)) } };
    return ($dec->($p[0]), $dec->($p[1]));
}

# fresh_step(MARGIN) → the current TOTP step, after waiting (if needed) until at least MARGIN
# seconds (default 6) of it remain, so that a test's codes do not straddle a step boundary.
sub fresh_step {
    my ($margin) = @_;
    $margin //= 6;
    my $left = 30 - (time % 30);
    sleep($left + 1) if $left < $margin;
    return time_step();
}

sub _error_log { Apache::Test::vars('t_logs') . '/error_log' }

# error_log_offset() → the current size of the test server's error log;
# error_log_since(OFFSET) → what was logged after it.
sub error_log_offset { return -s _error_log() // 0 }

sub error_log_since {
    my ($offset) = @_;
    open(my $fh, '<', _error_log()) or return '';
    seek($fh, $offset, 0);
    local $/;
    my $text = <$fh>;
    return $text // '';
}

1;
