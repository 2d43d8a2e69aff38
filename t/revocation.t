# revocation.t — "revoke every token of a user" is exact (API.md §4): a session started in the
# same second as a password change, a disable or a 2FA reset dies with the others, and so does
# a token whose iat is a few seconds ahead (another node's clock), because tokens carry the
# user's token generation (claim gen) rather than being compared by time. Enrolment tokens
# follow the same rule: one issued before an admin's 2FA reset is refused by generate-qr and
# verify-2fa. Also: the claim gen as issued, and a user's generation as stored.
use strict;
use warnings;
use Test::More;
use Apache::Test ();
use Time::HiRes qw(time);
use SecAuthTest;

sub bearer { return (Authorization => "Bearer $_[0]") }

sub status_of { my ($token) = @_; return api(GET => '/me', undef, bearer($token))->code }

sub generation_of {
    my ($id) = @_;
    my ($row) = db_rows("SELECT token_generation FROM users WHERE id = $id");
    return $row->[0];
}

sub login_recovery {
    my ($user, $n) = @_;
    my $res = api(POST => '/login', {username => $user->{username}, password => $user->{password},
                                     recovery_code => $user->{recovery_codes}[$n]});
    die "login: " . $res->code . ' ' . $res->content unless $res->code == 200;
    return json_of($res)->{token};
}

my $admin = make_user('admin');
my $admin_token = mint_token($admin);

# --- the claim as issued ---
{
    my $user = enroll();
    my $token = login_recovery($user, 0);
    my (undef, $claims) = jwt_parts($token);
    is($claims->{gen}, 0, 'a new account issues tokens of generation 0');
    is(generation_of($user->{id}), 0, 'a new account is at generation 0');
}

# --- a password change in the same second as another login ---
# Recovery codes spend no TOTP step, so both sessions and the change fit into one second.
for my $try (1 .. 3) {
    my $user = enroll();
    db_do("UPDATE users SET last_totp_step = NULL WHERE id = $user->{id}");
    my $start = int(time);
    my $a = login_recovery($user, 0);
    my $b = login_recovery($user, 1);
    my $fresh = strong_password();
    my $res = api(POST => '/password', {current_password => $user->{password},
                                        new_password => $fresh, code => totp_code($user->{secret})},
                  bearer($a));
    my $end = int(time);
    is($res->code, 204, 'password change: 204');
    next if $end != $start && $try < 3;   # the second ended before the change: do it again
    my (undef, $cb) = jwt_parts($b);
    ok($cb->{iat} >= $start, 'session B was issued in the second of the change (or later)');
    is(status_of($b), 401, 'password change: session B of the same second is refused');
    is(status_of($a), 200, 'password change: the session that changed it is kept');
    is(generation_of($user->{id}), 1, 'password change: the generation went up by one');
    # a node whose clock is ahead issued a token "later" than the change: still revoked
    my $ahead = mint_token({id => $user->{id}, username => $user->{username}, role => 'editor'},
                           claims => {gen => 0, iat => int(time) + 20, nbf => int(time)});
    is(status_of($ahead), 401, 'password change: a token of the old generation with a later iat is refused');
    my $now_gen = mint_token({id => $user->{id}, username => $user->{username}, role => 'editor'},
                             claims => {gen => 1});
    is(status_of($now_gen), 200, 'a token of the current generation passes');
    my $c = api(POST => '/login', {username => $user->{username}, password => $fresh,
                                   recovery_code => $user->{recovery_codes}[2]});
    is($c->code, 200, 'a login after the change works');
    is(status_of(json_of($c)->{token}), 200, 'and its token passes (generation 1)');
    is((jwt_parts(json_of($c)->{token}))[1]{gen}, 1, 'the new token carries generation 1');
    last;
}

# --- disable, in the same second as a login; enabling again does not revive the session ---
{
    my $user = enroll();
    my $b = login_recovery($user, 0);
    my $res = api(PATCH => "/users/$user->{id}", {disabled => JSON::PP::true()}, bearer($admin_token));
    is($res->code, 200, 'disable: 200');
    is(status_of($b), 401, 'disable: the session is refused');
    $res = api(PATCH => "/users/$user->{id}", {disabled => JSON::PP::false()}, bearer($admin_token));
    is($res->code, 200, 'enable again: 200');
    is(status_of($b), 401, 'enabled again: the old session stays revoked');
    is(generation_of($user->{id}), 1, 'disable: the generation went up by one');
}

