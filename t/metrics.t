# metrics.t — API.md §10: known traffic (registrations, good and bad logins, one lockout, token
# checks of every outcome) driven in parallel into httpd servers with several children, under
# prefork, worker and event, and the exact change of every counter read from /metrics, as the
# shipped configuration mounts it; the output passes promtool and the Prometheus client's own
# parser, holds no username, token or secret, and mod_status (?auto and the page) shows the
# same figures; /metrics is refused to an address other than loopback's 127.0.0.1; a graceful
# restart keeps the figures; a database that cannot be reached is counted as such.
use strict;
use warnings;
use Apache::Test ();
use Test::More;
use File::Temp qw(tempdir);
use IPC::Open3;
use LWP::UserAgent;
use JSON::PP;
use SecAuthTest;
use SecAuthServer;

my $json = JSON::PP->new->canonical;
my $src = $ENV{SECAUTH_SRCDIR};
my $mods = $ENV{SECAUTH_MODDIR};
my $server;

# The /metrics block of the Debian package's configuration, used as it is.
my ($shipped) = do { local (@ARGV, $/) = ("$src/conf/secauth.conf"); <> }
    =~ m{^\s*(<Location "/metrics">.*?</Location>)}ms;
ok($shipped && $shipped =~ /SetHandler secauth-metrics/ && $shipped =~ /Require ip 127\.0\.0\.1 ::1/,
   'conf/secauth.conf mounts secauth-metrics at /metrics for loopback only');

# the example alerting rules of the README: valid, and they fire (and stay quiet) as their cases say
for my $cmd (['check', 'rules', 'secauth-alerts.yml'], ['test', 'rules', 'secauth-alerts.test.yml']) {
    my $out = `cd $src/docs/monitoring && promtool @$cmd 2>&1`;
    is($?, 0, "promtool @$cmd") or diag($out);
}

sub extra_config {
    my ($dir, $more) = @_;
    return join "\n", 'SecAuthPasswordHash argon2id m=4096 t=1 p=1', 'LogLevel notice',
        "LoadModule authz_host_module \"$mods/mod_authz_host.so\"",
        "LoadModule status_module \"$mods/mod_status.so\"",
        'ExtendedStatus On',
        '<Location "/server-status">', 'SetHandler server-status', 'Require ip 127.0.0.1', '</Location>',
        'LogFormat "%P %m %U %>s" pids', "CustomLog \"$dir/pids.log\" pids",
        $shipped, $more // '';
}

sub call {
    my ($method, $path, $body, %headers) = @_;
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0,
                                 $headers{local_address} ? (local_address => delete $headers{local_address}) : ());
    my $req = HTTP::Request->new($method => $server->url($path));
    if (defined $body) {
        $req->content(ref $body ? $json->encode($body) : $body);
        $req->header('Content-Type' => 'application/json');
    }
    $req->header($_ => $headers{$_}) for keys %headers;
    return $ua->request($req);
}

