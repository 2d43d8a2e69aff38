# admin.t — user administration (API.md §6): who may call each admin route, the user list and
# its pages, role and disabled changes under the last-admin rule, disabling that kills live
# tokens, 2FA reset, unlock, the password change of any user, and SecAuthBootstrapAdmin.
use strict;
use warnings;
use Apache::Test ();
use Test::More;
use SecAuthTest;
use SecAuthServer;
use POSIX ();

my $GUARDED = '/static/guarded/secret.txt';

sub bearer { (Authorization => "Bearer $_[0]") }
sub guarded_code { api(GET => $GUARDED, undef, bearer($_[0]))->code }
sub field_errors {
    my ($res) = @_;
    my $b = json_of($res) || {};
    return join ',', sort map { $_->{field} } @{$b->{errors} || []};
}
sub user_row {
    my ($id) = @_;
    my ($row) = db_rows("SELECT role, disabled, twofa_confirmed, failed_count, locked_until, "
                        . "last_totp_step, twofa_secret, password, tokens_keep_jti "
                        . "FROM users WHERE id = $id");
    my %h;
    @h{qw(role disabled twofa_confirmed failed_count locked_until last_totp_step twofa_secret
          password tokens_keep_jti)} = @$row;
    $h{last_totp_step} = undef if defined $h{last_totp_step}
                                   && ($h{last_totp_step} eq '' || $h{last_totp_step} eq 'NULL');
    return \%h;
}

my $admin = make_user('admin');
my $editor = make_user('editor');
my $viewer = make_user('viewer');
my %tok = map { $_->{role} => mint_token($_) } $admin, $editor, $viewer;

