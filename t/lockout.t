# lockout.t — API.md §3 with the test server's "SecAuthLockout 5 2 8": five consecutive
# failures lock an account for 2 s, each further failure for twice as long (4 s, 8 s) up to
# 8 s; while locked every attempt, even with the right credentials, gets 429 with
# Retry-After; the lock lifts by itself; a success resets the count; failed enrolment codes
# count too; an unknown username gets exactly the same answers; parallel failures all count.
use strict;
use warnings;
use Apache::Test ();
use Test::More;
use SecAuthTest;

my $log_start = error_log_offset();
my $user = enroll();
my $ghost = unique_name('ghost');

sub wrong_login {
    my ($name) = @_;
    return api(POST => '/login', {username => $name, password => 'definitely a wrong password',
                                  code => '123456'});
}

# the right password and a code whose step was never used
sub right_login {
    my ($u) = @_;
    my $step = time_step();
    my $use = $step > $u->{step} ? $step : $u->{step} + 1;
    return api(POST => '/login', {username => $u->{username}, password => $u->{password},
                                  code => totp_code($u->{secret}, $use * 30 + 1)});
}

sub lock_state {
    my ($id) = @_;
    my ($row) = db_rows("SELECT failed_count, locked_until FROM users WHERE id = $id");
    return @$row;
}

# Both the account and the unknown name are locked: 429 with the same body and a
# Retry-After within (delay - 1, delay].
sub both_locked {
    my ($delay, $what) = @_;
    my $real = right_login($user);
    my $b = is_problem($real, 429, "$what real");
    ok($b, "$what: the right credentials get 429");
    is($b && $b->{detail}, 'too many failed attempts: try again later', "$what: 429 says why");
    my $ra = $real->header('Retry-After') // 0;
    ok($ra =~ /^\d+$/ && $ra >= $delay - 1 && $ra <= $delay, "$what: Retry-After $ra within the $delay s delay");
    my $fake = wrong_login($ghost);
    ok(is_problem($fake, 429, "$what ghost"), "$what: the unknown name gets 429 too");
    is($fake->content, $real->content, "$what: with the same body");
    my $fa = $fake->header('Retry-After') // 0;
    ok($fa =~ /^\d+$/ && $fa >= $delay - 1 && $fa <= $delay, "$what: and a Retry-After $fa within $delay s");
    my $wrong = wrong_login($user->{username});
    ok(is_problem($wrong, 429, "$what wrong"), "$what: a wrong attempt while locked is 429 as well");
    return $ra > $fa ? $ra : $fa;
}

sub both_fail {
    my ($what) = @_;
    my $real = wrong_login($user->{username});
    my $fake = wrong_login($ghost);
    ok(is_problem($real, 401, "$what real"), "$what: the account: 401");
    ok(is_problem($fake, 401, "$what ghost"), "$what: the unknown name: 401");
    is($fake->content, $real->content, "$what: the same body");
}

# --- the first lock: after five consecutive failures, 2 s ---
both_fail("failure $_") for 1 .. 4;
my ($count, $until) = lock_state($user->{id});
is_deeply([$count, $until], [4, 0], 'four failures counted, not locked yet');
my $t5 = time;
both_fail('failure 5');
($count, $until) = lock_state($user->{id});
is($count, 5, 'five failures counted');
ok($until >= $t5 + 2 && $until <= time + 2, 'locked for the first delay (2 s)');
my $wait = both_locked(2, 'first lock');
($count) = lock_state($user->{id});
is($count, 5, 'attempts refused while locked are not counted');
my ($step) = db_rows("SELECT last_totp_step FROM users WHERE id = $user->{id}");
is($step->[0], $user->{step}, 'the code of a refused attempt is not consumed');

# a pending account locked by failed enrolment codes gets 429 at login, not 403
my $pending = unique_name('pend');
my $ppw = strong_password();
my (undef, $pb) = register($pending, $ppw);
my $psecret = secret_of($pb->{otpauth_uri});
my $right = totp_code($psecret);
my $bad = $right eq '999999' ? '999998' : sprintf('%06d', "$right" + 1);
for my $i (1 .. 5) {
    my $res = api(POST => '/verify-2fa', {username => $pending, code => $bad},
                  Authorization => "Bearer $pb->{enrollment_token}");
    my $b = is_problem($res, 401, "verify failure $i");
    is($b && $b->{detail}, 'invalid code', "verify-2fa failure $i: 401");
}
my $res = api(POST => '/verify-2fa', {username => $pending, code => totp_code($psecret)},
              Authorization => "Bearer $pb->{enrollment_token}");
