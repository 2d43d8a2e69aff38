#!/usr/bin/perl
# scripts/check-cluster.pl — the checks of `make check-cluster`, run by scripts/check-cluster
# against a running scripts/cluster DIR: cross-node correctness through httpd A (Galera node 1)
# and B (node 2), then faults under a create load whose clients retry their 503s with their
# Idempotency-Key. Prints TAP-like lines and the measured figures; exits non-zero on a failure.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin, "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time sleep);
use POSIX ();
use LWP::UserAgent;
use HTTP::Request;
use JSON::PP;
use SecAuthClient ();
use SecAuthParallel;

my $dir = $ENV{CLUSTER_DIR} or die "CLUSTER_DIR not set\n";
my $base = $ENV{CLUSTER_PORT} // 31000;
my %url = (A => 'http://127.0.0.1:' . ($base + 101), B => 'http://127.0.0.1:' . ($base + 102));
my $cluster = "$FindBin::Bin/cluster";
my $JSON = JSON::PP->new->canonical;
my $tag = "c$$";
my ($passed, $failed) = (0, 0);
my %fig;

sub ok {
    my ($cond, $what) = @_;
    if ($cond) { $passed++; print "ok - $what\n" } else { $failed++; print "NOT OK - $what\n" }
    return $cond;
}
sub tally { my %c; $c{$_}++ for @_; return \%c }
sub show { my $c = shift; join ', ', map { "$_ x$c->{$_}" } sort keys %$c }
sub on {
    my ($node, @args) = @_;
    local $SecAuthClient::BASE = $url{$node};
    return SecAuthClient::api(@args);
}
sub sql {
    my ($n, $q) = @_;
    # a causal read: what node n shows is everything the cluster committed before
    my $out = `$cluster sql $n $dir "SET SESSION wsrep_sync_wait = 1; $q" 2>&1`;
    die "sql on node $n failed: $out" if $?;
    return map { [split /\t/] } split /\n/, $out;
}
sub step { system("$cluster @_ $dir >/dev/null") == 0 or die "cluster @_ failed\n" }
sub auth { (Authorization => "Bearer $_[0]") }
sub json_of { my $r = shift; return eval { $JSON->decode($r->content) } }

local $SecAuthClient::BASE = $url{A};
my $admin = SecAuthClient::enroll("$tag-admin");
sql(1, "UPDATE users SET role = 'admin' WHERE username = '$tag-admin'");
my $admin_token = SecAuthClient::login_token($admin);

# ---- cross-node correctness ----
if (!$ENV{ONLY_FAULTS}) {
    my $u = SecAuthClient::enroll("$tag-totp");
    my $code = SecAuthClient::next_code($u);
    my $body = {username => $u->{username}, password => $u->{password}, code => $code};
    my $a = on(A => POST => '/login', $body);
    my $b = on(B => POST => '/login', $body);
    ok($a->code == 200 && $b->code == 401, 'a TOTP code accepted through A is refused through B ('
       . $a->code . ', ' . $b->code . ')');
}