# --- an admin's 2FA reset: sessions and enrolment tokens issued before it are refused ---
{
    my $user = enroll();
    my $session = login_recovery($user, 0);
    my $res = api(DELETE => "/users/$user->{id}/2fa", undef, bearer($admin_token));
    is($res->code, 200, '2FA reset: 200');
    is(status_of($session), 401, '2FA reset: the session of the same second is refused');

    # an enrolment token from before the reset (the registration's, still unexpired)
    my $name = unique_name('enr');
    my $password = strong_password();
    my ($reg, $body) = register($name, $password);
    is($reg->code, 201, 'register for the enrolment-token case');
    my $old = $body->{enrollment_token};
    $res = api(DELETE => "/users/$body->{id}/2fa", undef, bearer($admin_token));
    is($res->code, 200, '2FA reset of a pending account: 200');
    $res = api(GET => "/generate-qr/$name?format=json", undef, bearer($old));
    my $pb = is_problem($res, 401, 'old enrolment token on generate-qr');
    ok($pb, '2FA reset: the old enrolment token gets 401 on generate-qr');
    is($res->header('WWW-Authenticate'),
       'Bearer realm="secauth", error="invalid_token", error_description="token revoked"',
       'generate-qr: invalid_token, token revoked');
    unlike($res->content, qr/otpauth/, 'generate-qr: the new secret is not shown');
    $res = api(POST => '/verify-2fa', {username => $name, code => '123456'}, bearer($old));
    ok(is_problem($res, 401, 'old enrolment token on verify-2fa'),
       '2FA reset: the old enrolment token gets 401 on verify-2fa');
    is($res->header('WWW-Authenticate'),
       'Bearer realm="secauth", error="invalid_token", error_description="token revoked"',
       'verify-2fa: invalid_token, token revoked');
    my ($row) = db_rows("SELECT twofa_confirmed FROM users WHERE id = $body->{id}");
    is($row->[0], 0, 'verify-2fa with the old token confirmed nothing');

    # the login answers a fresh enrolment token, which works
    $res = api(POST => '/login', {username => $name, password => $password});
    is($res->code, 403, 'login of the reset account: 403 with an enrolment token');
    my $fresh = json_of($res)->{enrollment_token};
    is((jwt_parts($fresh))[1]{gen}, 1, 'the new enrolment token carries generation 1');
    $res = api(GET => "/generate-qr/$name?format=json", undef, bearer($fresh));
    is($res->code, 200, 'the new enrolment token works on generate-qr');
}

# --- races: a revoke committed between another request's checks and its write ---
# A password change racing a disable must not keep its session alive; a verify-2fa racing a
# 2FA reset must not confirm the new, unseen secret. Each pair runs at once, with small delays
# so that the revoke lands inside the other request; the invariant holds for every ordering.
for my $delay (0, 0.01, 0.03, 0.06) {
    my $user = enroll();
    db_do("UPDATE users SET last_totp_step = NULL WHERE id = $user->{id}");
    my $a = login_recovery($user, 0);
    my @codes = in_parallel(2, sub {
        my ($i) = @_;
        if ($i == 1) {
            return api(POST => '/password', {current_password => $user->{password},
                                             new_password => strong_password(),
                                             code => totp_code($user->{secret})}, bearer($a))->code;
        }
        select(undef, undef, undef, $delay);
        return api(PATCH => "/users/$user->{id}", {disabled => JSON::PP::true()},
                   bearer($admin_token))->code;
    });
    api(PATCH => "/users/$user->{id}", {disabled => JSON::PP::false()}, bearer($admin_token));
    is(status_of($a), 401, "password change racing a disable (+$delay s): the session is dead (@codes)");
}
for my $delay (0, 0.005, 0.01, 0.02) {
    my $name = unique_name('race');
    my (undef, $body) = register($name, strong_password());
    my $secret = secret_of($body->{otpauth_uri});
    my @codes = in_parallel(2, sub {
        my ($i) = @_;
        if ($i == 1) {
            return api(POST => '/verify-2fa', {username => $name, code => totp_code($secret)},
                       bearer($body->{enrollment_token}))->code;
        }
        select(undef, undef, undef, $delay);
        return api(DELETE => "/users/$body->{id}/2fa", undef, bearer($admin_token))->code;
    });
    my ($row) = db_rows("SELECT twofa_confirmed FROM users WHERE id = $body->{id}");
    is($row->[0], 0, "verify-2fa racing a 2FA reset (+$delay s): the account is pending afterwards (@codes)");
}

done_testing();
