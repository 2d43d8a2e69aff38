# accounts.t — API.md §2 as a user meets it: register, the QR code decoded by zbarimg, a code
# from Authen::OATH, verify-2fa, login, /me, logout; every validation rule of registration;
# one 401 body for every kind of failed login; codes used at most once (also by 50 parallel
# logins); recovery codes; enrolment-token rules; what the database holds; the audit log.
use strict;
use warnings;
use Apache::Test ();
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes ();
use Crypt::KeyDerivation ();
use SecAuthTest;

my $tmp = tempdir(CLEANUP => 1);
my $log_start = error_log_offset();
my $JSON_CT = 'application/json; charset=utf-8';
my $B32_URI = qr{^otpauth://totp/SecAuth:([^?]+)\?secret=([A-Z2-7]{32})&issuer=SecAuth&algorithm=SHA1&digits=6&period=30$};
my $RECOVERY = qr/^[0-9abcdefghjkmnpqrstvwxyz]{4}-[0-9abcdefghjkmnpqrstvwxyz]{4}-[0-9abcdefghjkmnpqrstvwxyz]{2}$/;

sub bearer { return (Authorization => "Bearer $_[0]") }

# A body as UTF-8 bytes (the shared helper sends ASCII-only JSON).
my $UTF8 = JSON::PP->new->utf8->canonical;
sub post_json { my ($path, $data, @h) = @_; return api(POST => $path, $UTF8->encode($data), @h) }

sub field_errors {
    my ($res, $name) = @_;
    my $b = is_problem($res, 400, $name) or return;
    return $b->{errors};
}

sub decode_qr {
    my ($png) = @_;
    my $file = "$tmp/qr-" . int(rand(1e9)) . '.png';
    open(my $fh, '>:raw', $file) or die $!;
    print $fh $png;
    close $fh;
    my $text = `zbarimg --raw -q '$file' 2>/dev/null`;
    chomp $text;
    return $text;
}

# ------------------------------------------------------------------------------------------
# the whole flow, as the original's users do it
# ------------------------------------------------------------------------------------------
my $name = unique_name('flow');
my $password = strong_password();
my ($res, $body) = register($name, $password);
is($res->code, 201, 'register: 201');
is($res->header('Content-Type'), $JSON_CT, 'register: JSON');
is($res->header('Cache-Control'), 'no-store', 'register: no-store');
is_deeply([sort keys %$body],
          [qw(enrollment_expires_in enrollment_token id otpauth_uri role username)],
          'register: exactly the fields of §2');
like($body->{id}, qr/^[1-9][0-9]*$/, 'register: a positive id');
ok(!ref $body->{id} && $body->{id} =~ /^\d+$/, 'register: id is a number');
is($body->{username}, $name, 'register: the username');
is($body->{role}, 'editor', 'register: role editor, as in the original');
is($body->{enrollment_expires_in}, 600, 'register: enrolment token lifetime');
like($body->{otpauth_uri}, $B32_URI, 'register: otpauth URI of §2 (issuer, SHA1, 6 digits, 30 s)');
my ($label_name, $secret) = $body->{otpauth_uri} =~ $B32_URI;
is($label_name, $name, 'register: the account in the label');
is(length(base32_decode($secret)), 20, 'register: a 20-byte secret');
my ($eh, $ec) = jwt_parts($body->{enrollment_token});
is($eh->{typ}, 'enroll+jwt', 'enrolment token: typ enroll+jwt');
is($ec->{scope}, 'enroll', 'enrolment token: scope enroll');
is($ec->{sub}, "$body->{id}", 'enrolment token: sub is the user id');
is($ec->{preferred_username}, $name, 'enrolment token: preferred_username');
is($ec->{exp} - $ec->{iat}, 600, 'enrolment token: exp = iat + 600');
ok(!exists $ec->{role}, 'enrolment token: no role claim');
my $flow = {%$body, secret => $secret, password => $password};

# the QR code: PNG by default, decoded by zbarimg to exactly the URI
$res = api(GET => "/generate-qr/$name", undef, bearer($flow->{enrollment_token}));
is($res->code, 200, 'generate-qr: 200');
is($res->header('Content-Type'), 'image/png', 'generate-qr: image/png by default');
is($res->header('Cache-Control'), 'no-store', 'generate-qr: no-store');
is(substr($res->content, 0, 8), "\x89PNG\r\n\x1a\n", 'generate-qr: a PNG');
is(decode_qr($res->content), $flow->{otpauth_uri}, 'generate-qr: zbarimg decodes exactly the URI');
my $decoded_secret = secret_of(decode_qr($res->content));

$res = api(GET => "/generate-qr/$name", undef, bearer($flow->{enrollment_token}),
           Accept => 'image/png');
is($res->header('Content-Type'), 'image/png', 'generate-qr: Accept image/png');
$res = api(GET => "/generate-qr/" . uc($name), undef, bearer($flow->{enrollment_token}));
is($res->code, 200, 'generate-qr: the username is case-insensitive');

$res = api(GET => "/generate-qr/$name?format=svg", undef, bearer($flow->{enrollment_token}));
is($res->code, 200, 'generate-qr svg: 200');
is($res->header('Content-Type'), 'image/svg+xml', 'generate-qr: ?format=svg');
like($res->content, qr/<svg\b.*<\/svg>\s*$/s, 'generate-qr svg: an SVG document');
$res = api(GET => "/generate-qr/$name", undef, bearer($flow->{enrollment_token}),
           Accept => 'image/svg+xml');
is($res->header('Content-Type'), 'image/svg+xml', 'generate-qr: Accept image/svg+xml');

$res = api(GET => "/generate-qr/$name?format=json", undef, bearer($flow->{enrollment_token}));
is($res->code, 200, 'generate-qr json: 200');
is($res->header('Content-Type'), $JSON_CT, 'generate-qr: ?format=json');
is_deeply(json_of($res), {otpauth_uri => $flow->{otpauth_uri}}, 'generate-qr json: the URI');
$res = api(GET => "/generate-qr/$name", undef, bearer($flow->{enrollment_token}),
           Accept => 'application/json');
is_deeply(json_of($res), {otpauth_uri => $flow->{otpauth_uri}}, 'generate-qr: Accept JSON');

$res = api(HEAD => "/generate-qr/$name", undef, bearer($flow->{enrollment_token}));
is($res->code, 200, 'generate-qr: HEAD works');
is($res->content, '', 'generate-qr: HEAD has no body');
$res = api(GET => "/generate-qr/$name?format=gif", undef, bearer($flow->{enrollment_token}));
is_deeply(field_errors($res, 'format=gif'),
          [{field => 'format', detail => 'must be png, svg or json'}], 'generate-qr: unknown format 400');

# verify-2fa with a code computed from the decoded QR code
my $step = fresh_step();
$res = api(POST => '/verify-2fa', {username => $name, code => totp_code($decoded_secret)},
           bearer($flow->{enrollment_token}));
is($res->code, 200, 'verify-2fa: 200');
is($res->header('Content-Type'), $JSON_CT, 'verify-2fa: JSON');
$body = json_of($res);
is_deeply([sort keys %$body], [qw(recovery_codes verified)], 'verify-2fa: the fields of §2');
ok($body->{verified} && JSON::PP::is_bool($body->{verified}), 'verify-2fa: verified true');
is(scalar @{$body->{recovery_codes}}, 10, 'verify-2fa: ten recovery codes');
is(scalar(grep { /$RECOVERY/ } @{$body->{recovery_codes}}), 10, 'verify-2fa: codes look like xxxx-xxxx-xx');
my %distinct = map { $_ => 1 } @{$body->{recovery_codes}};
is(scalar keys %distinct, 10, 'verify-2fa: all different');
$flow->{recovery_codes} = $body->{recovery_codes};
$flow->{step} = $step;

# the verification's step is used up: it cannot log in
$res = api(POST => '/login', {username => $name, password => $password, code => totp_code($secret, $step * 30 + 1)});
ok(is_problem($res, 401, 'verify step reused'), 'login: the code used by verify-2fa is refused');

# login with the next step's code (SecAuthTOTPSkew 1), the username in another case
$res = api(POST => '/login', {username => uc($name), password => $password,
                              code => totp_code($secret, ($step + 1) * 30 + 1)});
is($res->code, 200, 'login: 200 (the username is case-insensitive)');
is($res->header('Content-Type'), $JSON_CT, 'login: JSON');
is($res->header('Cache-Control'), 'no-store', 'login: no-store');
$body = json_of($res);
is_deeply([sort keys %$body], [qw(expires_in token token_type)], 'login: the fields of §2');
is($body->{token_type}, 'Bearer', 'login: token_type Bearer');
is($body->{expires_in}, 600, 'login: expires_in 600');
$flow->{step} = $step + 1;
my $token = $body->{token};
my ($ah, $ac) = jwt_parts($token);
is($ah->{typ}, 'at+jwt', 'access token: typ at+jwt');
is($ah->{kid}, 'current', 'access token: kid of the signing key');
is($ac->{role}, 'editor', 'access token: role');
is($ac->{sub}, "$flow->{id}", 'access token: sub');
is($ac->{preferred_username}, $name, 'access token: preferred_username');
is($ac->{exp} - $ac->{iat}, 600, 'access token: exp = iat + 600');
like($ac->{jti}, qr/^[0-9a-f]{32,}$/, 'access token: jti of at least 128 bits');

$res = api(GET => '/me', undef, bearer($token));
is($res->code, 200, '/me: 200');
is($res->header('Content-Type'), $JSON_CT, '/me: JSON');
is($res->header('Cache-Control'), 'no-store', '/me: no-store');
$body = json_of($res);
is_deeply([sort keys %$body], [qw(created_at id role username)], '/me: the fields of §2');
is($body->{id}, $flow->{id}, '/me: id');
is($body->{username}, $name, '/me: username');
is($body->{role}, 'editor', '/me: role');
like($body->{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, '/me: created_at in ISO 8601 UTC');
my ($y, $mo, $d, $h, $mi, $s) = $body->{created_at} =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z$/;
require Time::Local;
my $created = Time::Local::timegm($s, $mi, $h, $d, $mo - 1, $y);
ok(abs(time - $created) < 300, '/me: created_at is now, in UTC');
$res = api(HEAD => '/me', undef, bearer($token));
is($res->code, 200, '/me: HEAD works');

# logout revokes the token, and only that one
my $other_token = mint_token({id => $flow->{id}, username => $name, role => 'editor'});
$res = api(POST => '/logout', undef, bearer($token));
is($res->code, 204, 'logout: 204');
is($res->content, '', 'logout: no body');
is($res->header('Cache-Control'), 'no-store', 'logout: no-store');
$res = api(GET => '/me', undef, bearer($token));
ok(is_problem($res, 401, 'me after logout'), 'logout then /me: 401');
like($res->header('WWW-Authenticate') // '', qr/error="invalid_token"/, 'logout then /me: invalid_token');
$res = api(POST => '/logout', undef, bearer($token));
ok(is_problem($res, 401, 'logout twice'), 'logout with a revoked token: 401');
$res = api(GET => '/me', undef, bearer($other_token));
is($res->code, 200, 'logout revokes only its own token');
my @revoked = db_rows("SELECT user_id, expires_at FROM revoked_tokens WHERE jti = '$ac->{jti}'");
is_deeply(\@revoked, [[$flow->{id}, $ac->{exp} + 30]],
          'logout: the jti is revoked until the token expires (clock skew included)');
$res = api(POST => '/logout');
ok(is_problem($res, 401, 'logout no token'), 'logout without a token: 401');
$res = api(GET => '/logout', undef, bearer(mint_token({id => $flow->{id}, username => $name, role => 'editor'})));
ok(is_problem($res, 405, 'GET logout'), 'GET /logout (behind the access check): 405');
is($res->header('Allow'), 'POST', 'GET /logout: Allow POST');
$res = api(GET => '/login');
is($res->header('Allow'), 'POST', 'GET /login: Allow POST');
$res = api(POST => '/generate-qr/x');
is($res->header('Allow'), 'GET, HEAD', 'POST /generate-qr: Allow GET, HEAD');

# expired revocations are purged by the next logout
db_do("INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ('stale$$', $flow->{id}, 1000)");
api(POST => '/logout', undef, bearer($other_token));
is_deeply([db_rows("SELECT COUNT(*) FROM revoked_tokens WHERE jti = 'stale$$'")], [[0]],
          'logout: expired revocations are purged');

# ------------------------------------------------------------------------------------------
# what the database holds
# ------------------------------------------------------------------------------------------
my ($row) = db_rows("SELECT password, twofa_secret, twofa_confirmed FROM users WHERE id = $flow->{id}");
like($row->[0], qr/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+\/]{22}\$[A-Za-z0-9+\/]{43}$/,
     'db: argon2id PHC string with the configured parameters and a 16-byte salt');
unlike($row->[0], qr/\Q$password\E/, 'db: no plain password');
like($row->[1], qr/^v1\.[A-Za-z0-9_-]+$/, 'db: the secret is sealed');
unlike(uc $row->[1], qr/\Q$secret\E/, 'db: no Base32 secret in the sealed value');
is($row->[2], 1, 'db: enrolment confirmed');
my @all_secrets = map { $_->[0] // '' } db_rows('SELECT twofa_secret FROM users');
is(scalar(grep { uc($_) =~ /\Q$secret\E/ } @all_secrets), 0, 'db: the Base32 secret is nowhere in users');
my @codes = db_rows("SELECT code_hash, used_at FROM recovery_codes WHERE user_id = $flow->{id}");
is(scalar @codes, 10, 'db: ten recovery code rows');
is(scalar(grep { $_->[0] =~ /^[0-9a-f]{64}$/ } @codes), 10, 'db: stored as 64-hex hashes');
my %plain = map { my $c = $_; $c =~ s/-//g; ($_ => 1, $c => 1) } @{$flow->{recovery_codes}};
is(scalar(grep { $plain{$_->[0]} } @codes), 0, 'db: no plain recovery code');
my $dump = join ' ', map { @$_ } db_rows('SELECT * FROM recovery_codes');
is(scalar(grep { index($dump, $_) >= 0 } keys %plain), 0, 'db: no recovery code anywhere in the table');

# ------------------------------------------------------------------------------------------
# registration rules
# ------------------------------------------------------------------------------------------
my $pw = strong_password();
my @username_cases = (
    [undef, 'is required', 'missing'],
    ['ab', 'must be 3 to 50 characters', '2 characters'],
    ['a' x 51, 'must be 3 to 50 characters', '51 characters'],
    ['', 'must be 3 to 50 characters', 'empty'],
    ['bad name', 'may contain only letters, digits and . _ @ + -', 'a space'],
    ['bad/name', 'may contain only letters, digits and . _ @ + -', 'a slash'],
    ["caf\x{e9}x", 'may contain only letters, digits and . _ @ + -', 'a non-ASCII letter'],
    ['name:x', 'may contain only letters, digits and . _ @ + -', 'a colon'],
    [123456, 'must be a string', 'a number'],
    [JSON::PP::true(), 'must be a string', 'a boolean'],
    [['abc'], 'must be a string', 'an array'],
    [{a => 1}, 'must be a string', 'an object'],
    ['NULL', 'must be a string', 'null'],
);
for my $c (@username_cases) {
    my ($u, $detail, $what) = @$c;
    my %b = (password => $pw);
    $b{username} = $u if defined $u;
    $b{username} = undef if $what eq 'null';
    $res = post_json('/register', \%b);
    is_deeply(field_errors($res, "username $what"), [{field => 'username', detail => $detail}],
              "register: username $what → 400 '$detail'");
}
{
    my $long = substr(unique_name('l') . ('x' x 50), 0, 50);
    $res = api(POST => '/register', {username => $long, password => $pw});
    is($res->code, 201, 'register: a username of 50 characters is accepted');
    my @abc = ('a' .. 'z', 0 .. 9);
    my $short = join '', map { $abc[rand @abc] } 1 .. 3;
    $res = api(POST => '/register', {username => $short, password => $pw});
    ok($res->code == 201 || $res->code == 409, 'register: a username of 3 characters is accepted')
        or diag($res->content);
}
my $symbols = 'a.b_c@d+e-' . int(rand(1e9));
($res, $body) = register($symbols, $pw);
is($res->code, 201, 'register: . _ @ + - are allowed');
is($body->{otpauth_uri} =~ /SecAuth:([^?]+)/ && $1, uri_escape_min($symbols), 'register: the account label is percent-encoded');

sub uri_escape_min { my $s = shift; $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge; $s }

my $mixed = 'Mixed' . unique_name('case');
($res, $body) = register($mixed, $pw);
is($res->code, 201, 'register: mixed case accepted');
is($body->{username}, lc $mixed, 'register: the username is lower-cased');
is_deeply([db_rows("SELECT username FROM users WHERE id = $body->{id}")], [[lc $mixed]],
          'register: stored lower-cased');
$res = register(lc $mixed, strong_password());
ok(is_problem($res, 409, 'dup lower'), 'register: the same name in another case is 409');
is(json_of($res)->{detail}, 'this username is taken', 'register: 409 says the name is taken');
$res = register(uc $mixed, strong_password());
ok(is_problem($res, 409, 'dup upper'), 'register: upper-case duplicate is 409');

my $pu = unique_name('passwordowner');
my @password_cases = (
    [undef, 'is required', 'missing'],
    ['a' x 11, 'must be at least 12 characters', '11 characters'],
    ["\x{e9}" x 11, 'must be at least 12 characters', '11 two-byte characters (22 bytes)'],
    ['Zq7' . ('x' x 126), 'must be at most 128 characters', '129 characters'],
    ["xx${pu}yyzz12345", 'must not contain the username', 'containing the username'],
    ['XX' . uc($pu) . 'YYZZ123', 'must not contain the username', 'containing the username in upper case'],
    [$pu, 'must not contain the username', 'equal to the username'],
    ['password1234', 'is too common', 'password1234'],
    ['Qwertyuiop12!', 'is too common', 'Qwertyuiop12!'],
    [123456789012, 'must be a string', 'a number'],
    [JSON::PP::false(), 'must be a string', 'a boolean'],
);
for my $c (@password_cases) {
    my ($p, $detail, $what) = @$c;
    my %b = (username => $pu);
    $b{password} = $p if defined $p;
    $res = post_json('/register', \%b);
    is_deeply(field_errors($res, "password $what"), [{field => 'password', detail => $detail}],
              "register: password $what → 400 '$detail'");
}
$res = api(POST => '/register', {username => 'x', password => 'short'});
is_deeply(field_errors($res, 'both bad'),
          [{field => 'username', detail => 'must be 3 to 50 characters'},
           {field => 'password', detail => 'must be at least 12 characters'}],
          'register: one error per bad field');
is(json_of($res)->{detail}, 'username must be 3 to 50 characters', 'register: detail names the first');
for my $ok_pw ('securepassword', "\x{e9}" x 12, 'Zq7' . ('x' x 125), '  spaced out password  ') {
    my $u = unique_name('okpw');
    $res = post_json('/register', {username => $u, password => $ok_pw});
    is($res->code, 201, 'register: password accepted: ' . substr($ok_pw, 0, 16) . ' (' . length($ok_pw) . ' chars)');
}
$res = api(POST => '/register', {username => unique_name('r'), password => $pw, role => 'admin'});
is_deeply(field_errors($res, 'role'), [{field => 'role', detail => 'is not a known field'}],
          'register: role cannot be set (400 naming it)');
$res = api(POST => '/register', {username => unique_name('r'), password => $pw, id => 1});
is_deeply(field_errors($res, 'id'), [{field => 'id', detail => 'is not a known field'}],
          'register: id cannot be set');

# the password is used exactly as sent: no trimming
{
    my $spaced = enroll(unique_name('sp'), '  spaced out password  ');
    my $r = api(POST => '/login', {username => $spaced->{username}, password => 'spaced out password',
                                   code => totp_code($spaced->{secret}, ($spaced->{step} + 1) * 30)});
    ok(is_problem($r, 401, 'trimmed'), 'login: the trimmed password is wrong');
    ok(login_user($spaced), 'login: the exact password with spaces works');
}

# racing registrations of one name: one 201, the rest 409, never a 500
{
    my $race = unique_name('race');
    my @codes = in_parallel(8, sub { register($race, strong_password())->code });
    is(scalar(grep { $_ eq '201' } @codes), 1, 'racing registrations: exactly one 201');
    is(scalar(grep { $_ eq '409' } @codes), 7, 'racing registrations: the others 409')
        or diag("@codes");
    is_deeply([db_rows("SELECT COUNT(*) FROM users WHERE username = '$race'")], [[1]],
              'racing registrations: one row');
}

# ------------------------------------------------------------------------------------------
# enrolment-token rules: QR code and verify-2fa
# ------------------------------------------------------------------------------------------
my $alice = unique_name('alice');
my $bob = unique_name('bob');
my (undef, $ab) = register($alice, strong_password());
my (undef, $bb) = register($bob, strong_password());

my $access_token = mint_token({id => $flow->{id}, username => $name, role => 'editor'});
is(api(GET => '/me', undef, bearer($access_token))->code, 200, 'a live access token for the checks below');
$res = api(GET => "/generate-qr/$alice");
ok(is_problem($res, 401, 'qr no token'), 'generate-qr without a token: 401');
is($res->header('WWW-Authenticate'), 'Bearer realm="secauth"', 'generate-qr without a token: challenge');
$res = api(GET => "/generate-qr/$alice", undef, Authorization => 'Basic YTpi');
ok(is_problem($res, 401, 'qr basic'), 'generate-qr with Basic: 401');
$res = api(GET => "/generate-qr/$alice", undef, bearer('not.a.token'));
ok(is_problem($res, 401, 'qr garbage'), 'generate-qr with a bad token: 401');
like($res->header('WWW-Authenticate') // '', qr/^Bearer realm="secauth", error="invalid_token", error_description="[^"]+"$/,
     'generate-qr with a bad token: invalid_token');
$res = api(GET => "/generate-qr/$alice?access_token=$ab->{enrollment_token}");
ok(is_problem($res, 401, 'qr query token'), 'generate-qr: a token in the query string is ignored');
$res = api(GET => "/generate-qr/$alice", undef, bearer($bb->{enrollment_token}));
ok(is_problem($res, 403, 'qr other user'), "generate-qr with another user's token: 403");
$res = api(GET => "/generate-qr/nosuch$$", undef, bearer($bb->{enrollment_token}));
ok(is_problem($res, 403, 'qr unknown user'), 'generate-qr for an unknown name: 403');
$res = api(GET => "/generate-qr/$flow->{username}", undef, bearer($access_token));
ok(is_problem($res, 401, 'qr access token'), 'generate-qr with an access token: 401');
like($res->header('WWW-Authenticate') // '', qr/error="invalid_token"/, 'generate-qr with an access token: invalid_token');
$res = api(GET => "/generate-qr/$name", undef, bearer($flow->{enrollment_token}));
ok(is_problem($res, 409, 'qr confirmed'), 'generate-qr after confirmation: 409');
unlike($res->content, qr/\Q$secret\E/, 'generate-qr after confirmation: no secret');

$res = api(GET => '/me', undef, bearer($ab->{enrollment_token}));
ok(is_problem($res, 401, 'me enroll token'), 'an enrolment token is refused on /me');
like($res->header('WWW-Authenticate') // '', qr/error="invalid_token"/, '/me with an enrolment token: invalid_token');
$res = api(POST => '/logout', undef, bearer($ab->{enrollment_token}));
ok(is_problem($res, 401, 'logout enroll token'), 'an enrolment token is refused on /logout');

my $alice_secret = secret_of($ab->{otpauth_uri});
$res = api(POST => '/verify-2fa', {username => $alice, code => totp_code($alice_secret)});
ok(is_problem($res, 401, 'verify no token'), 'verify-2fa without a token: 401');
is($res->header('WWW-Authenticate'), 'Bearer realm="secauth"', 'verify-2fa without a token: challenge');
$res = api(POST => '/verify-2fa', {username => $alice, code => totp_code($alice_secret)},
           bearer($access_token));
ok(is_problem($res, 401, 'verify access token'), 'verify-2fa with an access token: 401');
$res = api(POST => '/verify-2fa', {username => $alice, code => totp_code($alice_secret)},
           bearer($bb->{enrollment_token}));
ok(is_problem($res, 403, 'verify other user'), "verify-2fa with another user's token: 403");
$res = api(POST => '/verify-2fa', {username => $alice, code => '000000' eq totp_code($alice_secret) ? '111111' : '000000'},
           bearer($ab->{enrollment_token}));
my $b401 = is_problem($res, 401, 'verify wrong code');
is($b401 && $b401->{detail}, 'invalid code', 'verify-2fa with a wrong code: 401');
$res = api(POST => '/verify-2fa', {username => $alice, code => 123456}, bearer($ab->{enrollment_token}));
is_deeply(field_errors($res, 'verify code number'), [{field => 'code', detail => 'must be a string'}],
          'verify-2fa: a numeric code is 400');
$res = api(POST => '/verify-2fa', {username => $alice}, bearer($ab->{enrollment_token}));
is_deeply(field_errors($res, 'verify no code'), [{field => 'code', detail => 'is required'}],
          'verify-2fa: code is required');
$res = api(POST => '/verify-2fa', {username => $alice, code => '123456', scope => 'x'},
           bearer($ab->{enrollment_token}));
is_deeply(field_errors($res, 'verify unknown'), [{field => 'scope', detail => 'is not a known field'}],
          'verify-2fa: unknown fields are 400');
fresh_step();
$res = api(POST => '/verify-2fa', {username => uc $alice, code => totp_code($alice_secret)},
           bearer($ab->{enrollment_token}));
is($res->code, 200, 'verify-2fa with the right code: 200');
$res = api(POST => '/verify-2fa', {username => $alice, code => totp_code($alice_secret, time + 30)},
           bearer($ab->{enrollment_token}));
ok(is_problem($res, 409, 'verify twice'), 'verify-2fa after confirmation: 409');
$res = api(GET => "/generate-qr/$alice", undef, bearer($ab->{enrollment_token}));
ok(is_problem($res, 409, 'qr after verify'), 'generate-qr after confirmation: 409');

# ------------------------------------------------------------------------------------------
# login: unconfirmed accounts, one 401 for every failure kind, replay, recovery codes
# ------------------------------------------------------------------------------------------
{
    my $pending = unique_name('pend');
    my $ppw = strong_password();
    register($pending, $ppw);
    $res = api(POST => '/login', {username => $pending, password => $ppw});
    my $b = is_problem($res, 403, 'pending');
    ok($b, 'login of an unconfirmed account with the right password: 403');
    is($b && $b->{detail}, 'two-factor enrolment is not confirmed', '403: says why');
    my ($th, $tc) = jwt_parts($b && $b->{enrollment_token});
    is($th && $th->{typ}, 'enroll+jwt', '403: carries a fresh enrolment token');
    is($b && $b->{enrollment_expires_in}, 600, '403: with its lifetime');
    $res = api(GET => "/generate-qr/$pending?format=json", undef, bearer($b->{enrollment_token}));
    is($res->code, 200, '403: the fresh token fetches the QR code');
    $res = api(POST => '/login', {username => $pending, password => $ppw . 'x'});
    my $w = is_problem($res, 401, 'pending wrong pw');
    is($w && $w->{detail}, 'invalid credentials', 'unconfirmed account, wrong password: 401, no token');
    ok(!exists $w->{enrollment_token}, 'unconfirmed account, wrong password: no enrolment token');
}

my %failure;
{
    my $u1 = enroll();
    my $u2 = enroll();
    my $u3 = enroll();
    my $u4 = enroll();
    my $u5 = enroll();
    my $next = sub { my $u = shift; totp_code($u->{secret}, ($u->{step} + 1) * 30 + 1) };
    $failure{'unknown user'} = api(POST => '/login', {username => unique_name('ghost'),
                                                     password => 'whatever password', code => '123456'});
    $failure{'wrong password'} = api(POST => '/login', {username => $u1->{username},
                                                       password => $u1->{password} . 'x', code => $next->($u1)});
    my $right = $next->($u2);
    my $wrong = $right eq '000000' ? '000001' : sprintf('%06d', ($right + 1) % 1000000);
    $failure{'wrong code'} = api(POST => '/login', {username => $u2->{username},
                                                   password => $u2->{password}, code => $wrong});
    login_user($u3);
    $failure{'replayed code'} = api(POST => '/login', {username => $u3->{username}, password => $u3->{password},
                                                      code => totp_code($u3->{secret}, $u3->{step} * 30 + 1)});
    my $rc = $u4->{recovery_codes}[0];
    $res = api(POST => '/login', {username => $u4->{username}, password => $u4->{password}, recovery_code => $rc});
    is($res->code, 200, 'recovery code: logs in');
    is_deeply([sort keys %{json_of($res) || {}}], [qw(expires_in token token_type)], 'recovery code: a token');
    $failure{'used recovery code'} = api(POST => '/login', {username => $u4->{username},
                                                           password => $u4->{password}, recovery_code => $rc});
    my $ref;
    for my $kind (sort keys %failure) {
        my $r = $failure{$kind};
        ok(is_problem($r, 401, $kind), "login failure ($kind): 401 problem+json");
        $ref //= $r->content;
        is($r->content, $ref, "login failure ($kind): byte-identical body");
        is($r->header('Content-Type'), 'application/problem+json', "login failure ($kind): content type");
        ok(!defined $r->header('Retry-After'), "login failure ($kind): no Retry-After");
    }
    is_deeply(json_of($failure{'unknown user'}),
              {type => 'about:blank', title => 'Unauthorized', status => 401, detail => 'invalid credentials'},
              'login failure: the body of §2');

    # recovery codes: typed in upper case, without the dash, with lookalikes: still the code
    my $typed = uc $u4->{recovery_codes}[1];
    $typed =~ s/-//g;
    $res = api(POST => '/login', {username => $u4->{username}, password => $u4->{password}, recovery_code => $typed});
    is($res->code, 200, 'recovery code: upper case without dashes works');
    $res = api(POST => '/login', {username => $u4->{username}, password => $u4->{password},
                                  recovery_code => $u4->{recovery_codes}[1]});
    ok(is_problem($res, 401, 'reuse 2'), 'recovery code: once used, 401 in any spelling');
    $res = api(POST => '/login', {username => $u4->{username}, password => $u4->{password} . 'x',
                                  recovery_code => $u4->{recovery_codes}[2]});
    ok(is_problem($res, 401, 'rc wrong pw'), 'recovery code with a wrong password: 401');
    $res = api(POST => '/login', {username => $u4->{username}, password => $u4->{password},
                                  recovery_code => $u4->{recovery_codes}[2]});
    is($res->code, 200, 'recovery code: not spent by a failed password');
    $res = api(POST => '/login', {username => $u5->{username}, password => $u5->{password},
                                  recovery_code => $u4->{recovery_codes}[3]});
    ok(is_problem($res, 401, 'rc other user'), "recovery code of another account: 401");
    is_deeply([db_rows("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $u4->{id} AND used_at IS NOT NULL")],
              [[3]], 'db: three codes marked used');

    # login body rules
    $res = api(POST => '/login', {username => $u5->{username}, password => $u5->{password}});
    ok(is_problem($res, 401, 'no code'), 'login of a confirmed account without a code: 401');
    $res = api(POST => '/login', {username => $u5->{username}, password => $u5->{password},
                                  code => '123456', recovery_code => $u5->{recovery_codes}[0]});
    is_deeply(field_errors($res, 'both codes'),
              [{field => 'recovery_code', detail => 'cannot be given together with code'}],
              'login: code and recovery_code together are 400');
    $res = api(POST => '/login', {username => $u5->{username}, code => '123456'});
    is_deeply(field_errors($res, 'no password'), [{field => 'password', detail => 'is required'}],
              'login: password is required');
    $res = api(POST => '/login', {password => 'x', code => '123456'});
    is_deeply(field_errors($res, 'no username'), [{field => 'username', detail => 'is required'}],
              'login: username is required');
    $res = api(POST => '/login', {username => $u5->{username}, password => $u5->{password}, code => 123456});
    is_deeply(field_errors($res, 'numeric code'), [{field => 'code', detail => 'must be a string'}],
              'login: a numeric code is 400');
    $res = api(POST => '/login', {username => $u5->{username}, password => $u5->{password}, code => '1', remember => 1});
    is_deeply(field_errors($res, 'unknown login field'), [{field => 'remember', detail => 'is not a known field'}],
              'login: unknown fields are 400');

    # a success resets the failure count
    login_user($u1);
    is_deeply([db_rows("SELECT failed_count, locked_until FROM users WHERE id = $u1->{id}")], [[0, 0]],
              'login: a success resets the failure count');
    is_deeply([db_rows("SELECT failed_count FROM users WHERE id = $u2->{id}")], [[1]],
              'login: a wrong code counts as a failure');
}

# replay: the same step twice, and an older step after a newer one
{
    my $u = unique_name('replay');
    my $upw = strong_password();
    my (undef, $rb) = register($u, $upw);
    my $sec = secret_of($rb->{otpauth_uri});
    my $s0 = fresh_step(8);
    $res = api(POST => '/verify-2fa', {username => $u, code => totp_code($sec, ($s0 - 1) * 30 + 1)},
               bearer($rb->{enrollment_token}));
    is($res->code, 200, 'replay: enrolled with the previous step (within SecAuthTOTPSkew)');
    my $newer = totp_code($sec, ($s0 + 1) * 30 + 1);
    my $older = totp_code($sec, $s0 * 30 + 1);
    $res = api(POST => '/login', {username => $u, password => $upw, code => $newer});
    is($res->code, 200, 'replay: the next step logs in');
    $res = api(POST => '/login', {username => $u, password => $upw, code => $newer});
    ok(is_problem($res, 401, 'same step'), 'replay: the same code again is 401');
    SKIP: {
        skip 'codes of two steps collide', 1 if $older eq $newer;
        $res = api(POST => '/login', {username => $u, password => $upw, code => $older});
        ok(is_problem($res, 401, 'older step'), 'replay: an unused older step after a newer one is 401');
    }
    my ($last) = db_rows("SELECT last_totp_step FROM users WHERE username = '$u'");
    is($last->[0], $s0 + 1, 'db: the last accepted step is recorded');
    $res = api(POST => '/login', {username => $u, password => $upw,
                                  code => totp_code($sec, ($s0 + 2) * 30 + 1)});
    ok(is_problem($res, 401, 'future'), 'a code beyond the skew window is 401');
}

# 50 parallel logins with one code: exactly one wins
{
    my $u = enroll();
    my $s0 = fresh_step(10);
    my $code = totp_code($u->{secret}, ($s0 + 1) * 30 + 1);
    my @codes = in_parallel(50, sub {
        api(POST => '/login', {username => $u->{username}, password => $u->{password}, code => $code})->code;
    });
    is(scalar(grep { $_ eq '200' } @codes), 1, '50 parallel logins with one code: exactly one 200');
    is(scalar(grep { $_ eq '401' || $_ eq '429' } @codes), 49, 'the others 401 (or 429 once locked)')
        or diag(join ' ', sort @codes);
}

# similar timing: an unknown user costs one password hash too. The fastest of several tries
# estimates each path's own cost; the load of a busy machine only ever adds to it.
{
    my @users = (enroll(), enroll());
    my (@known, @unknown);
    for my $u (@users) {
        for (1 .. 4) {    # under SecAuthLockout's five failures: every try is checked
            my $t = Time::HiRes::time();
            api(POST => '/login', {username => $u->{username}, password => 'wrong password 1', code => '123456'});
            push @known, Time::HiRes::time() - $t;
            $t = Time::HiRes::time();
            api(POST => '/login', {username => unique_name('nobody'), password => 'wrong password 1', code => '123456'});
            push @unknown, Time::HiRes::time() - $t;
        }
    }
    my ($k) = sort { $a <=> $b } @known;
    my ($n) = sort { $a <=> $b } @unknown;
    cmp_ok($n, '>', $k * 0.5, sprintf('timing: unknown user %.0f ms vs wrong password %.0f ms (fastest of 8)',
                                      $n * 1000, $k * 1000));
    cmp_ok($n, '<', $k * 2 + 0.02, 'timing: not much slower either');
}

# legacy hashes and plain secrets (rows carried over from the Flask app) are upgraded at login
{
    my $u = enroll();
    my $salt = 'saltsaltsalt1234';
    my $dk = Crypt::KeyDerivation::pbkdf2($u->{password}, $salt, 1000, 'SHA256', 32);
    my $werkzeug = "pbkdf2:sha256:1000\$$salt\$" . unpack('H*', $dk);
    db_do("UPDATE users SET password = '$werkzeug', twofa_secret = '$u->{secret}' WHERE id = $u->{id}");
    ok(login_user($u), 'legacy: a Werkzeug pbkdf2 hash and a plain secret log in');
    my ($r) = db_rows("SELECT password, twofa_secret FROM users WHERE id = $u->{id}");
    like($r->[0], qr/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, 'legacy: re-hashed to argon2id after login');
    like($r->[1], qr/^v1\./, 'legacy: the plain secret is sealed after login');
    my $s0 = fresh_step();
    db_do("UPDATE users SET last_totp_step = NULL WHERE id = $u->{id}");
    $res = api(POST => '/login', {username => $u->{username}, password => $u->{password},
                                  code => totp_code($u->{secret}, $s0 * 30 + 1)});
    is($res->code, 200, 'legacy: logs in again with the upgraded row');

    my $v = enroll();
    my $weak = `printf '%s' '$v->{password}' | argon2 somesaltsomesalt -id -m 12 -t 1 -p 1 -e`;
    chomp $weak;
    SKIP: {
        skip 'no argon2 command', 2 unless $weak =~ /^\$argon2id\$/;
        db_do("UPDATE users SET password = '$weak' WHERE id = $v->{id}");
        ok(login_user($v), 'rehash: argon2id with older parameters logs in');
        ($r) = db_rows("SELECT password FROM users WHERE id = $v->{id}");
        like($r->[0], qr/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, 'rehash: stored again with the configured parameters');
    }
}

# a sealed secret copied into another account's row does not open there
{
    my $a = enroll();
    my $b = enroll();
    db_do("UPDATE users SET twofa_secret = (SELECT s FROM (SELECT twofa_secret AS s FROM users WHERE id = $a->{id}) x) WHERE id = $b->{id}");
    $res = api(POST => '/login', {username => $b->{username}, password => $b->{password},
                                  code => totp_code($a->{secret}, ($b->{step} + 1) * 30 + 1)});
    ok(is_problem($res, 401, 'copied secret'), "a sealed secret moved to another account's row is useless");
}

# ------------------------------------------------------------------------------------------
# the audit log: outcomes with username and address, never a secret
# ------------------------------------------------------------------------------------------
{
    my $log = error_log_since($log_start);
    like($log, qr/registered \Q$name\E \(id \d+\) from 127\.0\.0\.1/, 'log: registration');
    like($log, qr/two-factor enrolment of \Q$name\E confirmed from 127\.0\.0\.1/, 'log: enrolment');
    like($log, qr/\[secauth:notice\].*login of \Q$name\E from 127\.0\.0\.1 with a TOTP code/, 'log: login at notice');
    like($log, qr/failed attempt for \S+ from 127\.0\.0\.1: wrong password/, 'log: wrong password');
    like($log, qr/failed attempt for \S+ from 127\.0\.0\.1: no such account/, 'log: unknown user');
    like($log, qr/replayed TOTP code for \S+ from 127\.0\.0\.1/, 'log: replay');
    like($log, qr/SA6\d\d: /, 'log: numbered messages');
    unlike($log, qr/\Q$password\E/, 'log: no password');
    unlike($log, qr/\Q$secret\E/, 'log: no secret');
    unlike($log, qr/\Q$flow->{enrollment_token}\E|\Q$token\E/, 'log: no token');
    my $leak = grep { index($log, $_) >= 0 } @{$flow->{recovery_codes}};
    is($leak, 0, 'log: no recovery code');
}

done_testing();
