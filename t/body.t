# body.t — the request-body rules of API.md §1 on the two open routes that take a body,
# POST /register and POST /login: content type (415), size limit with Content-Length and with
# chunked transfer (413, answered without reading past the limit), empty, malformed, duplicate
# keys, invalid UTF-8, NUL, top level not an object, unknown fields, wrong types (400).
use strict;
use warnings;
use Apache::Test ();
use Apache::TestRequest ();
use Test::More;
use IO::Socket::INET;
use IO::Select;
use SecAuthTest;

my $MAX = 65536;   # SecAuthMaxBody default

# A raw HTTP/1.1 exchange: sends head (and body parts, pausing between them), returns the
# response (status, headers, body) read until the server closes or timeout seconds pass.
sub raw_request {
    my ($head, $parts, $timeout) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => Apache::TestRequest::hostport(), Timeout => 10)
        or die "connect: $!";
    $sock->autoflush(1);
    local $SIG{PIPE} = 'IGNORE';
    print $sock $head;
    for my $p (@{$parts // []}) {
        last unless print $sock $p;
    }
    my $sel = IO::Select->new($sock);
    my $data = '';
    my $deadline = time + ($timeout // 10);
    while (time < $deadline && $sel->can_read($deadline - time)) {
        my $n = sysread($sock, my $buf, 65536);
        last unless $n;
        $data .= $buf;
        last if $data =~ /\r\n\r\n/ && response_complete($data);
    }
    close $sock;
    my ($status) = $data =~ m{^HTTP/1\.\d (\d{3})};
    my ($headers, $body) = split /\r\n\r\n/, $data, 2;
    return ($status // 0, $headers // '', $body // '');
}

sub response_complete {
    my ($data) = @_;
    my ($headers, $body) = split /\r\n\r\n/, $data, 2;
    my ($len) = $headers =~ /^Content-Length:\s*(\d+)/mi;
    return defined $len && length($body // '') >= $len;
}

sub head_for {
    my ($path, %h) = @_;
    my $head = "POST $path HTTP/1.1\r\nHost: " . Apache::TestRequest::hostport() . "\r\n";
    $head .= "$_: $h{$_}\r\n" for sort keys %h;
    return "$head\r\n";
}

my %valid = (
    '/register' => sub { {username => unique_name('body'), password => strong_password()} },
    '/login'    => sub { {username => unique_name('nobody'), password => 'any password at all', code => '123456'} },
);
# what a body that passed every §1 rule gets from each route
my %passed = ('/register' => 201, '/login' => 401);

for my $path ('/register', '/login') {
    my $json = JSON::PP->new->canonical;
    my $good = $json->encode($valid{$path}->());

    # --- content type ---
    for my $ct (undef, 'text/plain', 'application/x-www-form-urlencoded', 'application/jsonx',
                'application/json; charset=latin1', 'application/json; charset=utf-16',
                'text/json', 'application/json-patch+json', 'multipart/form-data; boundary=x') {
        my $res = api(POST => $path, $good, 'Content-Type' => $ct);
        my $b = is_problem($res, 415, "$path ct " . ($ct // 'none'));
        ok($b, "$path: Content-Type " . ($ct // '(none)') . ' → 415');
        is($b && $b->{detail}, 'the body must be application/json (charset utf-8)', "$path: 415 says what is expected")
            if !defined $ct;
    }
    for my $ct ('application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8',
                'application/json; charset="utf-8"', 'Application/JSON') {
        my $res = api(POST => $path, $json->encode($valid{$path}->()), 'Content-Type' => $ct);
        is($res->code, $passed{$path}, "$path: Content-Type $ct is accepted");
    }
    # a form post is never read as credentials
    my $res = api(POST => $path, 'username=a&password=b', 'Content-Type' => 'application/x-www-form-urlencoded');
    ok(is_problem($res, 415, "$path form"), "$path: a form body is 415");

    # --- size ---
    my $body = $json->encode($valid{$path}->());
    my $exact = $body . (' ' x ($MAX - length $body));
    is(length $exact, $MAX, 'a body of exactly SecAuthMaxBody bytes');
    $res = api(POST => $path, $exact);
    is($res->code, $passed{$path}, "$path: exactly SecAuthMaxBody bytes is accepted");
    $res = api(POST => $path, $exact . ' ');
    my $b = is_problem($res, 413, "$path 413");
    ok($b, "$path: one byte over SecAuthMaxBody (Content-Length) → 413");
    is($b && $b->{detail}, "the body is larger than $MAX bytes", "$path: 413 detail");
    is($res->header('Cache-Control'), 'no-store', "$path: 413 not cached");

    # a huge Content-Length is refused before a byte of the body is sent
    my ($status, $headers, $rbody) = raw_request(head_for($path, 'Content-Type' => 'application/json',
                                                         'Content-Length' => 100_000_000), [], 10);
    is($status, 413, "$path: Content-Length of 100 MB → 413 without sending the body");
    like($headers, qr{^Content-Type: application/problem\+json}mi, "$path: 413 is problem+json");

    # chunked: refused once the limit is passed, without waiting for the rest
    my $chunk = ' ' x 16384;
    my @parts = ("1\r\n{\r\n");
    push @parts, sprintf("%x\r\n%s\r\n", length $chunk, $chunk) for 1 .. 5;   # 80 KiB, never finished
    ($status, $headers, $rbody) = raw_request(head_for($path, 'Content-Type' => 'application/json',
                                                         'Transfer-Encoding' => 'chunked'), \@parts, 10);
    is($status, 413, "$path: a chunked body over SecAuthMaxBody → 413 before it ends");
    like($rbody, qr/"status":413/, "$path: chunked 413 body is problem+json");
    # a small chunked body is read like any other
    my $small = $json->encode($valid{$path}->());
    ($status) = raw_request(head_for($path, 'Content-Type' => 'application/json', 'Transfer-Encoding' => 'chunked',
                                     'Connection' => 'close'),
                            [sprintf("%x\r\n%s\r\n0\r\n\r\n", length $small, $small)], 10);
    is($status, $passed{$path}, "$path: a small chunked body is accepted");

    # --- content ---
    my @bad = (
        ['', 'the request body is empty', 'an empty body'],
        ['{"username": "abc", "password": ', qr/^invalid JSON at line 1, column \d+: the body ends inside the JSON value$/, 'truncated JSON'],
        ["{'username': 'abc'}", qr/^invalid JSON/, 'single quotes'],
        ['{"username": "abc",}', qr/^invalid JSON/, 'a trailing comma'],
        ['{"username": "abc"} {}', qr/^invalid JSON at line 1, column \d+: there is more after the JSON value$/, 'two documents'],
        ['{"username": "abc", "username": "abd", "password": "long enough pass"}', qr/^invalid JSON at line 1, column \d+: a member name appears twice in one object \(duplicate key\)$/, 'duplicate keys'],
        [qq({"username": "ab\xffc", "password": "long enough pass"}), 'the body is not valid UTF-8', 'a 0xFF byte'],
        [qq({"username": "ab\xc0\xafc", "password": "long enough pass"}), 'the body is not valid UTF-8', 'an overlong encoding'],
        [qq({"username": "ab\xed\xa0\x80c", "password": "long enough pass"}), 'the body is not valid UTF-8', 'an encoded surrogate'],
        [qq({"username": "ab\xe9c", "password": "long enough pass"}), 'the body is not valid UTF-8', 'Latin-1 text'],
        ['{"username": "ab\u0000c", "password": "long enough pass"}', qr/^invalid JSON at line 1, column \d+: NUL characters are not allowed$/, 'an escaped NUL'],
        ['{"username\u0000": "abc", "password": "long enough pass"}', qr/^invalid JSON at line 1, column \d+: NUL characters are not allowed$/, 'an escaped NUL in a key'],
        ['{"quantity": 1' . ('0' x 40) . '}', qr/^invalid JSON at line 1, column \d+: a number is too large$/, 'an integer that overflows'],
        [qq({"username": "abc", "password": "long enough\0pass"}), qr/./, 'a raw NUL byte'],
        ['[]', 'the body must be a JSON object', 'a top-level array'],
        ['[{"username": "abc", "password": "long enough pass"}]', 'the body must be a JSON object', 'an object in an array'],
        ['"username"', 'the body must be a JSON object', 'a top-level string'],
        ['42', 'the body must be a JSON object', 'a top-level number'],
        ['null', 'the body must be a JSON object', 'top-level null'],
    );
    for my $case (@bad) {
        my ($text, $detail, $what) = @$case;
        $res = api(POST => $path, $text, 'Content-Type' => 'application/json');
        my $pb = is_problem($res, 400, "$path $what");
        ok($pb, "$path: $what → 400");
        if (ref $detail) {
            like($pb && $pb->{detail} // '', $detail, "$path: $what: detail");
        }
        else {
            is($pb && $pb->{detail}, $detail, "$path: $what: detail");
        }
        ok(!exists $pb->{errors}, "$path: $what: not a field error") if $pb;
        # the parser's internals (its option names, its own wording) never reach a client
        unlike($res->content, qr/JSON_|jansson|near '|wrong arguments|unexpected newline/,
               "$path: $what: no parser internals in the body");
    }

    # --- fields ---
    my %extra = (%{$valid{$path}->()}, role => 'admin');
    $res = api(POST => $path, \%extra);
    my $fe = is_problem($res, 400, "$path role");
    is_deeply($fe && $fe->{errors}, [{field => 'role', detail => 'is not a known field'}],
              "$path: an unknown field is 400 naming it");
    is($fe && $fe->{detail}, 'role is not a known field', "$path: the detail names it too");
    %extra = (%{$valid{$path}->()}, id => 7, is_admin => JSON::PP::true());
    $res = api(POST => $path, \%extra);
    $fe = is_problem($res, 400, "$path two unknown");
    is_deeply([sort map { $_->{field} } @{($fe && $fe->{errors}) || []}], [qw(id is_admin)],
              "$path: every unknown field is named");

    $res = api(POST => $path, {username => 5, password => JSON::PP::true()});
    $fe = is_problem($res, 400, "$path types");
    is_deeply($fe && $fe->{errors}, [{field => 'username', detail => 'must be a string'},
                                    {field => 'password', detail => 'must be a string'}],
              "$path: wrong types → 400 with one error per field");
    $res = api(POST => $path, {username => ['abc'], password => {p => 1}});
    $fe = is_problem($res, 400, "$path types 2");
    is(scalar @{($fe && $fe->{errors}) || []}, 2, "$path: arrays and objects are wrong types too");
    $res = api(POST => $path, {});
    $fe = is_problem($res, 400, "$path empty object");
    is_deeply($fe && $fe->{errors}, [{field => 'username', detail => 'is required'},
                                    {field => 'password', detail => 'is required'}],
              "$path: an empty object → 400, both fields required");
}

# login's own optional fields have types too
my $res = api(POST => '/login', {username => 'abc', password => 'x', recovery_code => 12345678});
is_deeply((is_problem($res, 400, 'rc type') || {})->{errors},
          [{field => 'recovery_code', detail => 'must be a string'}], '/login: recovery_code must be a string');
$res = api(POST => '/login', '{"username": "abc", "password": "x", "code": null}');
is_deeply((is_problem($res, 400, 'code null') || {})->{errors},
          [{field => 'code', detail => 'must be a string'}], '/login: code null is a wrong type');

# nothing rejected was stored
my $name = unique_name('nostore');
api(POST => '/register', qq({"username": "$name", "username": "$name", "password": "long enough password"}));
api(POST => '/register', {username => $name, password => 'long enough password', role => 'admin'});
api(POST => '/register', JSON::PP->new->encode({username => $name, password => 'long enough password'}),
    'Content-Type' => 'text/plain');
is_deeply([db_rows("SELECT COUNT(*) FROM users WHERE username = '$name'")], [[0]],
          'no rejected body created an account');

# the API's errors are JSON even for a method httpd itself would refuse with a body
$res = api(PUT => '/register', {username => 'abc'});
ok(is_problem($res, 405, 'PUT register'), 'PUT /register: 405 problem+json');
is($res->header('Allow'), 'POST', 'PUT /register: Allow POST');

done_testing();
