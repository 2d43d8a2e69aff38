# SecAuthTest.pm — helpers shared by the Apache::Test suite: JSON requests, the user flow
# (register, enrol with a real TOTP code, login), forged tokens, and direct reads of the
# database (to check what is stored) through the database's own command-line client.
package SecAuthTest;
use strict;
use warnings;

use Apache::Test ();
use Apache::TestRequest ();
use Authen::OATH;
use Exporter 'import';
use HTTP::Request;
use JSON::PP ();
use MIME::Base64 qw(decode_base64 encode_base64);
use URI::Escape qw(uri_unescape);

our @EXPORT = qw(api json_of unique_name register enroll login_user totp_code secret_of
                 db_rows db_do db_ctl is_problem base32_decode hs_key key_dir b64url
                 strong_password time_step);

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

sub db_do { db_rows(@_); return 1 }

# db_ctl('stop'|'start'): stops or starts the private MariaDB (MySQL runs only).
sub db_ctl {
    my ($what) = @_;
    return system("$ENV{SECAUTH_SRCDIR}/scripts/mariadb", $what, $ENV{SECAUTH_DB_DIR},
                  $ENV{SECAUTH_DB_PORT}) == 0;
}

sub hs_key {
    my ($name) = @_;
    open(my $fh, '<:raw', key_dir() . "/$name.key") or die $!;
    local $/;
    return <$fh>;
}

1;
