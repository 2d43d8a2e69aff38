#!/usr/bin/perl
# scripts/check-faults.pl — the checks of `make check-faults`, run by scripts/check-faults
# against a running httpd + private MariaDB: (a) a database outage under write load, (b) graceful
# restarts under load, (c) races on one username, one ETag and one TOTP code, (d) slow and
# hostile clients. Prints TAP-like lines and a summary of figures; exits non-zero on a failure.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin, "$FindBin::Bin/../t/lib";
use HTTP::Request;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use POSIX ();
use SecAuthClient;
use SecAuthParallel;

my $base = $ENV{BASE} or die "BASE not set\n";
my ($host, $port) = $base =~ m{^http://([^:/]+):(\d+)} or die "bad BASE\n";
my $errlog = $ENV{ERROR_LOG};
my $run = $ENV{RUN_DIR};
my $tag = "f$$";
my $tmp = "/tmp/check-faults-$$";
my ($passed, $failed) = (0, 0);
my %fig;

sub ok {
    my ($cond, $what) = @_;
    if ($cond) { $passed++; print "ok - $what\n" } else { $failed++; print "NOT OK - $what\n" }
    return $cond;
}

sub tally { my %c; $c{$_}++ for @_; return \%c }
sub show { my $c = shift; join ', ', map { "$_ x$c->{$_}" } sort keys %$c }

sub db_names {
    my ($like) = @_;
    my $out = `$ENV{DB_CTL} sql $ENV{DB_DIR} "SELECT name FROM products WHERE name LIKE '$like'" 2>&1`;
    die "db query failed: $out" if $?;
    my @n = split /\n/, $out;
    shift @n if @n && $n[0] eq 'name';
    return @n;
}
sub db_ctl { system("$ENV{DB_CTL} $_[0] $ENV{DB_DIR} $ENV{DB_PORT} >/dev/null 2>&1") == 0 }
sub log_size { -s $errlog // 0 }
sub log_since {
    my $from = shift;
    open my $fh, '<', $errlog or return '';
    seek $fh, $from, 0; local $/; my $t = <$fh>; return $t // '';
}
sub crashes { my $t = shift; my @c = $t =~ /(exit signal|Segmentation fault|AH00052|AH00060)/g; return scalar @c }
sub children {
    my $ppid = do { open my $fh, '<', "$run/httpd.pid" or return ''; local $/; my $p = <$fh>; $p =~ s/\s//g; $p };
    my @pids = grep { /^\d+$/ } split ' ', `ps -o pid= --ppid $ppid`;
    return join ',', sort { $a <=> $b } @pids;
}

# ---- setup: an editor with an access token ----
my $editor = enroll("$tag-editor");
my $token = login_token($editor);
my $r;
my %auth = (Authorization => "Bearer $token");
my $log0 = log_size();

# Runs 4 client processes, each calling $step->($ua, $out, $worker, $i) in a loop and logging
# to "$tmp.$prefix$worker", until the returned function is called (which waits for them).
sub start_load {
    my ($prefix, $step) = @_;
    my $stopfile = "$tmp.stop";
    unlink $stopfile;
    my @w;
    for my $wk (1 .. 4) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $ua = ua();
            open my $out, '>', "$tmp.$prefix$wk" or die $!;
            $out->autoflush(1);
            my $i = 0;
            $step->($ua, $out, $wk, $i++) until -e $stopfile;
            close $out;
            POSIX::_exit(0);
        }
        push @w, $pid;
    }
    return sub {
        open my $sf, '>', $stopfile; close $sf;
        waitpid($_, 0) for @w;
        unlink $stopfile;
    };
}

# ---- (a) database outage under steady write load ----
print "# (a) database outage under write load: 4 writers; MariaDB stopped 10 s, then 5 s more load\n";
{
    my $stop_load = start_load('w', sub {
        my ($ua, $out, $wk, $i) = @_;
        my $name = "$tag-load-$wk-$i";
        my $req = HTTP::Request->new(POST => "$base/products");
        $req->header(%auth, 'Content-Type' => 'application/json');
        $req->content($JSON->encode({name => $name, price => 1.25}));
        my $t0 = time;
        my $res = $ua->request($req);
        my $dt = time - $t0;
        printf $out "%s\t%d\t%.3f\t%s\t%s\t%s\t%.3f\n", $name, $res->code, $dt,
            $res->header('Content-Type') // '-', $res->header('Retry-After') // '-',
            ($res->header('Client-Warning') // '') =~ /Internal/ ? 'client' : 'server', $t0;
        sleep 0.02;
    });
    my $kids_before = children();
    sleep 3;
    my $t_stop = time;
    ok(db_ctl('stop'), 'MariaDB stopped under load');
    my $t_stopped = time;
    sleep 10;
    my $t_start = time;
    ok(db_ctl('start'), 'MariaDB started again');
    my $t_started = time;
    sleep 5;
    $stop_load->();
    my $kids_after = children();

    my (@rows);
    for my $wk (1 .. 4) {
        open my $in, '<', "$tmp.w$wk" or die $!;
        push @rows, map { chomp; [split /\t/] } <$in>;
        close $in; unlink "$tmp.w$wk";
    }
    my $codes = tally(map { $_->[1] } @rows);
    my @outage = grep { $_->[6] >= $t_stopped && $_->[6] + $_->[2] <= $t_start } @rows;
    my $maxdt = 0; $maxdt = $_->[2] > $maxdt ? $_->[2] : $maxdt for @rows;
    my @bad503 = grep { $_->[1] == 503 && ($_->[3] !~ m{^application/problem\+json} || $_->[4] eq '-') } @rows;
    my @other = grep { $_->[1] != 201 && $_->[1] != 503 } @rows;
    my %created = map { $_->[0] => 1 } grep { $_->[1] == 201 } @rows;
    my %stored = map { $_ => 1 } db_names("$tag-load-%");
    my @lost = grep { !$stored{$_} } keys %created;
    my @phantom = grep { !$created{$_} } keys %stored;
    my @after = grep { $_->[6] >= $t_started } @rows;
    my $first_ok = (grep { $_->[1] == 201 } @after)[0];
    my @tail = grep { $_->[6] >= $t_started + 2 } @rows;
    printf "# %d requests: %s; %d sent during the outage; slowest answer %.2f s\n",
        scalar @rows, show($codes), scalar @outage, $maxdt;
    ok(@outage > 20, 'load kept on during the outage (' . scalar(@outage) . ' requests)');
    ok(!grep({ $_->[1] != 503 } @outage), 'every request during the outage got 503');
    ok(!@bad503, '... each as problem+json with Retry-After (' . scalar(@bad503) . ' without)');
    ok(!@other, 'no status other than 201 and 503 (' . join(' ', map { "$_->[1]" } @other) . ')');
    ok($maxdt < 5, sprintf('no request waited 5 s or more (slowest %.2f s)', $maxdt));
    ok($first_ok, sprintf('writes resume without restarting httpd (first 201 %.1f s after MariaDB answered)',
                          $first_ok ? $first_ok->[6] - $t_started : -1));
    ok(@tail && !grep({ $_->[1] != 201 } @tail), 'every create 2 s after the restart succeeds');
    ok(!@lost, 'every create answered 201 is in the table (' . scalar(@lost) . ' missing)');
    ok(!@phantom, 'no product exists whose create was not answered 201 (' . scalar(@phantom) . ': '
       . join(' ', @phantom[0 .. ($#phantom < 4 ? $#phantom : 4)]) . ')');
    ok($kids_before eq $kids_after, "no child restarted (children $kids_before / $kids_after)");
    ok(!crashes(log_since($log0)), 'no crash in the error log');
    $fig{outage} = sprintf '%d requests (%d during the 10 s outage, all 503, slowest %.2f s), %d x 201 all stored, '
        . '%d lost, %d phantom writes', scalar @rows, scalar @outage, $maxdt, scalar keys %created,
        scalar @lost, scalar @phantom;
}

# ---- (b) graceful restarts under load ----
print "# (b) apachectl -k graceful x3 under load (GET /products, POST /products, GET /health)\n";
{
    my $stop_load = start_load('g', sub {
        my ($ua, $out, $wk, $i) = @_;
        my $req;
        my $k = $i % 3;
        if ($k == 0) { $req = HTTP::Request->new(GET => "$base/products?limit=5"); $req->header(%auth) }
        elsif ($k == 1) {
            $req = HTTP::Request->new(POST => "$base/products");
            $req->header(%auth, 'Content-Type' => 'application/json');
            $req->content($JSON->encode({name => "$tag-graceful-$wk-$i", price => 2}));
        }
        else { $req = HTTP::Request->new(GET => "$base/health") }
        my $res = $ua->request($req);
        printf $out "%s %d %s\n", $req->method, $res->code, $res->code >= 300 ? $res->message : '';
    });
    sleep 1;
    my $log1 = log_size();
    my $gr = 0;
    for (1 .. 3) {
        $gr++ if system("$ENV{HTTPD_CTL} -k graceful") == 0;
        sleep 2;
    }
    $stop_load->();
    my @lines;
    for my $wk (1 .. 4) {
        open my $in, '<', "$tmp.g$wk" or die $!;
        push @lines, <$in>; close $in; unlink "$tmp.g$wk";
    }
    my @fails = grep { !/ (200|201) $/ } @lines;
    print "# $_" for @fails[0 .. ($#fails < 4 ? $#fails : 4)];
    ok($gr == 3, 'three graceful restarts');
    my $restarts = () = log_since($log1) =~ /AH00493/g;
    ok($restarts >= 3, "httpd logged $restarts graceful restarts");
    ok(@lines > 30 && !@fails, scalar(@lines) . ' requests across the restarts, ' . scalar(@fails) . ' failed');
    my $me = api(GET => '/me', undef, %auth);
    ok($me->code == 200, 'the token issued before the restarts still works (GET /me ' . $me->code . ')');
    ok(!crashes(log_since($log1)), 'no crash in the error log');
    $fig{graceful} = sprintf '%d requests across 3 graceful restarts, %d failed', scalar @lines, scalar @fails;
}

# ---- (c) concurrency ----
print "# (c) races\n";
{
    my $name = "$tag-race";
    my @out = in_parallel(50, sub {
        api(POST => '/register', {username => $name, password => "correct horse battery staple $_[0]"})->code
    });
    my $c = tally(@out);
    ok(($c->{201} // 0) == 1 && ($c->{409} // 0) == 49, "50 registrations of one username: " . show($c));
    $fig{register} = show($c);

    $r = api(POST => '/products', {name => "$tag-etag", price => 5}, %auth);
    my $id = json_of($r)->{id};
    my $etag = $r->header('ETag');
    @out = in_parallel(20, sub {
        api(PUT => "/products/$id", {quantity => $_[0]}, %auth, 'If-Match' => $etag)->code
    });
    $c = tally(@out);
    ok(($c->{200} // 0) == 1 && ($c->{412} // 0) == 19, "20 If-Match updates with one ETag: " . show($c));
    $fig{ifmatch} = show($c);

    my $u = enroll("$tag-login");
    my $code = next_code($u);
    @out = in_parallel(50, sub {
        api(POST => '/login', {username => $u->{username}, password => $u->{password}, code => $code})->code
    });
    $c = tally(@out);
    ok(($c->{200} // 0) == 1 && !grep({ $_ != 200 && $_ != 401 && $_ != 429 } @out),
       "50 logins with one valid code: " . show($c));
    $fig{login} = show($c);
}

# ---- (d) slow and hostile clients ----
print "# (d) slow and hostile clients\n";
sub raw {    # sends bytes on a fresh connection; returns (status, seconds until the answer/close)
    my ($bytes, $wait) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Timeout => 5) or die "connect: $!";
    my $t0 = time;
    print $s $bytes;
    my $sel = IO::Select->new($s);
    my $buf = '';
    while ($sel->can_read($wait)) {
        my $n = sysread $s, $buf, 65536, length $buf;
        last unless $n;
    }
    my ($st) = $buf =~ m{^HTTP/1\.\d (\d{3})};
    return ($st // 0, time - $t0, $buf);
}
{
    my $log2 = log_size();
    # bodies that never finish: the server cuts them off and keeps serving others meanwhile
    my @slow;
    for (1 .. 10) {
        my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port) or die "connect: $!";
        print $s "POST /register HTTP/1.1\r\nHost: $host\r\nContent-Type: application/json\r\n"
            . "Content-Length: 100\r\n\r\n{\"username\"";
        push @slow, $s;
    }
    my $t0 = time;
    my $h = api(GET => '/health');
    my $dt = time - $t0;
    ok($h->code == 200 && $dt < 1, sprintf('other clients are served while 10 bodies stall (%.2f s)', $dt));
    my ($closed, $maxwait, %st) = (0, 0);
    my $sel = IO::Select->new(@slow);
    my %buf;
    while ($sel->count && time - $t0 < 20) {
        for my $s ($sel->can_read(1)) {
            my $n = sysread $s, $buf{$s}, 65536, length($buf{$s} // '');
            if (!$n) {
                $sel->remove($s); $closed++; $maxwait = time - $t0;
                my ($code) = ($buf{$s} // '') =~ m{^HTTP/1\.\d (\d{3})};
                $st{$code // 'none'}++;
            }
        }
    }
    ok($closed == 10 && $maxwait < 10, sprintf('the stalled bodies are cut off after %.1f s (%s)', $maxwait, show(\%st)));
    ok(!grep({ /^5/ } keys %st), 'none of them with a 5xx');
    $fig{slow} = sprintf '10 stalled bodies cut off within %.1f s (%s); others served in %.2f s', $maxwait, show(\%st), $dt;

    # a 1 GB Content-Length: 413 at once, without reading it
    my ($st, $secs) = raw("POST /register HTTP/1.1\r\nHost: $host\r\nContent-Type: application/json\r\n"
                          . "Content-Length: 1073741824\r\n\r\n{\"username\":", 5);
    ok($st == 413 && $secs < 2, sprintf('1 GB Content-Length: %s in %.2f s', $st, $secs));
    ($st, $secs) = raw("POST /products HTTP/1.1\r\nHost: $host\r\nAuthorization: Bearer $token\r\n"
                       . "Content-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{", 5);
    ok($st == 413 && $secs < 2, sprintf('1 TB Content-Length on /products: %s in %.2f s', $st, $secs));
    $fig{huge} = "413 in " . sprintf('%.2f s', $secs);

    my @cases = (
        ['100000-deep arrays', '[' x 100000 . ']' x 100000, 400],
        ['100000-deep arrays, unterminated', '[' x 100000, 400],
        ['50000-deep objects', '{"a":' x 50000 . '1' . '}' x 50000, 400],
        ['10,000-key object', '{' . join(',', map { "\"k$_\":$_" } 1 .. 10000) . '}', 400],
        ['invalid UTF-8 byte', qq({"name":"a\xffb","price":1}), 400],
        ['overlong encoding of /', qq({"name":"a\xc0\xafb","price":1}), 400],
        ['overlong NUL', qq({"name":"a\xc0\x80b","price":1}), 400],
        ['UTF-16 surrogate in UTF-8', qq({"name":"a\xed\xa0\x80b","price":1}), 400],
        ['code point above U+10FFFF', qq({"name":"a\xf4\x90\x80\x80b","price":1}), 400],
        ['truncated sequence', qq({"name":"a\xe2\x82","price":1}), 400],
        ['escaped NUL', '{"name":"a\u0000b","price":1}', 400],
        ['raw NUL', qq({"name":"a\x00b","price":1}), 400],
        ['lone escaped surrogate', '{"name":"a\ud800b","price":1}', 400],
        ['NUL in a key', '{"na\u0000me":"x","price":1}', 400],
        ['duplicate key', '{"name":"x","name":"y","price":1}', 400],
        ['top-level array', '[{"name":"x","price":1}]', 400],
        ['huge number', '{"name":"x","price":1e999999}', 400],
        ['long digits', '{"name":"x","price":' . ('9' x 100000) . '}', 400],
    );
    my $slowest = 0;
    for my $case (@cases) {
        my ($what, $body, $want) = @$case;
        for my $path ('/products', '/register') {
            my $t = time;
            my $res = api(POST => $path, $body, %auth);
            my $d = time - $t;
            $slowest = $d if $d > $slowest;
            ok($res->code == $want && ($res->header('Content-Type') // '') =~ m{problem\+json} && $d < 2,
               sprintf('%s on %s: %d in %.2f s', $what, $path, $res->code, $d));
        }
    }
    ok(api(GET => '/health')->code == 200, 'the server still answers');
    ok(!crashes(log_since($log2)), 'no crash in the error log');
    $fig{hostile} = sprintf '%d malformed bodies x 2 routes all 400, slowest %.2f s', scalar @cases, $slowest;
}

print "# ---- summary\n";
printf "# %-10s %s\n", $_, $fig{$_} for qw(outage graceful register ifmatch login slow huge hostile);
printf "# check-faults: %d passed, %d failed\n", $passed, $failed;
exit($failed ? 1 : 0);
