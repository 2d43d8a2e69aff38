# openapi.t — real responses against docs/openapi.yaml: walks every documented operation through
# the real flow (register, QR, verify-2fa, login, products, admin, password, logout) with valid
# and invalid requests, records each exchange, and has t/node/openapi-validate.mjs (node, ajv)
# check status, content type, headers and body of each against the document. One test per
# exchange, then: every operation exercised, every example of the document valid.
use strict;
use warnings;
use Apache::Test ();
use Apache::TestRequest ();
use File::Temp qw(tempfile);
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use Test::More;
use SecAuthTest;

my $JSON = JSON::PP->new->canonical->utf8;
my $src = $ENV{SECAUTH_SRCDIR} or die 'SECAUTH_SRCDIR is not set (run through make check)';
my @exchanges;

# call(NAME, METHOD, PATH, BODY, HEADERS...): api() plus a record of the exchange. OPTIONS
# (a hashref as the first header argument) may say semantic => 1 (see openapi-validate.mjs).
sub call {
    my ($name, $method, $path, $body, @rest) = @_;
    my %opt = ref $rest[0] eq 'HASH' ? %{shift @rest} : ();
    my $res = api($method, $path, $body, @rest);
    my $req = $res->request;
    my %headers;
    for my $h (qw(Content-Type Cache-Control ETag Location Link Retry-After WWW-Authenticate
                  Allow Access-Control-Allow-Origin)) {
        my $v = $res->header($h);
        $headers{lc $h} = $v if defined $v;
    }
    my $path_only = $req->uri->path;
    push @exchanges, {
        name => "$name: $method $path → " . $res->code,
        method => $method, path => $path_only, status => $res->code + 0, headers => \%headers,
        body_b64 => encode_base64($res->content // '', ''),
        (defined $body ? (request_type => $req->header('Content-Type') // '',
                          request_b64 => encode_base64($req->content // '', '')) : ()),
        ($opt{semantic} ? (semantic => JSON::PP::true) : ()),
    };
    return $res;
}

sub bearer { return (Authorization => "Bearer $_[0]") }

# A TOTP code of a step after the last one the account used, waiting when both the current
# and the next step (SecAuthTOTPSkew 1) are used up. Returns the code and records the step.
sub next_code {
    my ($user) = @_;
    my $now = time_step();
    my $use = $now > $user->{step} ? $now : $user->{step} + 1;
    if ($use > $now + 1) {
        sleep(($now + 1) * 30 - time + 1);
        return next_code($user);
    }
    $user->{step} = $use;
    return totp_code($user->{secret}, $use * 30 + 1);
}

sub must {
    my ($res, $status, $what) = @_;
    die "$what: " . $res->code . ' ' . $res->content . "\n" unless $res->code == $status;
    return json_of($res);
}

# Registers and confirms an account through the documented calls.
sub enrolled_user {
    my ($label) = @_;
    my $u = {username => unique_name($label), password => strong_password()};
    my $reg = must(call("register $label", POST => '/register',
                        {username => $u->{username}, password => $u->{password}}), 201, 'register');
    $u->{id} = $reg->{id};
    $u->{enroll} = $reg->{enrollment_token};
    $u->{secret} = secret_of($reg->{otpauth_uri});
    $u->{step} = time_step() - 2;
    my $v = must(call("verify-2fa $label", POST => '/verify-2fa',
                      {username => $u->{username}, code => next_code($u)}, bearer($u->{enroll})),
                 200, 'verify-2fa');
    $u->{recovery} = $v->{recovery_codes};
    return $u;
}

my $flow_error = '';
eval {
    # ---- operations (§7, §4) ----
    call('health', GET => '/health');
    call('JWKS of an HS256 server (empty)', GET => '/.well-known/jwks.json');
    for my $vhost (qw(secauth_rs256 secauth_es256)) {
        Apache::TestRequest::module($vhost);
        call("JWKS of $vhost", GET => '/.well-known/jwks.json');
        Apache::TestRequest::module('default');
    }

    # ---- registration and enrolment (§2) ----
    my $alice = {username => unique_name('oa'), password => strong_password()};
    my $reg = must(call('register', POST => '/register',
                        {username => $alice->{username}, password => $alice->{password}}),
                   201, 'register');
    $alice->{id} = $reg->{id};
    $alice->{enroll} = $reg->{enrollment_token};
    $alice->{secret} = secret_of($reg->{otpauth_uri});
    $alice->{step} = time_step() - 2;
    call('username taken (case-insensitive)', POST => '/register',
         {username => uc $alice->{username}, password => strong_password()});
    call('too short', POST => '/register', {username => 'ab', password => 'short'});
    call('unknown field', POST => '/register',
         {username => unique_name('ob'), password => strong_password(), role => 'admin'});
    call('common password', POST => '/register', {semantic => 1},
         {username => unique_name('oc'), password => 'Password1234!'});
    call('not JSON', POST => '/register', 'username=x', 'Content-Type' => 'text/plain');
    call('too large', POST => '/register', '{"username": "' . ('x' x 70000) . '"}');

    my $bob = {username => unique_name('ob'), password => strong_password()};
    my $breg = must(call('register another', POST => '/register',
                         {username => $bob->{username}, password => $bob->{password}}),
                    201, 'register bob');
    $bob->{id} = $breg->{id};

    my $qr = "/generate-qr/$alice->{username}";
    call('QR as JSON', GET => "$qr?format=json", undef, bearer($alice->{enroll}));
    call('QR as PNG (default)', GET => $qr, undef, bearer($alice->{enroll}));
    call('QR as SVG', GET => "$qr?format=svg", undef, bearer($alice->{enroll}));
    call('QR as JSON by Accept', GET => $qr, undef, bearer($alice->{enroll}),
         Accept => 'application/json');
    call('QR without a token', GET => $qr);
    call("QR of another user", GET => "/generate-qr/$bob->{username}", undef,
         bearer($alice->{enroll}));

    call('login before enrolment', POST => '/login',
         {username => $bob->{username}, password => $bob->{password}, code => '000000'});
    call('verify-2fa wrong code', POST => '/verify-2fa',
         {username => $alice->{username},
          code => totp_code($alice->{secret}, time + 3600)}, bearer($alice->{enroll}));
    call('verify-2fa bad code format', POST => '/verify-2fa',
         {username => $alice->{username}, code => '12ab'}, bearer($alice->{enroll}));
    my $v = must(call('verify-2fa', POST => '/verify-2fa',
                      {username => $alice->{username}, code => next_code($alice)},
                      bearer($alice->{enroll})), 200, 'verify-2fa');
    $alice->{recovery} = $v->{recovery_codes};
    call('verify-2fa once confirmed', POST => '/verify-2fa',
         {username => $alice->{username}, code => totp_code($alice->{secret})},
         bearer($alice->{enroll}));
    call('QR once confirmed', GET => "$qr?format=json", undef, bearer($alice->{enroll}));

    # ---- login, /me ----
    call('login wrong password', POST => '/login',
         {username => $alice->{username}, password => 'not the password at all',
          code => totp_code($alice->{secret})});
    my $login = must(call('login', POST => '/login',
                          {username => $alice->{username}, password => $alice->{password},
                           code => next_code($alice)}), 200, 'login');
    my $token = $login->{token};
    call('me', GET => '/me', undef, bearer($token));
    call('me without a token', GET => '/me');
    call('me with an enrolment token', GET => '/me', undef, bearer($alice->{enroll}));

    # ---- products (§5) ----
    my $p1 = must(call('create (the documented example)', POST => '/products',
                       {name => 'Laptop', description => 'Gaming Laptop', price => 1200.00,
                        quantity => 5}, bearer($token)), 201, 'create');
    call('create another', POST => '/products', {name => 'Mouse', price => 19.99},
         bearer($token));
    call('create invalid', POST => '/products',
         {name => '', price => -1, quantity => 1.5}, bearer($token));
    call('create with a price of three decimals', POST => '/products',
         {name => 'Cable', price => 0.125}, bearer($token));
    call('create without a token', POST => '/products', {name => 'x', price => 1});
    call('list', GET => '/products', undef, bearer($token));
    call('list a page of one', GET => '/products?limit=1', undef, bearer($token));
    call('list with a bad limit', GET => '/products?limit=0', undef, bearer($token));
    my $path = "/products/$p1->{id}";
    my $got = call('get', GET => $path, undef, bearer($token));
    my $etag = $got->header('ETag');
    call('put with If-Match', PUT => $path, {price => 1099.99, quantity => 4},
                   bearer($token), 'If-Match' => $etag);
    call('patch with a stale If-Match', PATCH => $path, {quantity => 3}, bearer($token),
         'If-Match' => $etag);
    my $patched = call('patch', PATCH => $path, {description => undef}, bearer($token));
    call('head', HEAD => $path, undef, bearer($token));
    call('put an unknown field', PUT => $path, {id => 5}, bearer($token));
    call('get a missing product', GET => '/products/2147483647', undef, bearer($token));
    call('delete with a stale If-Match', DELETE => $path, undef, bearer($token),
         'If-Match' => $etag);
    call('delete', DELETE => $path, undef, bearer($token),
         'If-Match' => $patched->header('ETag') // '*');
    call('get a deleted product', GET => $path, undef, bearer($token));
    call('delete a deleted product', DELETE => $path, undef, bearer($token));

    # ---- administration (§6) ----
    call('users as an editor', GET => '/users', undef, bearer($token));
    db_do("UPDATE users SET role = 'admin' WHERE id = $alice->{id}");
    call('users', GET => '/users', undef, bearer($token));
    call('users, a page of one', GET => '/users?limit=1', undef, bearer($token));
    call('users with a bad limit', GET => '/users?limit=1001', undef, bearer($token));
    call('make a viewer', PATCH => "/users/$bob->{id}", {role => 'viewer'}, bearer($token));
    call('an unknown role', PATCH => "/users/$bob->{id}", {role => 'root'}, bearer($token));
    call('patch a missing user', PATCH => '/users/2147483647', {disabled => JSON::PP::true},
         bearer($token));
    call('reset 2FA', DELETE => "/users/$bob->{id}/2fa", undef, bearer($token));
    call('unlock', POST => "/users/$bob->{id}/unlock", undef, bearer($token));
    call('unlock a missing user', POST => '/users/2147483647/unlock', undef, bearer($token));

    # ---- a second account: recovery-code login, password change, the viewer role ----
    my $carol = enrolled_user('od');
    my $clogin = must(call('login with a recovery code', POST => '/login',
                           {username => $carol->{username}, password => $carol->{password},
                            recovery_code => $carol->{recovery}[0]}), 200, 'recovery login');
    my $ctoken = $clogin->{token};
    call('login with a used recovery code', POST => '/login',
         {username => $carol->{username}, password => $carol->{password},
          recovery_code => $carol->{recovery}[0]});
    call('password: a weak new one', POST => '/password',
         {current_password => $carol->{password}, new_password => 'short', code => '123456'},
         bearer($ctoken));
    call('password: wrong current one', POST => '/password',
         {current_password => 'not the password at all', new_password => strong_password(),
          code => totp_code($carol->{secret})}, bearer($ctoken));
    call('password', POST => '/password',
         {current_password => $carol->{password}, new_password => strong_password(),
          code => next_code($carol)}, bearer($ctoken));
    call('carol becomes a viewer', PATCH => "/users/$carol->{id}", {role => 'viewer'},
         bearer($token));
    call('a viewer reads', GET => '/products', undef, bearer($ctoken));
    call('a viewer may not write', POST => '/products', {name => 'x', price => 1},
         bearer($ctoken));

    # ---- lockout (§3): an unknown account is counted like a known one ----
    my $ghost = unique_name('og');
    for my $i (1 .. 8) {
        my $res = call("failed login $i", POST => '/login',
                       {username => $ghost, password => 'not the password at all',
                        code => '000000'});
        last if $res->code == 429;
    }

    # ---- logout ----
    call('logout', POST => '/logout', undef, bearer($token));
    call('me after logout', GET => '/me', undef, bearer($token));
    call('logout again', POST => '/logout', undef, bearer($token));
    1;
} or $flow_error = $@ || 'unknown error';

# ---- validation by the document ----
my ($fh, $file) = tempfile(UNLINK => 1);
print $fh $JSON->encode(\@exchanges);
close $fh;
my $out = `node "$src/t/node/openapi-validate.mjs" "$src/docs/openapi.yaml" < "$file" 2>&1`;
my $results = eval { $JSON->decode($out) };

plan tests => 2 + ($results ? scalar @$results : 0);
ok($results, 'the validator ran (npm ci installs it: scripts/node-tools)') or diag($out);
for my $r (@{$results || []}) {
    ok($r->{ok}, $r->{name}) or diag(join "\n", @{$r->{errors}});
}
is($flow_error, '', 'the flow ran to its end');