sub data { my $v = eval { $json->decode($_[0]->content) }; return $v // {} }

# name{labels} => value of every sample of an exposition (or of mod_status's "name: value" lines)
sub samples {
    my ($text, $sep) = @_;
    my %s;
    for (split /\n/, $text) {
        next if /^#/ || !/\S/;
        my ($k, $v) = /^(\w+(?:\{.*\})?)$sep(\S+)$/ or next;
        $s{$k} = $v;
    }
    return \%s;
}

sub scrape {
    my $res = call(GET => '/metrics');
    die 'GET /metrics: ' . $res->status_line unless $res->code == 200;
    return ($res, samples($res->content, ' '));
}

sub enrol {
    my ($name, $pw) = @_;
    my $reg = call(POST => '/register', {username => $name, password => $pw});
    return "register " . $reg->code unless $reg->code == 201;
    my $r = data($reg);
    my $secret = secret_of($r->{otpauth_uri});
    my $now = time;
    my $v = call(POST => '/verify-2fa', {username => $name, code => totp_code($secret, $now)},
                 Authorization => "Bearer $r->{enrollment_token}");
    return "verify-2fa " . $v->code unless $v->code == 200;
    return $json->encode({name => $name, password => $pw, secret => $secret, id => $r->{id},
                          enrol => $r->{enrollment_token}, codes => data($v)->{recovery_codes},
                          next => totp_code($secret, $now + 30)});
}

sub login {
    my ($u, %second) = @_;
    return call(POST => '/login', {username => $u->{name}, password => $u->{password}, %second});
}

# Every counter family the traffic below must move by exactly what it says, and no more.
my @counted = qw(secauth_logins_total secauth_second_factor_total secauth_lockouts_total
                 secauth_registrations_total secauth_token_checks_total secauth_tokens_issued_total
                 secauth_db_errors_total);

sub check_deltas {
    my ($what, $before, $after, %want) = @_;
    my @wrong;
    for my $k (sort keys %$after) {
        my ($family) = $k =~ /^(\w+)/;
        next unless grep { $_ eq $family } @counted;
        my $delta = $after->{$k} - ($before->{$k} // 0);
        push @wrong, "$k: +$delta, expected +" . ($want{$k} // 0) if $delta != ($want{$k} // 0);
    }
    my @missing = grep { !exists $after->{$_} } keys %want;
    ok(!@wrong && !@missing, "$what: every counter moved by exactly the traffic")
        or diag(join "\n", @wrong, map { "missing series $_" } @missing);
}

sub run_tool {
    my ($input, @cmd) = @_;
    my $pid = open3(my $in, my $out, undef, @cmd);
    print $in $input;
    close $in;
    my $output = do { local $/; <$out> } // '';
    waitpid($pid, 0);
    return ($? >> 8, $output);
}

sub mpm_run {
    my ($mpm) = @_;
    my $dir = tempdir(CLEANUP => 1);
    system('sqlite3', "$dir/db", ".read $src/sql/sqlite/schema.sql") == 0 or die 'schema';
    my $processes = $mpm eq 'prefork' ? "StartServers 4\nMinSpareServers 4\nMaxSpareServers 6" : '';
    $server = SecAuthServer->start(mpm => $mpm, driver => 'sqlite3', params => "$dir/db",
                                   extra => extra_config($dir, $processes));
    my ($res, $before) = scrape();
    is($res->header('Content-Type'), 'text/plain; version=0.0.4; charset=utf-8',
       "$mpm: /metrics answers the Prometheus text format 0.0.4");
    is($res->header('Cache-Control'), 'no-store', "$mpm: not cached");

    # three accounts enrolled at once; a taken name; a weak password
    my @users = map { eval { $json->decode($_) } // {error => $_} }
        in_parallel(3, sub { enrol(unique_name("m$mpm"), strong_password()) });
    is(scalar(grep { $_->{id} } @users), 3, "$mpm: three enrolments") or diag($json->encode(\@users));
    is(call(POST => '/register', {username => $users[0]{name}, password => strong_password()})->code,
       409, "$mpm: a taken name");
    is(call(POST => '/register', {username => unique_name('weak'), password => 'short'})->code, 400,
       "$mpm: a weak password");

    # good logins, all at once: each account with its next TOTP code and two recovery codes
    my @logins = in_parallel(9, sub {
        my $i = $_[0] - 1;
        my $u = $users[$i % 3];
        my $res = $i < 3 ? login($u, code => $u->{next}) : login($u, recovery_code => $u->{codes}[$i]);
        return $res->code == 200 ? ($i % 3) . ' ' . data($res)->{token} : 'login ' . $res->code;
    });
    is(scalar(grep { /^\d [\w-]+\.[\w-]+\.[\w-]+$/ } @logins), 9, "$mpm: 9 good logins")
        or diag("@logins");
    my @tokens_of;   # by account
    for (@logins) { my ($i, $t) = split / /; push @{$tokens_of[$i]}, $t if defined $t }

    # bad logins: wrong password, wrong code, a replayed code, a used recovery code, no password
    is(login({%{$users[0]}, password => 'not the password at all'}, code => '000000')->code, 401,
       "$mpm: wrong password") for 1 .. 2;
    my $wrong = join '', map { ($_ + 1) % 10 } split //, $users[1]{next};   # a string, still
    is(login($users[1], code => $wrong)->code, 401, "$mpm: wrong code");
    is(login($users[1], code => $users[1]{next})->code, 401, "$mpm: replayed code");
    is(login($users[2], recovery_code => $users[2]{codes}[5])->code, 401, "$mpm: used recovery code");
    is(call(POST => '/login', {username => $users[2]{name}})->code, 400, "$mpm: no password");

    # one lockout: five failures of a name without an account, then 429
    my $ghost = {name => unique_name('ghost'), password => 'not a password anybody has'};
    is(login($ghost, code => '123456')->code, 401, "$mpm: ghost failure $_") for 1 .. 5;
    is(login($ghost, code => '123456')->code, 429, "$mpm: the ghost is locked");

    # token checks, k = 3 of each outcome, from parallel clients
    my $gone = $tokens_of[0][1];
    is(call(POST => '/logout', undef, Authorization => "Bearer $gone")->code, 204, "$mpm: logout");
    db_sqlite("$dir/db", "UPDATE users SET disabled = 1 WHERE id = $users[2]{id}");
    my $expired = mint_token({id => $users[0]{id}, username => $users[0]{name}, role => 'editor'},
                             claims => {iat => time - 900, nbf => time - 900, exp => time - 300});
    my %by = (ok => $tokens_of[0][0], missing => undef, invalid => 'abc.def.ghi', expired => $expired,
              revoked => $gone, disabled => $tokens_of[2][0]);
    my %status = (ok => 200, missing => 401, invalid => 401, expired => 401, revoked => 401,
                  disabled => 401);
    my @kinds = sort keys %by;
    my @checks = in_parallel(3 * @kinds, sub {
        my $kind = $kinds[($_[0] - 1) % @kinds];
        my $res = call(GET => '/me', undef, defined $by{$kind} ? (Authorization => "Bearer $by{$kind}") : ());
        return "$kind:" . $res->code;
    });
    is(join(',', sort @checks), join(',', sort map { my $k = $_; map { "$k:$status{$k}" } 1 .. 3 } @kinds),
       "$mpm: 3 token checks of each outcome, with their statuses");

    my ($after_res, $after) = scrape();
    check_deltas("$mpm", $before, $after,
        'secauth_registrations_total{result="ok"}' => 3,
        'secauth_registrations_total{result="taken"}' => 1,
        'secauth_registrations_total{result="invalid"}' => 1,
        'secauth_second_factor_total{kind="enrolment",result="ok"}' => 3,
        'secauth_tokens_issued_total{kind="enroll"}' => 3,
        'secauth_logins_total{result="ok"}' => 9,
        'secauth_second_factor_total{kind="totp",result="ok"}' => 3,
        'secauth_second_factor_total{kind="recovery",result="ok"}' => 6,
        'secauth_tokens_issued_total{kind="access"}' => 9,
        'secauth_logins_total{result="invalid"}' => 2 + 1 + 1 + 1 + 5,
        'secauth_second_factor_total{kind="totp",result="invalid"}' => 1,
        'secauth_second_factor_total{kind="totp",result="replayed"}' => 1,
        'secauth_second_factor_total{kind="recovery",result="invalid"}' => 1,
        'secauth_logins_total{result="bad_request"}' => 1,
        'secauth_lockouts_total' => 1,
        'secauth_logins_total{result="locked"}' => 1,
        # the taken name, and the ghost's throttling row inserted again by failures 2 to 5
        'secauth_db_errors_total{kind="conflict"}' => 1 + 4,
        'secauth_token_checks_total{result="ok"}' => 3 + 1,
        map { ("secauth_token_checks_total{result=\"$_\"}" => 3) } grep { $_ ne 'ok' } @kinds);
    my $delta = sub { $after->{$_[0]} - ($before->{$_[0]} // 0) };
    is($delta->('secauth_login_duration_seconds_count'), 21, "$mpm: 21 logins timed");
    is($delta->('secauth_request_duration_seconds_count{method="POST",route="/login"}'), 21,
       "$mpm: under their route");
    # the access check refused 15 of the 18 before the handler: timed there, not under the route
    is($delta->('secauth_request_duration_seconds_count{method="GET",route="/me"}'), 3,
       "$mpm: the 3 answered requests of GET /me under theirs");
    is($delta->('secauth_access_check_duration_seconds_count'), 19, "$mpm: 19 access checks timed");
    ok($delta->('secauth_login_duration_seconds_sum') > 0, "$mpm: login time adds up");
    ok($delta->('secauth_db_calls_total') > 50, "$mpm: database calls counted");
    is($after->{secauth_hash_slots_busy}, 0, "$mpm: no hash running at rest");
    ok($after->{secauth_hash_slots} >= 2, "$mpm: the hashing gate's places of every child ($after->{secauth_hash_slots})");
    ok(exists $after->{"secauth_build_info{version=\"0.1.0\",mpm=\"$mpm\"}"}, "$mpm: build info");

    my %pids;
    open(my $log, '<', "$dir/pids.log") or die "pids.log: $!";
    while (<$log>) { $pids{$1}++ if m{^(\d+) GET /me } }
    ok(keys %pids >= 2, "$mpm: the token checks were served by " . keys(%pids) . ' children');

    my $text = $after_res->content;
    my ($rc, $out) = run_tool($text, 'promtool', 'check', 'metrics');
    is($rc, 0, "$mpm: promtool check metrics accepts the output") or diag($out);
    is($out, '', "$mpm: without a lint warning") or diag($out);
    ($rc, $out) = run_tool($text, 'python3', '-c', <<'PY');
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join('%s="%s"' % (k, v) for k, v in s.labels.items())
        out[s.name + ("{%s}" % labels if labels else "")] = s.value
print(json.dumps(out))
PY
    my $parsed = eval { $json->decode($out) } // {};
    my @differ = grep { !defined $parsed->{$_} || $parsed->{$_} != $after->{$_} } keys %$after;
    ok($rc == 0 && keys %$parsed == keys %$after && !@differ,
       "$mpm: prometheus_client's parser reads the same " . keys(%$after) . ' samples')
        or diag("rc $rc: " . keys(%$parsed) . " samples parsed; differ: @differ[0 .. ($#differ > 5 ? 5 : $#differ)]");

    my @secrets = map { ($_->{name}, $_->{password}, $_->{secret}, $_->{enrol}, @{$_->{codes}}) } @users;
    push @secrets, (map { @$_ } @tokens_of), $ghost->{name}, $expired;
    my ($status_res) = call(GET => '/server-status?auto');
    my ($page) = call(GET => '/server-status');
    my @leaks = grep { my $s = $_; grep { index($_, $s) >= 0 } $text, $status_res->content, $page->content } @secrets;
    ok(!@leaks, "$mpm: no username, password, secret, code or token in /metrics or mod_status")
        or diag("@leaks");

    # mod_status: the same figures (nothing moved them since the scrape)
    my $auto = samples($status_res->content, ': ');
    # the feed's age is a clock: present in both, equal only to the second it was read
    my @status_differ = grep { !/_bucket|feed_age/ && ($auto->{$_} // 'none') ne $after->{$_} } keys %$after;
    push @status_differ, 'secauth_state_feed_age_seconds'
        if exists $after->{secauth_state_feed_age_seconds} && !exists $auto->{secauth_state_feed_age_seconds};
    ok($status_res->code == 200 && !@status_differ,
       "$mpm: server-status?auto shows every series of /metrics with the same value")
        or diag($status_res->code . " @status_differ");
    like($page->content, qr{<h2>mod_secauth</h2>.*<tr><td>secauth_logins_total\{result=&quot;ok&quot;\}</td><td>\Q$after->{'secauth_logins_total{result="ok"}'}\E</td></tr>}s,
         "$mpm: and the status page, in a table");

    # the shipped rule: another address of this machine is refused
    is(call(GET => '/metrics', undef, local_address => '127.0.0.2')->code, 403,
       "$mpm: /metrics from 127.0.0.2 is 403");
    is(call(GET => '/health', undef, local_address => '127.0.0.2')->code, 200,
       "$mpm: while that address reaches the server");
    is(call(POST => '/metrics')->code, 405, "$mpm: POST /metrics is 405");

    # a graceful restart carries the figures on
    system("$ENV{SECAUTH_HTTPD} -f $server->{conf} -k graceful >/dev/null 2>&1");
    ok($server->wait_log(qr/resuming normal operations.*resuming normal operations/s, 15),
       "$mpm: graceful restart");
    my (undef, $restarted) = scrape();
    is($restarted->{'secauth_logins_total{result="ok"}'}, $after->{'secauth_logins_total{result="ok"}'},
       "$mpm: the counters survive it");

    ok($server->stop('graceful-stop'), "$mpm: graceful stop");
    unlike($server->error_log, qr/AH00052|Segmentation|exit signal|AddressSanitizer|runtime error/,
           "$mpm: no child crashed") or diag($server->error_log);
}

sub db_sqlite {
    my ($file, $sql) = @_;
    system('sqlite3', $file, $sql) == 0 or die "sqlite3: $sql";
}

# The suite's own server, on either database: a unique key's refusal is told apart from a failure
# by each driver's message.
{
    my $scrape = sub {
        my $res = api(GET => '/metrics');
        is($res->code, 200, "the test server's /metrics answers");
        return samples($res->content, ' ');
    };
    my $before = $scrape->();
    my $name = unique_name('met');
    is(register($name, strong_password())->code, 201, 'a registration');
    is(register($name, strong_password())->code, 409, 'the same name again');
    my $after = $scrape->();
    check_deltas("$ENV{SECAUTH_DB}: registrations", $before, $after,
        'secauth_registrations_total{result="ok"}' => 1,
        'secauth_registrations_total{result="taken"}' => 1,
        'secauth_tokens_issued_total{kind="enroll"}' => 1,
        'secauth_db_errors_total{kind="conflict"}' => 1);
}
if ($ENV{SECAUTH_DB} ne 'sqlite') {
    done_testing();
    exit 0;   # the servers below run on SQLite: once, in the SQLite run
}

my @mpms = grep { -e "$mods/mod_mpm_$_.so" } qw(prefork worker event);
mpm_run($_) for @mpms;

# a database that cannot be reached: every call that needs it is counted as unavailable
{
    my $dir = tempdir(CLEANUP => 1);
    $server = SecAuthServer->start(driver => 'sqlite3', params => "$dir/missing/secauth.db",
                                   extra => extra_config($dir));
    my (undef, $before) = scrape();
    my $token = mint_token({id => 1, username => 'nobody', role => 'editor'});
    is(call(GET => '/me', undef, Authorization => "Bearer $token")->code, 503, "database down: 503") for 1 .. 3;
    is(login({name => 'nobody', password => 'not a password anybody has'}, code => '123456')->code, 503,
       'database down: login 503');
    is(call(POST => '/register', {username => unique_name('down'), password => strong_password()})->code,
       503, 'database down: register 503');
    my (undef, $after) = scrape();
    check_deltas('database down', $before, $after,
        'secauth_token_checks_total{result="unavailable"}' => 3,
        'secauth_logins_total{result="unavailable"}' => 1,
        'secauth_registrations_total{result="unavailable"}' => 1,
        'secauth_db_errors_total{kind="connect"}' => 5);
    ok($server->stop, 'stopped');
}

done_testing();
