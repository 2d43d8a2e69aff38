# shipped.t — the configurations users install, run as they are: the Debian package's
# secauth.conf (conf/secauth.conf, the API at /api; only the database and key paths replaced)
# in a minimal Debian-like httpd, and the development server of `make run` (scripts/run-dev).
# Each: no version or OS in the Server header (ServerTokens Prod), TRACE off (405, no echo),
# and nothing under a protected prefix served without a valid token, for any method.
use strict;
use warnings;
use Test::More;
use Apache::Test ();
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use LWP::UserAgent;
use Time::HiRes qw(sleep);
use SecAuthServer;
use SecAuthTest;

my $src = $ENV{SECAUTH_SRCDIR};
my $mods = $ENV{SECAUTH_MODDIR};
my $keys = $ENV{SECAUTH_KEYDIR};
my @prefixes = qw(products me logout password users);
my $ua = LWP::UserAgent->new(timeout => 10, max_redirect => 0);

sub request {
    my ($method, $url, %headers) = @_;
    my $req = HTTP::Request->new($method => $url);
    $req->header($_ => $headers{$_}) for keys %headers;
    $req->content('{}') if $method =~ /^(POST|PUT|PATCH)$/;
    $req->header('Content-Type' => 'application/json') if $method =~ /^(POST|PUT|PATCH)$/;
    return $ua->request($req);
}

sub slurp { open(my $fh, '<', $_[0]) or die "$_[0]: $!"; local $/; return <$fh> }

sub put_content {
    my ($htdocs, $mount) = @_;
    for my $p (@prefixes) {
        make_path("$htdocs$mount/$p/docs");
        open(my $fh, '>', "$htdocs$mount/$p/docs/roadmap.txt") or die $!;
        print $fh "roadmap of $p\n";
        close $fh;
    }
}

# The checks every shipped configuration must pass; base is the URL of the API's mount.
sub check_server {
    my ($name, $base) = @_;
    my $res = request(GET => "$base/health");
    is($res->code, 200, "$name: /health answers");
    is($res->header('Server'), 'Apache', "$name: Server header without version or OS");
    $res = request(TRACE => "$base/health", Authorization => 'Bearer abc.def.ghi');
    is($res->code, 405, "$name: TRACE on a route → 405");
    unlike($res->content, qr/abc\.def\.ghi/, "$name: TRACE echoes nothing");
    $res = request(TRACE => "$base/products/docs/roadmap.txt", Authorization => 'Bearer abc.def.ghi');
    is($res->code, 405, "$name: TRACE on content → 405 (TraceEnable off)");
    unlike($res->content, qr/abc\.def\.ghi/, "$name: TRACE on content echoes nothing");
    for my $p (@prefixes) {
        for my $method (qw(GET HEAD POST PUT DELETE)) {
            my $r = request($method => "$base/$p/docs/roadmap.txt");
            is($r->code, 401, "$name: $method $p/docs/roadmap.txt without a token → 401");
            unlike($r->content, qr/roadmap of/, "$name: $method $p/docs/roadmap.txt: no content");
            $r = request($method => "$base/$p/docs/roadmap.txt", Authorization => 'Bearer not.a.token');
            is($r->code, 401, "$name: $method $p/docs/roadmap.txt with a bogus token → 401");
        }
    }
}

# --- the Debian package's configuration ---
{
    my $shipped = slurp("$src/conf/secauth.conf");
    my $server = SecAuthServer->start(config => sub {
        my ($dir, $port) = @_;
        copy("$keys/hs-current.key", "$dir/jwt.key") or die $!;
        copy("$keys/totp.key", "$dir/totp.key") or die $!;
        chmod 0600, "$dir/jwt.key", "$dir/totp.key";
        system('sqlite3', "$dir/secauth.db", '.read ' . "$src/sql/sqlite/schema.sql") == 0 or die 'sqlite3';
        (my $conf = $shipped) =~ s/^(\s*)DBDriver mysql$/${1}DBDriver sqlite3/m;
        $conf =~ s/^(\s*)DBDParams .*$/${1}DBDParams "$dir\/secauth.db"/m;
        $conf =~ s{/etc/apache2/secauth/}{$dir/}g;
        make_path("$dir/mods-available");
        copy("$src/conf/secauth-account.conf", "$dir/mods-available/secauth-account.conf") or die $!;
        open(my $fh, '>', "$dir/secauth.conf") or die $!;
        print $fh $conf;
        close $fh;
        put_content("$dir/htdocs", '/api');
        return SecAuthServer::preamble($dir, $port) . <<"CONF";
LoadModule mpm_event_module "$mods/mod_mpm_event.so"
LoadModule authn_core_module "$mods/mod_authn_core.so"
LoadModule authz_core_module "$mods/mod_authz_core.so"
LoadModule authz_host_module "$mods/mod_authz_host.so"
LoadModule authz_user_module "$mods/mod_authz_user.so"
LoadModule mime_module "$mods/mod_mime.so"
LoadModule dbd_module "$mods/mod_dbd.so"
LoadModule socache_shmcb_module "$mods/mod_socache_shmcb.so"
LoadModule alias_module "$mods/mod_alias.so"
LoadModule dir_module "$mods/mod_dir.so"
LoadModule headers_module "$mods/mod_headers.so"
LoadModule secauth_module "$ENV{SECAUTH_MODULE_SO}"
TypesConfig /etc/mime.types
DocumentRoot "$dir/htdocs"
Include "$dir/secauth.conf"
SecAuthCommonPasswords "$src/data/common-passwords.txt"
CONF
    });
    check_server('Debian secauth.conf', $server->url('/api'));
    $server->stop;
}

# --- the development server (make run) ---
{
    my $run = tempdir(CLEANUP => 1);
    my $port = SecAuthServer::free_port();
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open(STDOUT, '>', "$run.log"); open(STDERR, '>&', \*STDOUT);
        exec('env', "RUN_DIR=$run", "PORT=$port", 'DB=sqlite', "MODULE_SO=$ENV{SECAUTH_MODULE_SO}",
             "HTTPD=$ENV{SECAUTH_HTTPD}", "$src/scripts/run-dev") or exit 127;
    }
    my $up = 0;
    for (1 .. 100) {
        last if ($up = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)) && -s "$run/httpd.pid";
        sleep 0.1;
    }
    ok($up, 'the development server starts') or diag(eval { slurp("$run.log") });
    put_content("$run/htdocs", '');
    check_server('development server', "http://127.0.0.1:$port");
    kill 'TERM', $pid;
    waitpid($pid, 0);
    unlink "$run.log";
}

done_testing();
