# startup.t — every bad directive value stops httpd at startup with a message naming the
# directive (checked by starting a real httpd with each bad configuration).
use strict;
use warnings;
use Apache::Test ();
use Test::More;
use File::Temp qw(tempdir);
use SecAuthServer;
use SecAuthTest;

my $dir = tempdir(CLEANUP => 1);
my $keys = key_dir();
open(my $fh, '>:raw', "$dir/short.key") or die; print $fh 'x' x 31; close $fh;
open($fh, '>:raw', "$dir/enc33.key") or die; print $fh 'y' x 33; close $fh;

my @cases = (
    ['SecAuthJWTAlgorithm HS512', qr/SecAuthJWTAlgorithm: 'HS512' is not one of/],
    ["SecAuthJWTKey $dir/short.key k1", qr/SecAuthJWTKey .*at least 32 bytes/],
    ["SecAuthJWTKey $dir/missing.key k1", qr/SecAuthJWTKey: cannot read/],
    ["SecAuthJWTKey $keys/hs-current.key bad/kid", qr/key id 'bad\/kid'/],
    ['SecAuthTokenLifetime 10', qr/SecAuthTokenLifetime: '10' must be an integer from 30/],
    ['SecAuthClockSkew 301', qr/SecAuthClockSkew: '301' must be an integer from 0 to 300/],
    ['SecAuthLockout 5 60 30', qr/SecAuthLockout: the longest delay/],
    ['SecAuthPasswordHash bcrypt', qr/SecAuthPasswordHash: the only scheme is argon2id/],
    ['SecAuthPasswordHash argon2id m=19456 q=1', qr/SecAuthPasswordHash: unknown parameter 'q=1'/],
    ['SecAuthMaxBody lots', qr/SecAuthMaxBody: 'lots' must be an integer/],
    ['SecAuthRegisterLimit 20', qr/SecAuthRegisterLimit takes COUNT SECONDS/],
    ['SecAuthRegisterLimit 0 60', qr/SecAuthRegisterLimit: '0' must be an integer from 1/],
    ['SecAuthRegisterLimit 20 100000', qr/SecAuthRegisterLimit: '100000' must be an integer from 1 to 86400/],
    ["SecAuthEncryptionKeyFile $dir/enc33.key", qr/SecAuthEncryptionKeyFile: .* holds 33 bytes; it must hold exactly 32/],
    ["SecAuthJWTAlgorithm RS256\nSecAuthJWTKey $keys/hs-current.key k1", qr/SecAuthJWTKey/],
    ["SecAuthJWTAlgorithm RS256\nSecAuthJWTKey $keys/rsa.pub.pem k1", qr/must\s+be a private key/],
);
plan tests => scalar(@cases) + 1;

my $port = 30000 + $$ % 5000;
sub start_with {
    my ($extra) = @_;
    my %base = (
        SecAuthJWTKey => "$keys/hs-current.key k1",
        SecAuthEncryptionKeyFile => "$keys/totp.key",
    );
    for my $line (split /\n/, $extra) {
        my ($name) = split ' ', $line;
        delete $base{$name};
    }
    my $conf = "$dir/httpd.conf";
    open(my $c, '>', $conf) or die;
    print $c SecAuthServer::preamble($dir, $port), <<"CONF";
LoadModule mpm_prefork_module $ENV{SECAUTH_MODDIR}/mod_mpm_prefork.so
LoadModule authz_core_module $ENV{SECAUTH_MODDIR}/mod_authz_core.so
LoadModule dbd_module $ENV{SECAUTH_MODDIR}/mod_dbd.so
LoadModule socache_shmcb_module $ENV{SECAUTH_MODDIR}/mod_socache_shmcb.so
LoadModule secauth_module $ENV{SECAUTH_MODULE_SO}
DBDriver sqlite3
DBDParams "$dir/x.db"
SecAuthCommonPasswords "$ENV{SECAUTH_SRCDIR}/data/common-passwords.txt"
CONF
    print $c "$_ $base{$_}\n" for sort keys %base;
    print $c "$extra\n";
    close $c;
    unlink "$dir/error.log";
    my $out = `$ENV{SECAUTH_HTTPD} -f $conf -k start 2>&1`;
    my $rc = $?;
    sleep 1;
    my $log = -e "$dir/error.log" ? do { local (@ARGV, $/) = ("$dir/error.log"); <> } : '';
    my $running = -e "$dir/httpd.pid";
    system("$ENV{SECAUTH_HTTPD} -f $conf -k stop >/dev/null 2>&1") if $running;
    sleep 1 if $running;
    return ($running, $out . $log);
}

for my $case (@cases) {
    my ($extra, $want) = @$case;
    my ($running, $text) = start_with($extra);
    ok(!$running && $text =~ $want, "refused: $extra") or diag("running=$running\n$text");
}
my ($running, $text) = start_with('');
ok($running, 'the same configuration without a bad line starts') or diag($text);
