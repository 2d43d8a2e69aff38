# cache.t — the per-node state cache and its change feed (API.md §12): a second httpd node on
# the same database refuses a token within SecAuthStateRefresh (100 ms) plus one poll after a
# logout, disable, role change or password change made through the first node, or a direct
# SQL UPDATE; serves a product written on the first node fresh within the same bound (and the
# first node at once); answers If-None-Match with 304; and, once the database is stopped, stops
# answering from its cache within SecAuthStateMaxStale (MariaDB run only).
use strict;
use warnings;
use Test::More;
use Apache::Test ();
use HTTP::Request;
use JSON::PP ();
use LWP::UserAgent;
use Time::HiRes qw(time sleep);
use SecAuthTest;
use SecAuthServer;

plan tests => 32;

# what one node may lag behind another: SecAuthStateRefresh (100 ms) plus one poll, the time
# mod_watchdog takes to come round again (its 100 ms tick) and the poll itself; with the suite
# and other builds sharing two cores, a poll (SQLite waits for writers in 100 ms steps) and the
# probing request take longer now and then: 95 trials of 100 within 300 ms, every one within 1 s
# (the figures printed are the measured ones)
use constant BOUND => 0.300;
use constant WORST_BOUND => 1.0;
use constant MAX_STALE => 1.0;

my $node_b = SecAuthServer->start(driver => $ENV{SECAUTH_DBD_DRIVER},
                                  params => $ENV{SECAUTH_DBD_PARAMS}, mpm => 'event',
                                  port => 32000 + $$ % 900);
my $ua = LWP::UserAgent->new(keep_alive => 1, timeout => 10);
my $JSON = JSON::PP->new->canonical;

sub on_b {
    my ($method, $path, $token, $body, %headers) = @_;
    my $req = HTTP::Request->new($method => $node_b->url($path));
    $req->header(Authorization => "Bearer $token") if $token;
    $req->header($_ => $headers{$_}) for keys %headers;
    if ($body) {
        $req->content($JSON->encode($body));
        $req->header('Content-Type' => 'application/json');
    }
    return $ua->request($req);
}
sub bearer { return (Authorization => "Bearer $_[0]") }

# Waits until node B's answer to probe() satisfies done(); the seconds since t0, or undef after
# 3 s. The first probe runs at once: a change that already holds counts as 0.
sub delay_until {
    my ($t0, $probe, $done) = @_;
    while (time - $t0 < 3) {
        my $res = $probe->();
        return time - $t0 if $done->($res);
    }
    return undef;
}

# the feed is read: node B answers from its cache (a warm read twice gives the same answer)
ok($node_b->wait_log(qr/resuming normal operations/, 10), 'node B started');
sleep 0.5;

# accounts made in one statement (no event: a new row changes no cached state)
sub make_users {
    my ($role, $n) = @_;
    my @names = map { unique_name("c$role") } 1 .. $n;
    db_rows("INSERT INTO users (username, password, role, twofa_confirmed) VALUES "
            . join(', ', map { "('$_', 'not-a-password-hash', '$role', 1)" } @names));
    my %id = map { $_->[1] => $_->[0] }
             db_rows("SELECT id, username FROM users WHERE username IN ("
                     . join(', ', map { "'$_'" } @names) . ')');
    return map { {id => $id{$_}, username => $_, role => $role} } @names;
}

my $admin = make_user('admin');
my $admin_tok = mint_token($admin);
my %worst;
my @all;
sub record {
    my ($kind, $delay) = @_;
    $delay //= 99;
    push @all, $delay;
    $worst{$kind} = $delay if !defined $worst{$kind} || $delay > $worst{$kind};
}
sub refused { my $code = shift; sub { $_[0]->code == $code } }

# -- logout through A: 30 trials --
for my $user (make_users('editor', 30)) {
    my $tok = mint_token($user);
    on_b(GET => '/products?limit=1', $tok)->code == 200 or diag('logout: B refused a fresh token');
    my $res = api(POST => '/logout', undef, bearer($tok));
    my $t0 = time;
    $res->code == 204 or diag('logout: ' . $res->code);
    record(logout => delay_until($t0, sub { on_b(GET => '/products?limit=1', $tok) }, refused(401)));
}

# -- disable through A: 15 trials --
for my $user (make_users('editor', 15)) {
    my $tok = mint_token($user);
    on_b(GET => '/products?limit=1', $tok);
    my $res = api(PATCH => "/users/$user->{id}", {disabled => JSON::PP::true}, bearer($admin_tok));
    my $t0 = time;
    $res->code == 200 or diag('disable: ' . $res->code);
    record(disable => delay_until($t0, sub { on_b(GET => '/products?limit=1', $tok) }, refused(401)));
}

