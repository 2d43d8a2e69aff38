# prefixes.t — nothing under a protected prefix (API.md §8) is reachable without a valid token,
# whatever serves it and for every method: a static file and a CGI under /products, /me,
# /logout, /password and /users, at both mounts of the test server, which run the shipped access
# rules as they are (conf/secauth-access.conf at /, conf/secauth.conf's at /api). With httpd's
# default AuthMerging Off, a <LimitExcept GET HEAD> inside <Location "/products"> would replace
# the bearer requirement for GET and HEAD. Also: TRACE on the API's routes is 405 whatever
# TraceEnable says (the test server leaves it on), and never echoes the Authorization header.
use strict;
use warnings;
use Test::More;
use Apache::Test ();
use File::Copy qw(copy);
use File::Path qw(make_path);
use SecAuthTest;

my $htdocs = Apache::Test::vars('documentroot');
my @prefixes = qw(products me logout password users);
my @mounts = ('', '/api');

# the content: a file and a CGI under each prefix of each mount
for my $mount (@mounts) {
    for my $p (@prefixes) {
        my $dir = "$htdocs$mount/$p";
        make_path("$dir/docs", "$dir/cgi");
        open(my $fh, '>', "$dir/docs/roadmap.txt") or die "$dir/docs/roadmap.txt: $!";
        print $fh "roadmap of $mount/$p\n";
        close $fh;
        copy("$htdocs/cgi-bin/env.cgi", "$dir/cgi/env.cgi") or die "env.cgi: $!";
        chmod 0755, "$dir/cgi/env.cgi";
    }
}

my $editor = make_user('editor');
my $viewer = make_user('viewer');
my $admin = make_user('admin');
my %token = (editor => mint_token($editor), viewer => mint_token($viewer),
             admin => mint_token($admin));
my $bogus = mint_token($editor, key => 'not the key of this server, at least 32 bytes long');

sub bearer { return (Authorization => "Bearer $_[0]") }

for my $mount (@mounts) {
    for my $p (@prefixes) {
        for my $what (['docs/roadmap.txt', 'static file'], ['cgi/env.cgi', 'CGI']) {
            my ($rel, $kind) = @$what;
            my $path = "$mount/$p/$rel";
            for my $method (qw(GET HEAD POST PUT DELETE PATCH OPTIONS)) {
                my $res = api($method => $path);
                is($res->code, 401, "$method $path ($kind) without a token → 401");
                is($res->header('WWW-Authenticate'), 'Bearer realm="secauth"',
                   "$method $path: the bearer challenge");
                unlike($res->content, qr/roadmap of|REMOTE_USER/, "$method $path: no content");
                $res = api($method => $path, undef, bearer($bogus));
                is($res->code, 401, "$method $path ($kind) with a forged token → 401");
                like($res->header('WWW-Authenticate') // '', qr/error="invalid_token"/,
                     "$method $path: invalid_token");
                unlike($res->content, qr/roadmap of|REMOTE_USER/, "$method $path: no content");
            }
            # with a token that the location's rules accept, the content is served as usual
            my $who = $p eq 'users' ? 'admin' : 'editor';
            my $res = api(GET => $path, undef, bearer($token{$who}));
            is($res->code, 200, "GET $path with a $who token → 200");
            if ($kind eq 'CGI') {
                like($res->content, qr/^SECAUTH_ROLE=$who$/m, "GET $path: the CGI sees the caller");
            }
            else {
                is($res->content, "roadmap of $mount/$p\n", "GET $path: the file");
            }
            $res = api(HEAD => $path, undef, bearer($token{$who}));
            is($res->code, 200, "HEAD $path with a $who token → 200");
        }
    }
    # the role rules still hold for content that is not the API
    my $res = api(GET => "$mount/users/docs/roadmap.txt", undef, bearer($token{editor}));
    is($res->code, 403, "GET $mount/users/docs/roadmap.txt as an editor → 403");
    $res = api(POST => "$mount/products/cgi/env.cgi", '', bearer($token{viewer}));
    is($res->code, 403, "POST $mount/products/cgi/env.cgi as a viewer → 403");
    $res = api(GET => "$mount/products/docs/roadmap.txt", undef, bearer($token{viewer}));
    is($res->code, 200, "GET $mount/products/docs/roadmap.txt as a viewer → 200");
    $res = api(POST => "$mount/products/cgi/env.cgi", '', bearer($token{editor}));
    is($res->code, 200, "POST $mount/products/cgi/env.cgi as an editor → 200");
}

# TRACE on the API's routes: 405 with the route's Allow, problem+json, no echo
for my $case (['/health', 'GET, HEAD'], ['/products', 'GET, HEAD, POST'],
              ['/api/products/7', 'GET, HEAD, PUT, PATCH, DELETE'], ['/api/login', 'POST'],
              ['/me', 'GET, HEAD']) {
    my ($path, $allow) = @$case;
    my $res = api(TRACE => $path, undef, bearer($token{editor}), Cookie => 'session=abc123');
    my $body = is_problem($res, 405, "TRACE $path");
    ok($body, "TRACE $path → 405 problem+json");
    is($res->header('Allow'), $allow, "TRACE $path: Allow");
    is($body && $body->{detail}, 'TRACE is not allowed here', "TRACE $path: detail");
    unlike($res->content, qr/\Q$token{editor}\E|abc123|message\/http/, "TRACE $path: nothing echoed");
    isnt($res->header('Content-Type') // '', 'message/http', "TRACE $path: not an echo");
}

done_testing();
