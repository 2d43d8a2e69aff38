# scripts/SecAuthClient.pm — a small HTTP client of the API for the scripts that drive a running
# server (check-faults.pl, check-memory.pl): JSON requests, TOTP codes, enrolment of a user.
package SecAuthClient;
use strict;
use warnings;
use Exporter 'import';
use LWP::UserAgent;
use HTTP::Request;
use JSON::PP;
use Authen::OATH;

our @EXPORT = qw(ua api json_of totp enroll next_code login_token $JSON);
our $JSON = JSON::PP->new->canonical;
our $BASE = $ENV{BASE};

sub ua { LWP::UserAgent->new(timeout => 15, keep_alive => 0) }
my $UA = ua();

# api(METHOD, PATH, BODY, HEADERS...): BODY a Perl structure (sent as JSON), a string (sent as
# is) or undef; returns the HTTP::Response
sub api {
    my ($method, $path, $body, %h) = @_;
    my $req = HTTP::Request->new($method => "$BASE$path");
    if (defined $body) {
        $req->content(ref $body ? $JSON->encode($body) : $body);
        $req->header('Content-Type' => 'application/json');
    }
    $req->header($_ => $h{$_}) for keys %h;
    return $UA->request($req);
}
sub json_of { my $r = shift; my $v = eval { $JSON->decode($r->content) }; return $v }

sub base32_decode {
    my $s = shift;
    $s =~ tr/A-Z2-7//cd;
    my $bits = join '', map { sprintf '%05b', index('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', $_) } split //, $s;
    return pack 'B*', substr($bits, 0, int(length($bits) / 8) * 8);
}
sub totp { sprintf '%06d', Authen::OATH->new(digits => 6, timestep => 30)->totp(base32_decode($_[0]), $_[1]) }

# register + verify-2fa: {username, password, secret, step (the time step enrolment used)}
sub enroll {
    my ($name) = @_;
    my $pw = "correct horse battery staple $$";
    my $r = api(POST => '/register', {username => $name, password => $pw});
    die "register $name: " . $r->code . ' ' . $r->content . "\n" unless $r->code == 201;
    my $b = json_of($r);
    my ($secret) = $b->{otpauth_uri} =~ /secret=([A-Z2-7]+)/;
    my $now = time;
    $r = api(POST => '/verify-2fa', {username => $name, code => totp($secret, $now)},
             Authorization => "Bearer $b->{enrollment_token}");
    die "verify-2fa $name: " . $r->code . ' ' . $r->content . "\n" unless $r->code == 200;
    return {username => $name, password => $pw, secret => $secret, step => int($now / 30),
            enrollment_token => $b->{enrollment_token}};
}
# the code of the step after the one enrolment used: within the default skew of one step
sub next_code { my $u = shift; return totp($u->{secret}, ($u->{step} + 1) * 30 + 1) }

sub login_token {
    my ($u) = @_;
    my $r = api(POST => '/login', {username => $u->{username}, password => $u->{password},
                                   code => next_code($u)});
    die "login: " . $r->code . ' ' . $r->content . "\n" unless $r->code == 200;
    return json_of($r)->{token};
}

1;
