#!/usr/bin/perl
# bench/setup.pl — loads the benchmark's data through the API itself: enrolled users
# (register → TOTP code from the otpauth secret → verify-2fa), an access token, products, and
# the file of one-time login codes that bench/login.lua walks through.
#   setup.pl users URL OUT COUNT WORKERS PREFIX   enrol COUNT users, WORKERS at a time;
#                                                 writes "username<TAB>base32 secret" lines
#   setup.pl token URL USERNAME SECRET            log in with the code of the next step; prints the token
#   setup.pl products URL TOKEN COUNT FILE        create COUNT products; FILE gets one product's body
#   setup.pl codes USERS OUT STEPS                codes for the next STEPS time steps of every user
# Every user has the password below (it passes the module's password policy).
use strict;
use warnings;
use Authen::OATH;
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(floor);

my $PASSWORD = 'Lm4!Rq7-Zt2x-Vp9w';
my $STEP = 30;
my $json = JSON::PP->new->canonical;
my $oath = Authen::OATH->new(digits => 6, timestep => $STEP);
my $retries = 0;

sub http { HTTP::Tiny->new(keep_alive => 1, timeout => 60) }

sub call {
    my ($http, $method, $url, $body, $token) = @_;
    my %headers = ('Content-Type' => 'application/json', 'Accept' => 'application/json');
    $headers{Authorization} = "Bearer $token" if $token;
    my $res = $http->request($method, $url,
        { headers => \%headers, defined $body ? (content => $json->encode($body)) : () });
    my $data = eval { decode_json($res->{content}) };
    return ($res->{status}, $data, $res->{content});
}

sub need {
    my ($what, $want, $status, $content) = @_;
    die "setup: $what answered $status (expected $want): " . substr($content // '', 0, 300) . "\n"
        if $status != $want;
}

# RFC 4648 Base32 without padding, as in the otpauth URI.
sub decode_base32 {
    my $bits = join '', map { sprintf '%05b', index('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', $_) }
        split //, uc shift;
    return pack 'B*', substr($bits, 0, length($bits) - length($bits) % 8);
}

# The code of time step $step for a Base32 secret.
sub code_at {
    my ($secret, $step) = @_;
    return $oath->hotp(decode_base32($secret), $step);
}

sub enrol {
    my ($http, $url, $username) = @_;
    my ($status, $data, $content) = call($http, 'POST', "$url/register",
        { username => $username, password => $PASSWORD });
    need("POST /register ($username)", 201, $status, $content);
    my ($secret) = $data->{otpauth_uri} =~ /[?&]secret=([A-Z2-7]+)/
        or die "setup: no secret in otpauth_uri of $username\n";
    # a 503 is retried (and counted): concurrent enrolments can hit an InnoDB deadlock, whose
    # victim's transaction is rolled back whole, so the same step is still unused
    for my $attempt (1 .. 5) {
        my $code = code_at($secret, floor(time() / $STEP));
        ($status, undef, $content) = call($http, 'POST', "$url/verify-2fa",
            { username => $username, code => $code }, $data->{enrollment_token});
        last if $status != 503;
        $retries++;
        select(undef, undef, undef, 0.05 * $attempt);
    }
    need("POST /verify-2fa ($username)", 200, $status, $content);
    return $secret;
}

sub cmd_users {
    my ($url, $out, $count, $workers, $prefix) = @_;
    my @pids;
    for my $w (0 .. $workers - 1) {
        my $pid = fork() // die "setup: fork: $!\n";
        if (!$pid) {
            my $http = http();
            open(my $fh, '>', "$out.$w") or die "setup: $out.$w: $!\n";
            for (my $i = $w; $i < $count; $i += $workers) {
                my $name = sprintf('%s%05d', $prefix, $i);
                print $fh "$name\t" . enrol($http, $url, $name) . "\n";
            }
            close($fh) or die;
            print STDERR "setup: $retries verify-2fa requests answered 503 and were retried\n"
                if $retries;
            exit 0;
        }
        push @pids, $pid;
    }
    my $failed = 0;
    for (@pids) { waitpid($_, 0); $failed ||= $?; }
    die "setup: enrolling users failed\n" if $failed;
    open(my $all, '>', $out) or die "setup: $out: $!\n";
    for my $w (0 .. $workers - 1) {
        open(my $fh, '<', "$out.$w") or die;
        print $all $_ while <$fh>;
        close $fh;
        unlink "$out.$w";
    }
    close($all) or die;
}

sub cmd_token {
    my ($url, $username, $secret) = @_;
    # the enrolment used the current step, which replay protection now refuses: the next
    # step is later and still within SecAuthTOTPSkew 1
    my ($status, $data, $content) = call(http(), 'POST', "$url/login",
        { username => $username, password => $PASSWORD,
          code => code_at($secret, floor(time() / $STEP) + 1) });
    need("POST /login ($username)", 200, $status, $content);
    print "$data->{token}\n";
}

sub cmd_products {
    my ($url, $token, $count, $file) = @_;
    my $http = http();
    my $body;
    for my $i (1 .. $count) {
        $body = { name => "Product $i", description => "Benchmark product number $i",
                  price => 10 + $i + 0.99, quantity => 5 * $i };
        my ($status, undef, $content) = call($http, 'POST', "$url/products", $body, $token);
        need("POST /products", 201, $status, $content);
    }
    open(my $fh, '>', $file) or die "setup: $file: $!\n";
    print $fh $json->encode($body);
    close($fh) or die;
}

# First line: the first step; then "username<TAB>code<TAB>code..." for that step and the next
# ones, so that a login at any time of the run finds the code of (its step + 1).
sub cmd_codes {
    my ($users, $out, $steps) = @_;
    my $first = floor(time() / $STEP) + 1;
    open(my $in, '<', $users) or die "setup: $users: $!\n";
    open(my $fh, '>', $out) or die "setup: $out: $!\n";
    print $fh "$first\n";
    while (<$in>) {
        chomp;
        my ($name, $secret) = split /\t/;
        print $fh join("\t", $name, map { code_at($secret, $first + $_) } 0 .. $steps - 1), "\n";
    }
    close($fh) or die;
}

my %commands = (users => [\&cmd_users, 5], token => [\&cmd_token, 3],
                products => [\&cmd_products, 4], codes => [\&cmd_codes, 3]);
my $cmd = shift // '';
my $spec = $commands{$cmd};
die "usage: $0 users|token|products|codes ARGS (see the top of this file)\n"
    unless $spec && @ARGV == $spec->[1];
$spec->[0]->(@ARGV);