if (!$ENV{ONLY_FAULTS}) {
# revocations through A, refused through B on its first request: print the worst delay
my $worst = 0;
sub refused_through_b {
    my ($what, $token, $change, $check) = @_;
    my $res = on(B => GET => '/me', undef, auth($token));
    ok($res->code == 200, "$what: the token works through B before");
    $change->();
    my $t0 = time;
    $res = $check->();
    my $first = $res->code;
    my $until = $t0 + 5;
    while ($res->code == 200 && time < $until) { sleep 0.05; $res = $check->() }
    my $delay = time - $t0;
    $worst = $delay if $delay > $worst;
    ok($first != 200, sprintf("%s through A is refused through B on its first request (%d, %.3f s)",
                              $what, $first, $delay));
}
{
    my $u = SecAuthClient::enroll("$tag-logout");
    my $t = SecAuthClient::login_token($u);
    refused_through_b('logout', $t, sub { on(A => POST => '/logout', undef, auth($t)) },
                      sub { on(B => GET => '/me', undef, auth($t)) });
    $u = SecAuthClient::enroll("$tag-disable");
    $t = SecAuthClient::login_token($u);
    my ($id) = map { $_->[0] } sql(1, "SELECT id FROM users WHERE username = '$u->{username}'");
    refused_through_b('disable', $t,
                      sub { on(A => PATCH => "/users/$id", {disabled => JSON::PP::true}, auth($admin_token)) },
                      sub { on(B => GET => '/me', undef, auth($t)) });
    $u = SecAuthClient::enroll("$tag-role");
    $t = SecAuthClient::login_token($u);
    ($id) = map { $_->[0] } sql(1, "SELECT id FROM users WHERE username = '$u->{username}'");
    refused_through_b('role change', $t,
                      sub { on(A => PATCH => "/users/$id", {role => 'viewer'}, auth($admin_token)) },
                      sub { on(B => POST => '/products', {name => "$tag-role", price => 1}, auth($t)) });
    # a password change needs a TOTP code of a step not used yet, and a second token of the
    # user (the one used for the change stays valid): wait for the steps to come
    $u = SecAuthClient::enroll("$tag-pw");
    $t = SecAuthClient::login_token($u);
    sleep 1 while int(time / 30) < $u->{step} + 1;
    my $r = on(B => POST => '/login', {username => $u->{username}, password => $u->{password},
                                       code => SecAuthClient::totp($u->{secret}, ($u->{step} + 2) * 30)});
    my $t2 = (json_of($r) || {})->{token} // die 'second login: ' . $r->code . "\n";
    sleep 1 while int(time / 30) < $u->{step} + 2;
    refused_through_b('password change', $t2,
                      sub { my $c = on(A => POST => '/password', {current_password => $u->{password},
                              new_password => "another horse battery staple $$",
                              code => SecAuthClient::totp($u->{secret}, ($u->{step} + 3) * 30)}, auth($t));
                            die 'password change: ' . $c->code . ' ' . $c->content . "\n" unless $c->code == 204 },
                      sub { on(B => GET => '/me', undef, auth($t2)) });
    $fig{worst_delay} = sprintf '%.3f s', $worst;
}
}

# lockout counts from both nodes add up: 5 failures alternating A and B lock the account
if (!$ENV{ONLY_FAULTS}) {
    my $u = SecAuthClient::enroll("$tag-lock");
    my @codes;
    for my $i (1 .. 5) {
        push @codes, on($i % 2 ? 'A' : 'B', POST => '/login',
                        {username => $u->{username}, password => 'wrong password here', code => '000000'})->code;
    }
    my $next = on(B => POST => '/login', {username => $u->{username}, password => $u->{password},
                                          code => SecAuthClient::next_code($u)});
    ok("@codes" eq '401 401 401 401 401' && $next->code == 429 && $next->header('Retry-After'),
       "5 failures spread over A and B lock the account (@codes, then " . $next->code . ')');
}