ok(is_problem($res, 429, 'verify locked'), 'verify-2fa: five failed codes lock enrolment: 429 for the right code');
ok(($res->header('Retry-After') // '') =~ /^[12]$/, 'verify-2fa: with Retry-After');
$res = api(POST => '/login', {username => $pending, password => $ppw});
ok(is_problem($res, 429, 'pending login locked'), 'a locked unconfirmed account gets 429 at login, not 403');

# --- released after the delay; the next failure locks for 4 s, then 8 s, then 8 s (cap) ---
sleep($wait + 1);
both_fail('failure 6 after the first lock');
($count, $until) = lock_state($user->{id});
is($count, 6, 'six failures counted');
ok($until - time >= 3 && $until - time <= 4, 'the second lock lasts 4 s');
$wait = both_locked(4, 'second lock');

sleep($wait + 1);
both_fail('failure 7');
($count, $until) = lock_state($user->{id});
ok($until - time >= 7 && $until - time <= 8, 'the third lock lasts 8 s');
$wait = both_locked(8, 'third lock');

$res = api(POST => '/verify-2fa', {username => $pending, code => totp_code($psecret)},
           Authorization => "Bearer $pb->{enrollment_token}");
is($res->code, 200, 'verify-2fa: the enrolment lock has lifted meanwhile, the right code confirms');

sleep($wait + 1);
both_fail('failure 8');
($count, $until) = lock_state($user->{id});
is($count, 8, 'eight failures counted');
ok($until - time >= 7 && $until - time <= 8, 'the fourth lock is capped at the longest delay (8 s)');
$wait = both_locked(8, 'fourth lock');

# --- released: the right credentials log in and reset the count ---
sleep($wait + 1);
$res = right_login($user);
is($res->code, 200, 'after the delay the right credentials log in');
$user->{step} = time_step() > $user->{step} ? time_step() : $user->{step} + 1;
is_deeply([lock_state($user->{id})], [0, 0], 'a success resets the count and the lock');
$res = wrong_login($ghost);
ok(is_problem($res, 401, 'ghost released'), 'the unknown name is released too: 401 again');

# a success in between: failures must be consecutive
{
    my $u = enroll();
    wrong_login($u->{username}) for 1 .. 4;
    ok(login_user($u), 'four failures, then a success');
    my @codes = map { wrong_login($u->{username})->code } 1 .. 4;
    is_deeply(\@codes, [401, 401, 401, 401], 'four more failures are 401, not 429');
    is_deeply([lock_state($u->{id})], [4, 0], 'the count started again');
}

# attempts arriving all at once cannot all pass the lock check before their failures count:
# each is counted as it is admitted, so exactly five are checked and the rest get 429
{
    my $u = enroll();
    my @codes = in_parallel(20, sub { wrong_login($u->{username})->code });
    my $n401 = grep { $_ eq '401' } @codes;
    my $n429 = grep { $_ eq '429' } @codes;
    is($n401 + $n429, 20, 'parallel failures: each gets 401 or 429') or diag("@codes");
    is($n401, 5, 'parallel failures: exactly five were checked');
    my ($c, $l) = lock_state($u->{id});
    is($c, 5, 'parallel failures: five failures counted');
    ok($l > time - 1, 'parallel failures: the account is locked');

    my $name = unique_name('ghost');
    @codes = in_parallel(20, sub { wrong_login($name)->code });
    is(scalar(grep { $_ eq '401' } @codes), 5, 'parallel failures, unknown name: exactly five checked')
        or diag("@codes");

    my ($res, $body) = register(unique_name('pending'), strong_password());
    my $secret = secret_of($body->{otpauth_uri});
    my $wrong = sprintf('%06d', (totp_code($secret) + 500000) % 1000000);
    @codes = in_parallel(20, sub {
        api(POST => '/verify-2fa', {username => $body->{username}, code => $wrong},
            Authorization => "Bearer $body->{enrollment_token}")->code;
    });
    is(scalar(grep { $_ eq '401' } @codes), 5, 'parallel wrong enrolment codes: exactly five checked')
        or diag("@codes");
    is(scalar(grep { $_ eq '429' } @codes), 15, 'parallel wrong enrolment codes: the rest 429');

    # the right password of an account whose enrolment is not confirmed is not a failure
    my $pw = strong_password();
    my ($r2, $b2) = register(unique_name('pending'), $pw);
    for (1 .. 3) {
        is(api(POST => '/login', {username => $b2->{username}, password => $pw, code => '000000'})->code,
           403, "unconfirmed enrolment, right password: 403 ($_)");
    }
    is_deeply([lock_state($b2->{id})], [0, 0], 'unconfirmed enrolment, right password: nothing counted');
}

# the unknown name is stored only as a keyed hash
my $throttle = join ' ', map { @$_ } db_rows('SELECT * FROM login_throttle');
unlike($throttle, qr/\Q$ghost\E/i, 'login_throttle holds no typed username');

my $log = error_log_since($log_start);
like($log, qr/\Q$user->{username}\E locked for 2 seconds after 5 consecutive failures \(last from 127\.0\.0\.1\)/,
     'log: the lockout, with username and address');
like($log, qr/\Q$ghost\E locked for 2 seconds after 5 consecutive failures/, 'log: the unknown name is logged alike');
like($log, qr/attempt for \Q$user->{username}\E from 127\.0\.0\.1 refused: locked for \d+ more seconds/,
     'log: refusals while locked');
unlike($log, qr/definitely a wrong password|\Q$user->{password}\E/, 'log: no password');

done_testing();