# ---- who may call what ----
my @admin_routes = (
    [GET => '/users', undef],
    [PATCH => "/users/$editor->{id}", {role => 'editor'}],
    [DELETE => "/users/$editor->{id}/2fa", undef],
    [POST => "/users/$editor->{id}/unlock", undef],
);
for my $route (@admin_routes) {
    my ($m, $p, $body) = @$route;
    for my $prefix ('', '/api') {
        my $res = api($m => "$prefix$p", $body);
        ok(is_problem($res, 401, "$m $prefix$p anonymous"), "$m $prefix$p without a token is 401");
        like($res->header('WWW-Authenticate') // '', qr/^Bearer realm=/, '  with the challenge');
        for my $role (qw(viewer editor)) {
            $res = api($m => "$prefix$p", $body, bearer($tok{$role}));
            ok(is_problem($res, 403, "$m $prefix$p $role"), "$m $prefix$p as $role is 403");
            like($res->header('WWW-Authenticate') // '', qr/error="insufficient_scope"/,
                 '  insufficient_scope');
        }
    }
}
ok(is_problem(api(POST => '/password', {}), 401, 'password anonymous'),
   'POST /password without a token is 401');
is(user_row($editor->{id})->{role}, 'editor', 'nothing was changed by the refused calls');

# ---- GET /users ----
my $res = api(GET => '/users', undef, bearer($tok{admin}));
is($res->code, 200, 'GET /users as admin is 200');
is($res->header('Content-Type'), 'application/json; charset=utf-8', 'JSON');
is($res->header('Cache-Control'), 'no-store', 'not cached');
my $list = json_of($res);
my ($me) = grep { $_->{id} == $admin->{id} } @$list;
ok($me, 'the list holds the admin');
is_deeply([sort keys %$me],
          [sort qw(id username role disabled twofa_confirmed locked_until created_at)],
          'exactly the documented fields');
is($me->{username}, $admin->{username}, 'username');
is($me->{role}, 'admin', 'role');
ok(JSON::PP::is_bool($me->{disabled}) && !$me->{disabled}, 'disabled is the boolean false');
ok(JSON::PP::is_bool($me->{twofa_confirmed}) && $me->{twofa_confirmed},
   'twofa_confirmed is the boolean true');
ok(!defined $me->{locked_until}, 'locked_until is null when not locked');
like($me->{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'created_at is ISO 8601 UTC');
my @ids = map { $_->{id} } @$list;
is_deeply(\@ids, [sort { $a <=> $b } @ids], 'ordered by id');

$res = api(HEAD => '/users', undef, bearer($tok{admin}));
is($res->code, 200, 'HEAD /users is 200');
is($res->content, '', 'without a body');

# pages
make_user('viewer') for 1 .. 3;
my ($total) = map { $_->[0] } db_rows('SELECT COUNT(*) FROM users');
my (@seen, $next, $pages) = ();
$next = '/users?limit=2';
while ($next && $pages++ < 1000) {
    $res = api(GET => $next, undef, bearer($tok{admin}));
    last unless $res->code == 200;
    my $page = json_of($res);
    ok(@$page <= 2, 'a page holds at most limit users') if $pages == 1;
    push @seen, map { $_->{id} } @$page;
    ($next) = ($res->header('Link') // '') =~ /^<([^>]+)>; rel="next"$/;
}
is(scalar(@seen), $total, 'following Link rel="next" visits every user once');
is_deeply(\@seen, [sort { $a <=> $b } @seen], 'in id order');
$res = api(GET => '/users?limit=1&after=0', undef, bearer($tok{admin}));
like($res->header('Link') // '', qr{^</users\?after=\d+&limit=1>; rel="next"$}, 'Link format');
$res = api(GET => '/api/users?limit=1', undef, bearer($tok{admin}));
like($res->header('Link') // '', qr{^</api/users\?after=\d+&limit=1>}, 'the Link keeps the mount prefix');
$res = api(GET => "/users?after=$seen[-1]", undef, bearer($tok{admin}));
is_deeply(json_of($res), [], 'after the last id: an empty page');
ok(!$res->header('Link'), '  and no Link');
for my $q ('limit=0', 'limit=1001', 'limit=abc', 'limit=', 'after=-1', 'after=x',
           'limit=5&limit=6') {
    $res = api(GET => "/users?$q", undef, bearer($tok{admin}));
    my $field = $q =~ /^(\w+)/ ? $1 : '';
    ok(is_problem($res, 400, "?$q") && field_errors($res) eq $field, "?$q is 400 naming $field");
}

# ---- PATCH /users/{id}: validation ----
my $target = make_user('editor');
my $target_tok = mint_token($target);
for my $case ([{role => 'root'}, 'role'], [{role => 1}, 'role'], [{role => undef}, 'role'],
              [{disabled => 'yes'}, 'disabled'], [{disabled => 1}, 'disabled'],
              [{username => 'x'}, 'username'], [{id => 5, role => 'viewer'}, 'id'],
              [{password => 'x'}, 'password']) {
    my ($body, $field) = @$case;
    $res = api(PATCH => "/users/$target->{id}", $body, bearer($tok{admin}));
    ok(is_problem($res, 400, "PATCH $field") && field_errors($res) eq $field,
       'PATCH ' . JSON::PP->new->canonical->encode($body) . " is 400 naming $field");
}
$res = api(PATCH => "/users/$target->{id}", {}, bearer($tok{admin}));
is($res->code, 200, 'PATCH {} changes nothing: 200');
is(json_of($res)->{role}, 'editor', '  with the user as it is');
ok(is_problem(api(PATCH => '/users/2147483647', {}, bearer($tok{admin})), 404, 'empty missing'),
   'PATCH {} of a missing user is 404');
ok(is_problem(api(PATCH => "/users/$target->{id}", '[]', bearer($tok{admin})), 400, 'array'),
   'PATCH with an array body is 400');
ok(is_problem(api(PATCH => "/users/$target->{id}", '{"role":"viewer"}', bearer($tok{admin}),
                  'Content-Type' => 'text/plain'), 415, 'text/plain'), 'PATCH as text/plain is 415');
ok(is_problem(api(PATCH => '/users/2147483647', {role => 'viewer'}, bearer($tok{admin})), 404,
              'missing'), 'PATCH of a missing user is 404');
ok(is_problem(api(PATCH => '/users/0', {role => 'viewer'}, bearer($tok{admin})), 404, 'id 0'),
   'PATCH /users/0 is 404');
is(user_row($target->{id})->{role}, 'editor', 'refused PATCHes change nothing');

# ---- PATCH: role ----
$res = api(PATCH => "/users/$target->{id}", {role => 'viewer'}, bearer($tok{admin}));
is($res->code, 200, 'PATCH role viewer is 200');
is(json_of($res)->{role}, 'viewer', 'the answer is the changed user');
is(json_of($res)->{id}, $target->{id}, '  with its id');
is(user_row($target->{id})->{role}, 'viewer', 'stored');
$res = api(PATCH => "/api/users/$target->{id}", {role => 'editor', disabled => JSON::PP::false},
           bearer($tok{admin}));
is($res->code, 200, 'PATCH under the /api mount works too');
is(json_of($res)->{role}, 'editor', '  role editor again');
is(guarded_code($target_tok), 200, 'a role change keeps the user\'s tokens valid');

# ---- PATCH: disable kills live tokens at once ----
$res = api(PATCH => "/users/$target->{id}", {disabled => JSON::PP::true}, bearer($tok{admin}));
is($res->code, 200, 'PATCH disabled true is 200');
ok(json_of($res)->{disabled}, 'the answer shows disabled');
$res = api(GET => $GUARDED, undef, bearer($target_tok));
ok(is_problem($res, 401, 'disabled token'), 'the disabled user\'s live token is 401 at once');
like($res->header('WWW-Authenticate') // '', qr/invalid_token/, '  invalid_token');
$res = api(PATCH => "/users/$target->{id}", {disabled => JSON::PP::false}, bearer($tok{admin}));
is($res->code, 200, 'enabling again is 200');
is(guarded_code($target_tok), 401, 'tokens issued before the disabling stay dead');
is(guarded_code(mint_token($target, claims => {iat => time + 2, nbf => time, gen => 0})), 401,
   'a token of the old generation with a later iat stays dead (exact, whatever the clock)');
is(guarded_code(mint_token($target)), 200, 'a token issued after it (the new generation) works');

# ---- the last-admin rule ----
# This test needs to know every enabled admin: make the other ones (from earlier tests) editors.
db_do("UPDATE users SET role = 'editor' WHERE role = 'admin' AND id <> $admin->{id}");
$res = api(PATCH => "/users/$admin->{id}", {role => 'editor'}, bearer($tok{admin}));
ok(is_problem($res, 409, 'demote last'), 'demoting the last enabled admin is 409');
$res = api(PATCH => "/users/$admin->{id}", {disabled => JSON::PP::true}, bearer($tok{admin}));
ok(is_problem($res, 409, 'disable last'), 'disabling the last enabled admin is 409');
$res = api(PATCH => "/users/$admin->{id}", {role => 'admin', disabled => JSON::PP::false},
           bearer($tok{admin}));
is($res->code, 200, 'a PATCH that keeps the last admin an enabled admin is fine');
is(user_row($admin->{id})->{role}, 'admin', 'still admin');

my $second = make_user('editor');
$res = api(PATCH => "/users/$second->{id}", {role => 'admin'}, bearer($tok{admin}));
is($res->code, 200, 'promoting an editor to admin is 200');
my $second_tok = mint_token({%$second, role => 'admin'});
is(api(GET => '/users', undef, bearer($second_tok))->code, 200, 'the new admin can list users');
$res = api(PATCH => "/users/$second->{id}", {disabled => JSON::PP::true}, bearer($tok{admin}));
is($res->code, 200, 'disabling the other admin is 200');
$res = api(PATCH => "/users/$admin->{id}", {role => 'viewer'}, bearer($tok{admin}));
ok(is_problem($res, 409, 'disabled admin does not count'),
   'a disabled admin does not count: demoting the only enabled one is 409');
$res = api(PATCH => "/users/$second->{id}", {disabled => JSON::PP::false}, bearer($tok{admin}));
is($res->code, 200, 'enabling the other admin again');
$second_tok = mint_token({%$second, role => 'admin'}, claims => {iat => time + 2, nbf => time});
$res = api(PATCH => "/users/$admin->{id}", {role => 'editor'}, bearer($tok{admin}));
is($res->code, 200, 'with another enabled admin, an admin may demote itself');
$res = api(GET => '/users', undef, bearer($tok{admin}));
ok(is_problem($res, 403, 'demoted'), 'its token now gets 403: the current role counts');
$res = api(PATCH => "/users/$second->{id}", {role => 'viewer'}, bearer($second_tok));
ok(is_problem($res, 409, 'second last'), 'the remaining admin cannot demote itself either');

# two admins demoting each other at the same moment: exactly one wins
$res = api(PATCH => "/users/$admin->{id}", {role => 'admin'}, bearer($second_tok));
is($res->code, 200, 'two admins again');
my $race_ok = 1;
for my $round (1 .. 4) {
    db_do("UPDATE users SET role = 'admin', disabled = 0 WHERE id IN ($admin->{id}, $second->{id})");
    my @pairs = ([$tok{admin}, $second->{id}], [$second_tok, $admin->{id}]);
    my @kids;
    for my $i (0, 1) {
        my $pid = open(my $kid, '-|') // die "fork: $!";
        if (!$pid) {
            my $body = $round % 2 ? {role => 'editor'} : {disabled => JSON::PP::true};
            print api(PATCH => "/users/$pairs[$i][1]", $body, bearer($pairs[$i][0]))->code;
            # _exit: the child must not run Test::More's END block
            POSIX::_exit(0);
        }
        push @kids, $kid;
    }
    my @codes = map { local $/; my $c = <$_>; close $_; $c // 0 } @kids;
    my ($left) = map { $_->[0] } db_rows("SELECT COUNT(*) FROM users WHERE role = 'admin' "
                                        . "AND disabled = 0 AND id IN ($admin->{id}, $second->{id})");
    my $wins = grep { $_ == 200 } @codes;
    # the loser gets 409 (it saw the winner's change), or 403 / 401 when the winner's change
    # (demoted, disabled) was committed before the loser's own access check
    my $losses = grep { $_ == 409 || $_ == 403 || $_ == 401 } @codes;
    unless ($wins == 1 && $losses == 1 && $left == 1) {
        $race_ok = 0;
        diag("round $round: answers @codes, enabled admins left $left");
    }
}
ok($race_ok, 'racing PATCHes of two admins: one wins, one enabled admin is left');
db_do("UPDATE users SET role = 'admin', disabled = 0 WHERE id IN ($admin->{id}, $second->{id})");
# disabling revoked the racers' tokens up to the next second: later ones are needed
$tok{admin} = mint_token($admin, claims => {iat => time + 2, nbf => time});

# ---- POST /users/{id}/unlock ----
my $locked = make_user('editor');
my $until = time + 600;
db_do("UPDATE users SET failed_count = 7, locked_until = $until WHERE id = $locked->{id}");
($me) = grep { $_->{id} == $locked->{id} }
    @{json_of(api(GET => "/users?after=" . ($locked->{id} - 1) . "&limit=1", undef,
                  bearer($tok{admin})))};
like($me->{locked_until} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     'a locked user shows locked_until as ISO 8601');
$res = api(POST => "/users/$locked->{id}/unlock", undef, bearer($tok{admin}));
is($res->code, 204, 'unlock is 204');
is($res->content, '', '  without a body');
my $row = user_row($locked->{id});
is("$row->{failed_count}/$row->{locked_until}", '0/0', 'failed_count and locked_until cleared');
ok(is_problem(api(POST => '/users/2147483647/unlock', undef, bearer($tok{admin})), 404, 'unlock 404'),
   'unlock of a missing user is 404');
$res = api(GET => "/users/$locked->{id}/unlock", undef, bearer($tok{admin}));
ok(is_problem($res, 405, 'GET unlock'), 'GET on unlock is 405');
is($res->header('Allow'), 'POST', '  Allow: POST');

# ---- the flows that need real accounts (register, verify-2fa, login) ----
{
    # -- unlock lets a locked-out user log in again --
    my $u = enroll();
    for (1 .. 6) {
        api(POST => '/login', {username => $u->{username}, password => 'wrong password here',
                               code => '000000'});
    }
    ok(user_row($u->{id})->{locked_until} > 0, 'failed logins locked the account');
    # a long lock, so that only the unlock can end it within this test
    db_do('UPDATE users SET locked_until = ' . (time + 600) . " WHERE id = $u->{id}");
    $res = api(POST => '/login', {username => $u->{username}, password => $u->{password},
                                  code => totp_code($u->{secret})});
    is($res->code, 429, 'while locked even the right credentials get 429');
    $res = api(POST => "/users/$u->{id}/unlock", undef, bearer($tok{admin}));
    is($res->code, 204, 'an admin unlocks it');
    ok(eval { login_user($u); 1 }, 'and the user logs in again') or diag($@);

    # -- DELETE /users/{id}/2fa --
    my $r2 = enroll();
    my $r2_tok = login_user($r2);
    my $before = user_row($r2->{id});
    my ($codes) = map { $_->[0] } db_rows("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $r2->{id}");
    ok($codes > 0, 'an enrolled user has recovery codes');
    $res = api(DELETE => "/users/$r2->{id}/2fa", undef, bearer($tok{admin}));
    is($res->code, 200, 'DELETE /users/{id}/2fa is 200');
    my $shown = json_of($res);
    is($shown->{id}, $r2->{id}, '  with the user');
    ok(JSON::PP::is_bool($shown->{twofa_confirmed}) && !$shown->{twofa_confirmed},
       '  whose enrolment is pending');
    my $after = user_row($r2->{id});
    is($after->{twofa_confirmed}, 0, 'twofa_confirmed is 0');
    ok(!defined $after->{last_totp_step}, 'last_totp_step is NULL');
    ok($after->{twofa_secret} ne $before->{twofa_secret}, 'a new secret');
    like($after->{twofa_secret}, qr/^v1\./, '  stored sealed');
    ($codes) = map { $_->[0] } db_rows("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $r2->{id}");
    is($codes, 0, 'recovery codes deleted');
    is(guarded_code($r2_tok), 401, 'the user\'s tokens are revoked');
    $res = api(POST => '/login', {username => $r2->{username}, password => $r2->{password},
                                  code => totp_code($r2->{secret})});
    is($res->code, 403, 'next login is 403');
    ok(json_of($res)->{enrollment_token}, '  with an enrollment_token');
    ok(is_problem(api(DELETE => '/users/2147483647/2fa', undef, bearer($tok{admin})), 404, '2fa 404'),
       'reset of a missing user is 404');

    # -- POST /password --
    my $p = enroll();
    my $old_pw = $p->{password};
    # tokens minted as login would, a little before the change
    my $caller_tok = mint_token($p, claims => {iat => time - 2, nbf => time - 2});
    my $other_tok = mint_token($p, claims => {iat => time - 2, nbf => time - 2});
    is(guarded_code($other_tok), 200, 'a second session works before the change');
    my $step = $p->{step} + 1;                     # the next unused step (skew 1 accepts it)
    my $code = totp_code($p->{secret}, $step * 30 + 1);
    my $wrong_code = do { my $n = "$code"; sprintf('%06d', ($n + 1) % 1000000) };
    my $new_pw = strong_password();
    my $state = user_row($p->{id});

    my %bad = (
        'weak' => [{current_password => $old_pw, new_password => 'password1234', code => $code},
                   'new_password'],
        'short' => [{current_password => $old_pw, new_password => 'short', code => $code},
                    'new_password'],
        'contains the username' => [{current_password => $old_pw,
                                     new_password => "my name is $p->{username}!", code => $code},
                                    'new_password'],
        'reused' => [{current_password => $old_pw, new_password => $old_pw, code => $code},
                     'new_password'],
        'missing code' => [{current_password => $old_pw, new_password => $new_pw}, 'code'],
        'numeric code' => [{current_password => $old_pw, new_password => $new_pw, code => 123456},
                           'code'],
        'unknown field' => [{current_password => $old_pw, new_password => $new_pw, code => $code,
                             username => 'x'}, 'username'],
    );
    for my $name (sort keys %bad) {
        my ($body, $field) = @{$bad{$name}};
        $res = api(POST => '/password', $body, bearer($caller_tok));
        ok(is_problem($res, 400, $name) && field_errors($res) eq $field, "$name: 400 naming $field");
    }
    my $now = user_row($p->{id});
    is_deeply([@$now{qw(password last_totp_step failed_count)}],
              [@$state{qw(password last_totp_step failed_count)}],
              'refused bodies consumed nothing: same hash, same TOTP step, no failure counted');

    $res = api(POST => '/password', {current_password => 'not my password at all',
                                     new_password => $new_pw, code => $code}, bearer($caller_tok));
    ok(is_problem($res, 401, 'wrong current'), 'a wrong current password is 401');
    is(json_of($res)->{detail}, 'invalid credentials', '  "invalid credentials"');
    is(user_row($p->{id})->{failed_count}, $state->{failed_count} + 1, '  counted as a failure');
    $res = api(POST => '/password', {current_password => $old_pw, new_password => $new_pw,
                                     code => $wrong_code},
               bearer($caller_tok));
    ok(is_problem($res, 401, 'wrong code'), 'a wrong code is 401');
    is(user_row($p->{id})->{failed_count}, $state->{failed_count} + 2, '  counted as a failure');

    $res = api(POST => '/password', {current_password => $old_pw, new_password => $new_pw,
                                     code => $code}, bearer($caller_tok));
    is($res->code, 204, 'the password change is 204') or diag($res->content);
    $p->{step} = $step;
    $now = user_row($p->{id});
    like($now->{password}, qr/^\$argon2id\$v=19\$/, 'the new password is stored as argon2id');
    is($now->{last_totp_step}, $step, 'the code\'s step is used up');
    is($now->{failed_count}, 0, 'the success reset the failure count');
    is(guarded_code($caller_tok), 200, 'the session that changed the password keeps working');
    is(guarded_code($other_tok), 401, 'every other token is revoked');
    $res = api(POST => '/password', {current_password => $new_pw, new_password => strong_password(),
                                     code => $code}, bearer($caller_tok));
    ok(is_problem($res, 401, 'replayed code'), 'the same code cannot change the password again');
    $res = api(POST => '/login', {username => $p->{username}, password => $old_pw,
                                  code => totp_code($p->{secret})});
    ok(is_problem($res, 401, 'old password'), 'the old password no longer logs in');
    api(POST => "/users/$p->{id}/unlock", undef, bearer($tok{admin}));
    $p->{password} = $new_pw;
    ok(eval { login_user($p); 1 }, 'the new one does') or diag($@);
}

# ---- SecAuthBootstrapAdmin ----
my $boot = make_user('viewer');
my $params = $ENV{SECAUTH_DBD_PARAMS};
my $driver = $ENV{SECAUTH_DBD_DRIVER};
my $missing = unique_name('nobody');
my $server = SecAuthServer->start(driver => $driver, params => $params, extra => <<"CONF");
SecAuthBootstrapAdmin $boot->{username}
<VirtualHost 127.0.0.1:*>
    ServerName missing.test
    SecAuthBootstrapAdmin $missing
</VirtualHost>
CONF
ok($server->wait_log(qr/SecAuthBootstrapAdmin promoted \Q$boot->{username}\E to admin/),
   'SecAuthBootstrapAdmin logs the promotion at startup');
is(user_row($boot->{id})->{role}, 'admin', 'and the account is an admin');
ok($server->wait_log(qr/SecAuthBootstrapAdmin \Q$missing\E: no such account/),
   'an account that does not exist is a warning');
my @promotions = $server->error_log =~ /promoted \Q$boot->{username}\E/g;
is(scalar(@promotions), 1, 'promoted once, not once per child');
$res = api(GET => $server->url('/users'), undef, bearer(mint_token({%$boot, role => 'admin'})));
is($res->code, 200, 'the promoted account can administer users');
$server->stop;

done_testing();
