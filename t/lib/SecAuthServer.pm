# SecAuthServer.pm — a second httpd with mod_secauth, for tests that need a configuration of
# their own (SecAuthBootstrapAdmin, a database migrated from the Flask app): started and stopped
# by the test on a free loopback port, with its own error log, using the suite's keys.
package SecAuthServer;
use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use Time::HiRes qw(sleep);

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0,
                                  ReuseAddr => 1) or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# The lines every private httpd of the tests starts with: its root, address, pid file, log.
sub preamble {
    my ($dir, $port) = @_;
    return <<"CONF";
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
ErrorLog "$dir/error.log"
CONF
}

# SecAuthServer->start(driver => 'mysql'|'sqlite3', params => DBDParams, extra => config text,
# mpm => 'prefork' (default)|'worker'|'event', port => PORT (default: a free one)) → the
# running server, or dies with the error log.
# With config => sub { my ($dir, $port) = @_; ... } the sub returns the whole configuration.
sub start {
    my ($class, %opt) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $port = $opt{port} // free_port();
    my $mods = $ENV{SECAUTH_MODDIR};
    my $keys = $ENV{SECAUTH_KEYDIR};
    my $src = $ENV{SECAUTH_SRCDIR};
    my $self = bless {dir => $dir, port => $port, conf => "$dir/httpd.conf"}, $class;
    my $mpm = $opt{mpm} // 'prefork';
    my $processes = $mpm eq 'prefork'
        ? "MinSpareServers 1\nMaxSpareServers 2"
        : "ThreadsPerChild 8\nThreadLimit 8\nMaxRequestWorkers 16";

    open(my $c, '>', $self->{conf}) or die "$self->{conf}: $!";
    if ($opt{config}) {
        # a whole configuration of the caller's, given the directory and the port
        print $c $opt{config}->($dir, $port);
        close $c;
        return $self->_launch;
    }
    print $c preamble($dir, $port), <<"CONF";
LogLevel warn secauth:notice
LoadModule mpm_${mpm}_module "$mods/mod_mpm_$mpm.so"
StartServers 2
$processes
LoadModule authn_core_module "$mods/mod_authn_core.so"
LoadModule authz_core_module "$mods/mod_authz_core.so"
LoadModule authz_user_module "$mods/mod_authz_user.so"
LoadModule dbd_module "$mods/mod_dbd.so"
LoadModule socache_shmcb_module "$mods/mod_socache_shmcb.so"
LoadModule secauth_module "$ENV{SECAUTH_MODULE_SO}"
DBDriver $opt{driver}
DBDParams "$opt{params}"
DBDMin 0
DBDKeep 2
SecAuthJWTKey            "$keys/hs-current.key" current
SecAuthIssuer            https://secauth.test
SecAuthAudience          products-api
SecAuthEncryptionKeyFile "$keys/totp.key"
SecAuthCommonPasswords   "$src/data/common-passwords.txt"
SecAuthRegisterLimit     off
<Location "/">
    SetHandler secauth
</Location>
Include "$src/conf/secauth-access.conf"
CONF
    print $c ($opt{extra} // ''), "\n";
    close $c;
    return $self->_launch;
}

sub _launch {
    my ($self) = @_;
    my ($dir, $port) = @$self{qw(dir port)};
    my $out = `$ENV{SECAUTH_HTTPD} -f $self->{conf} -k start 2>&1`;
    # the sockets are bound before httpd detaches, the pid file written after: wait for both
    for (1 .. 100) {
        last if -s "$dir/httpd.pid" && IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                                            PeerPort => $port);
        sleep 0.1;
    }
    die "httpd did not start: $out\n" . $self->error_log unless -e "$dir/httpd.pid";
    $self->{running} = 1;
    return $self;
}

sub url {
    my ($self, $path) = @_;
    return "http://127.0.0.1:$self->{port}$path";
}

sub error_log {
    my ($self) = @_;
    open(my $fh, '<', "$self->{dir}/error.log") or return '';
    local $/;
    return <$fh>;
}

# Waits until the error log matches re (children log as they start), up to seconds.
sub wait_log {
    my ($self, $re, $seconds) = @_;
    for (1 .. ($seconds // 10) * 10) {
        return 1 if $self->error_log =~ $re;
        sleep 0.1;
    }
    return 0;
}

# stop(): httpd -k stop; stop('graceful-stop') lets the requests in flight finish. Returns 1
# once the main process is gone.
sub stop {
    my ($self, $how) = @_;
    return 1 unless $self->{running};
    my $pidfile = "$self->{dir}/httpd.pid";
    my $pid = -e $pidfile ? do { open(my $fh, '<', $pidfile); local $/; <$fh> } : undef;
    my $gone = 1;
    system("$ENV{SECAUTH_HTTPD} -f $self->{conf} -k " . ($how // 'stop') . " >/dev/null 2>&1");
    if ($pid) {
        chomp $pid;
        for (1 .. 100) {
            last unless kill 0, $pid;
            sleep 0.1;
        }
        $gone = !kill 0, $pid;
    }
    $self->{running} = 0;
    return $gone;
}

sub DESTROY { $_[0]->stop }

1;