# -- role change through A (admin → viewer loses GET /users): 15 trials --
for my $user (make_users('admin', 15)) {
    my $tok = mint_token($user);
    on_b(GET => '/users?limit=1', $tok)->code == 200 or diag('role: B refused an admin');
    my $res = api(PATCH => "/users/$user->{id}", {role => 'viewer'}, bearer($admin_tok));
    my $t0 = time;
    $res->code == 200 or diag('role: ' . $res->code);
    record(role => delay_until($t0, sub { on_b(GET => '/users?limit=1', $tok) }, refused(403)));
}

# -- direct SQL on the database: 15 trials --
for my $user (make_users('editor', 15)) {
    my $tok = mint_token($user);
    on_b(GET => '/products?limit=1', $tok);
    db_rows("UPDATE users SET disabled = 1 WHERE id = $user->{id}");
    my $t0 = time;
    record('direct SQL' => delay_until($t0, sub { on_b(GET => '/products?limit=1', $tok) },
                                      refused(401)));
}

# -- product writes through A: 15 trials; node A itself is fresh at once --
my $editor = make_user('editor');
my $editor_tok = mint_token($editor);
my $created = api(POST => '/products', {name => 'cached 0', price => 1}, bearer($editor_tok));
is($created->code, 201, 'a product to write to');
my $pid = (json_of($created) || {})->{id} // 0;
my $stale_on_a = 0;
for my $n (1 .. 15) {
    on_b(GET => "/products/$pid", $editor_tok);
    on_b(GET => '/products?limit=1000', $editor_tok);
    api(GET => "/products/$pid", undef, bearer($editor_tok));
    my $res = api(PUT => "/products/$pid", {name => "cached $n"}, bearer($editor_tok));
    my $t0 = time;
    $res->code == 200 or diag('product write: ' . $res->code);
    for (1 .. 5) {
        my $a = json_of(api(GET => "/products/$pid", undef, bearer($editor_tok))) || {};
        $stale_on_a++ unless ($a->{name} // '') eq "cached $n";
    }
    record(product => delay_until($t0, sub { on_b(GET => "/products/$pid", $editor_tok) },
                                  sub { ((json_of($_[0]) || {})->{name} // '') eq "cached $n" }));
}
is($stale_on_a, 0, 'node A serves every write at once (75 reads right after 15 writes)');
my $list = json_of(on_b(GET => '/products?limit=1000', $editor_tok)) || [];
my ($in_list) = grep { $_->{id} == $pid } @$list;
is($in_list && $in_list->{name}, 'cached 15', 'node B lists the last write too');

# -- password change through A: 10 trials (each a fresh account: a TOTP code works once) --
for (1 .. 10) {
    my $p = enroll();
    my $caller = mint_token($p, claims => {iat => time - 2, nbf => time - 2});
    my $other = mint_token($p, claims => {iat => time - 2, nbf => time - 2});
    on_b(GET => '/products?limit=1', $other);
    my $res = api(POST => '/password', {current_password => $p->{password},
                                        new_password => strong_password(),
                                        code => totp_code($p->{secret}, ($p->{step} + 1) * 30 + 1)},
                  bearer($caller));
    my $t0 = time;
    $res->code == 204 or diag('password: ' . $res->code . ' ' . $res->content);
    record(password => delay_until($t0, sub { on_b(GET => '/products?limit=1', $other) },
                                   refused(401)));
}

is(scalar @all, 100, '100 trials');
my ($worst) = sort { $b <=> $a } @all;
diag(sprintf('cross-node delay, worst of %d trials: %.0f ms (%s)', scalar @all, $worst * 1000,
             join(', ', map { sprintf('%s %.0f ms', $_, $worst{$_} * 1000) } sort keys %worst)));
my @sorted = sort { $a <=> $b } @all;
cmp_ok($sorted[94], '<=', BOUND, '95 of 100 trials hold on node B within 300 ms');
for my $kind ('logout', 'disable', 'role', 'direct SQL', 'product', 'password') {
    cmp_ok($worst{$kind} // 99, '<=', WORST_BOUND,
           "$kind through the other node holds on node B (worst trial)");
}

# -- node A: a change through A holds at once on every child (no wait at all) --
my @at_once;
for my $user (make_users('editor', 10)) {
    my $tok = mint_token($user);
    api(GET => '/products?limit=1', undef, bearer($tok)) for 1 .. 4;
    api(POST => '/logout', undef, bearer($tok));
    push @at_once, map { api(GET => '/products?limit=1', undef, bearer($tok))->code } 1 .. 4;
}
is_deeply([sort { $a <=> $b } keys %{{map { $_ => 1 } @at_once}}], [401],
          'node A refuses a token right after its logout (40 requests over its children)');

# -- the cache answers: the same answers as the database, ETags and 304 --
my $res = on_b(GET => "/products/$pid", $editor_tok);
my $etag = $res->header('ETag');
is($res->code, 200, 'GET /products/{id} on B');
like($etag // '', qr/^"$pid-\d+"$/, '  with the product ETag');
is($res->header('Cache-Control'), 'no-store', '  and Cache-Control: no-store');
$res = on_b(GET => "/products/$pid", $editor_tok, undef, 'If-None-Match' => $etag);
is($res->code, 304, 'If-None-Match with the current ETag: 304');
is($res->header('ETag'), $etag, '  carrying the ETag');
is($res->content, '', '  and no body');
$res = on_b(GET => "/products/$pid", $editor_tok, undef, 'If-None-Match' => '"0-0"');
is($res->code, 200, 'If-None-Match with another ETag: 200');
$res = api(GET => '/products?limit=2', undef, bearer($editor_tok));
my $list_etag = $res->header('ETag');
like($list_etag // '', qr/^"l-[0-9a-f]{32}"$/, 'a list page has a strong ETag');
$res = api(GET => '/products?limit=2', undef, bearer($editor_tok), 'If-None-Match' => $list_etag);
is($res->code, 304, 'the list page with If-None-Match: 304');
$res = api(POST => '/products', {name => 'changes page one?', price => 2}, bearer($editor_tok));
$res = api(GET => '/products?limit=1000', undef, bearer($editor_tok), 'If-None-Match' => $list_etag);
is($res->code, 200, 'another page (or a changed one) is not 304');
$res = on_b(GET => "/products/$pid", undef);
is($res->code, 401, 'no token on a cached product: still 401');
$res = on_b(GET => '/products/2147483647', $editor_tok);
is($res->code, 404, 'a missing product: 404 (not cached)');

# -- the feed is pruned and the events exist --
my ($events) = db_rows("SELECT COUNT(*) FROM auth_events WHERE user_id = $admin->{id} OR "
                       . "product_id = $pid");
cmp_ok($events->[0], '>=', 15, 'the triggers wrote the feed');
unlike($node_b->error_log, qr/SA81[13]/, 'node B read the feed without an error');

# -- fail closed: with the database stopped, B stops answering from its cache --
SKIP: {
    skip 'the database can be stopped only in the MariaDB run', 5 unless $ENV{SECAUTH_DB} eq 'mysql';
    my $tok = mint_token(make_user('editor'));
    is(on_b(GET => '/products?limit=1', $tok)->code, 200, 'a cached token on B');
    is(on_b(GET => '/products?limit=1', $tok)->code, 200, '  answered again');
    # B is probed while MariaDB shuts down: from the moment the stop is asked for, B may
    # answer from its cache for SecAuthStateMaxStale, then only 503
    my $t0 = time;
    my $stopper = fork // die "fork: $!";
    if (!$stopper) { exec("$ENV{SECAUTH_SRCDIR}/scripts/mariadb", 'stop', $ENV{SECAUTH_DB_DIR}) }
    # the database is down from B's first failed /health (a query of its own, never cached)
    my ($down, $last_ok, $first_refused);
    while (time - $t0 < 8 && !defined $first_refused) {
        $down //= time if on_b(GET => '/health')->code == 503;
        my $code = on_b(GET => '/products?limit=1', $tok)->code;
        $last_ok = time if $code == 200;
        $first_refused = time if $code == 503 && defined $down;
    }
    waitpid($stopper, 0);
    ok($? == 0, 'MariaDB stopped');
    $down //= 0;
    $last_ok //= $down;
    diag(sprintf('fail closed: after the database went down, the last cached 200 came %.0f ms '
                 . 'later, the first 503 %.0f ms later', ($last_ok - $down) * 1000,
                 (($first_refused // 99) - $down) * 1000));
    cmp_ok(($first_refused // 99) - $down, '<=', MAX_STALE + 0.3,
           'B answers 503 within SecAuthStateMaxStale of the outage');
    ok(db_ctl('start'), 'MariaDB started again');
    for (1 .. 40) { last if on_b(GET => '/health')->code == 200; sleep 0.25 }
}
$node_b->stop;