# 50 parallel logins with one code over both nodes: exactly one 200, no 5xx
if (!$ENV{ONLY_FAULTS}) {
    my $u = SecAuthClient::enroll("$tag-race");
    my $body = {username => $u->{username}, password => $u->{password}, code => SecAuthClient::next_code($u)};
    my $c = tally(in_parallel(50, sub { on($_[0] % 2 ? 'A' : 'B', POST => '/login', $body)->code }));
    # the replays count as failures, so the account locks on the way: 401, then 429
    ok(($c->{200} // 0) == 1 && ($c->{401} // 0) + ($c->{429} // 0) == 49,
       '50 parallel same-code logins over A and B: exactly one 200: ' . show($c));
}

# 20 parallel If-Match updates of one product over both nodes: one 200 and 19 x 412
my $editor = SecAuthClient::enroll("$tag-editor");
my $etoken = SecAuthClient::login_token($editor);
if (!$ENV{ONLY_FAULTS}) {
    my $r = on(A => POST => '/products', {name => "$tag-ifmatch", price => 1}, auth($etoken));
    my $p = json_of($r);
    my $etag = $r->header('ETag');
    my $c = tally(in_parallel(20, sub {
        on($_[0] % 2 ? 'A' : 'B', PATCH => "/products/$p->{id}", {quantity => $_[0]},
           auth($etoken), 'If-Match' => $etag)->code }));
    ok(($c->{200} // 0) == 1 && ($c->{412} // 0) == 19, '20 parallel If-Match updates over A and B: ' . show($c));
}

# the same name registered at once through A and B: one 201, one 409
if (!$ENV{ONLY_FAULTS}) {
    my @all;
    for my $i (1 .. 5) {
        my $name = "$tag-same$i";
        my @c = sort(in_parallel(2, sub {
            on($_[0] == 1 ? 'A' : 'B', POST => '/register',
               {username => $name, password => "correct horse battery staple $$"})->code }));
        push @all, "@c";
    }
    ok(!grep({ $_ ne '201 409' } @all), 'simultaneous registrations of one name on A and B: ' . join(' | ', @all));
}

# ---- faults under a create load ----
# Each client creates products with its own keys through A and B in turn; a 503 (or no answer)
# is retried with the same key and body, on the other node when this one is gone.
my $load_end = "$dir/load-$$.stop";
my $load_log = "$dir/load-$$.log";
sub client {
    my ($w) = @_;
    my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 0);
    my (@log, $i);
    my @nodes = ('A', 'B');
    until (-e $load_end) {
        $i++;
        my $key = "$tag-w$w-$i";
        my $body = $JSON->encode({name => $key, price => 2.5, quantity => $w});
        my $node = $nodes[($w + $i) % 2];
        my ($status, $id, $tries) = (0, undef, 0);
        my $give_up = time + 120;
        while (time < $give_up) {
            $tries++;
            my $req = HTTP::Request->new(POST => "$url{$node}/products");
            $req->header('Content-Type' => 'application/json', auth($etoken), 'Idempotency-Key' => qq{"$key"});
            $req->content($body);
            my $t = time;
            my $r = $ua->request($req);
            $status = $r->code;
            my $client_side = ($r->header('Client-Warning') // '') eq 'Internal response';
            push @log, sprintf("%.3f %s %s %d %s", $t, $node, $key, $status,
                               $client_side ? 'noanswer' : ($r->header('Retry-After') ? 'retry-after' : '-'));
            if ($status == 201) { $id = (json_of($r) || {})->{id}; last }
            $node = $node eq 'A' ? 'B' : 'A' if $client_side;
            sleep 0.2;
        }
        push @log, "done $key " . ($id // 'none');
    }
    return join "\n", @log;
}

my $fault_start = time;
my %phase;
my $loader = fork // die "fork: $!";
if (!$loader) {
    my @out = in_parallel(6, \&client);
    open my $fh, ">", $load_log or die;
    print $fh join("\n", @out), "\n";
    close $fh;
    POSIX::_exit(0);
}
sub mark { $phase{$_[0]} = time; print "# $_[0] at +", sprintf('%.1f', time - $fault_start), " s\n" }
sleep 4;
mark('kill -9 node 3');
step('db-kill', 3);
sleep 8;
mark('restart node 3');
step('db-start', 3);
my $ist = `grep -c 'IST received\\|Receiving IST' $dir/node3/error.log`;
ok($ist > 0, 'node 3 rejoined by IST after mariadbd --wsrep-recover');
sleep 3;
mark('kill -9 node 2 (behind B)');
step('db-kill', 2);
sleep 8;
mark('restart node 2');
step('db-start', 2);
sleep 3;
mark('stop httpd B');
step('httpd-stop', 'B');
sleep 4;
step('httpd-start', 'B');
mark('httpd B back');
sleep 3;
mark('SIGSTOP node 3');
step('db-pause', 3);
sleep 10;
step('db-resume', 3);
mark('SIGCONT node 3');
# a frozen node still calls itself Synced until it notices its eviction: wait for the rejoin
for my $n (1 .. 3) {
    my $until = time + 120;
    sleep 0.5 until time > $until || eval {
        my %st = map { @$_ } sql($n, "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size', 'wsrep_local_state_comment')");
        ($st{wsrep_cluster_size} // 0) == 3 && ($st{wsrep_local_state_comment} // '') eq 'Synced' };
}
sleep 3;
open my $stop, '>', $load_end or die; close $stop;
waitpid($loader, 0);

# ---- the outcome ----
open my $lfh, "<", $load_log or die "no load log\n";
my @lines = <$lfh>;
chomp @lines;
my (%final, @answers);
for (@lines) {
    if (/^done (\S+) (\S+)/) { $final{$1} = $2 } elsif (/^\d/) { push @answers, [split / /] }
}
my @keys = keys %final;
my @lost = grep { $final{$_} eq 'none' } @keys;
ok(@keys > 50 && !@lost, scalar(@keys) . ' creates under faults, every one answered 201 in the end ('
   . scalar(@lost) . ' never)');
my %statuses = %{tally(map { $_->[3] . ($_->[4] eq 'noanswer' ? '(no answer)' : '') } @answers)};
my @bad = grep { $_->[3] != 201 && !($_->[3] == 503 && $_->[4] eq 'retry-after') && $_->[4] ne 'noanswer' } @answers;
ok(!@bad, 'every answer is 201, or 503 with Retry-After: ' . show(\%statuses));
# the failover window: the longest stretch in which creates kept getting 503 (no answer from a
# stopped httpd is the client's failover to the other node, counted apart)
sub longest_run {
    my @t = sort { $a <=> $b } @_;
    my ($window, $from) = (0, undef);
    for my $i (0 .. $#t) {
        $from = $t[$i] if !defined $from || $t[$i] - $t[$i - 1] > 2;
        $window = $t[$i] - $from if $t[$i] - $from > $window;
    }
    return $window;
}
my @e503 = map { $_->[0] } grep { $_->[3] == 503 } @answers;
my @gone = map { $_->[0] } grep { $_->[4] eq 'noanswer' } @answers;
$fig{failover_window} = sprintf '%.1f s of 503s at most (%d answers 503 in all); httpd B stopped: %d connections refused over %.1f s',
                                longest_run(@e503), scalar @e503, scalar @gone, longest_run(@gone);
my $want = join ',', sort { $a <=> $b } grep { $_ ne 'none' } values %final;
for my $n (1 .. 3) {
    my @rows = sql($n, "SELECT id FROM products WHERE name LIKE '$tag-w%' ORDER BY id");
    my $have = join ',', map { $_->[0] } @rows;
    ok($have eq $want, "node $n holds exactly the " . scalar(@keys) . ' products answered 201 (has '
       . scalar(@rows) . ')');
}
my ($dupes) = sql(1, "SELECT COUNT(*) FROM (SELECT name FROM products WHERE name LIKE '$tag-w%' GROUP BY name HAVING COUNT(*) > 1) d");
ok($dupes->[0] == 0, 'exactly one row per Idempotency-Key');
my $crashes = `cat $dir/httpdA/error.log $dir/httpdB/error.log | grep -c 'exit signal\\|Segmentation fault'`;
chomp $crashes;
ok($crashes == 0, 'no httpd child crashed');
$fig{requests_lost} = scalar @lost;
my $floods = `grep -c 'SA85[12]\\|SA51[02]' $dir/httpdA/error.log $dir/httpdB/error.log`;
$floods =~ s/\n/, /g;
$fig{module_error_lines} = $floods;

# ---- throughput with 1 and 2 httpd nodes (a ratio on this machine, not a claim about scale) ----
if (`which wrk` && !$ENV{NO_BENCH}) {
    my $r = on(A => POST => '/products', {name => "$tag-bench", price => 1}, auth($etoken));
    my $id = (json_of($r) || {})->{id};
    my $lua = "$dir/bench-$$.lua";
    open my $fh, '>', $lua or die; print $fh "wrk.headers['Authorization'] = 'Bearer $etoken'\n"; close $fh;
    my $rps = sub {
        my $o = shift;
        return $1 if $o =~ /Requests\/sec:\s*([\d.]+)/;
        print map { "#   wrk: $_\n" } (split /\n/, $o)[0 .. 3];
        return 0;
    };
    die "bench product: " . $r->code . "\n" unless $id;
    my $one = $rps->(`wrk -t2 -c8 -d8s -s $lua $url{A}/products/$id 2>&1`);
    my @two = in_parallel(2, sub { $rps->(`wrk -t1 -c4 -d8s -s $lua $url{$_[0] == 1 ? 'A' : 'B'}/products/$id 2>&1`) });
    my $sum = $two[0] + $two[1];
    $fig{throughput} = sprintf '1 node %.0f req/s, 2 nodes %.0f req/s, ratio %.2f (GET /products/{id}, 8 connections)',
                               $one, $sum, $one ? $sum / $one : 0;
}

print "# figures:\n";
print "#   $_: $fig{$_}\n" for sort keys %fig;
print "cluster: $passed passed, $failed failed\n";
exit($failed ? 1 : 0);
