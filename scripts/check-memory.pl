#!/usr/bin/perl
# scripts/check-memory.pl — the client side of scripts/check-memory against a running server:
#   check-memory.pl setup       enrols an editor, logs in, creates a product; prints "TOKEN ID"
#   check-memory.pl mixed N     N rounds of mixed requests (register, verify-2fa, login, /me,
#                               products CRUD, validation and auth errors); prints status counts
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use SecAuthClient;

my ($mode, $rounds) = @ARGV;
my $tag = "m$$";

if ($mode eq 'setup') {
    my $u = enroll("$tag-load");
    my $token = login_token($u);
    my $r = api(POST => '/products', {name => 'memory', price => 9.99, quantity => 1},
                Authorization => "Bearer $token");
    die "create: " . $r->code . "\n" unless $r->code == 201;
    print "$token " . json_of($r)->{id} . "\n";
    exit 0;
}

die "usage: $0 setup | mixed N\n" unless $mode eq 'mixed';
my %count;
my $n = 0;
sub hit { my $r = shift; $count{$r->code}++; $n++; return $r }

# accounts: a few full enrolments and logins, with their error paths
my $users = $rounds >= 20 ? 4 : 1;
my $token;
for my $i (1 .. $users) {
    my $u = enroll("$tag-$i");
    $n += 2; $count{201}++; $count{200}++;
    hit(api(POST => '/register', {username => "$tag-$i", password => 'another strong passphrase'}));   # 409
    hit(api(POST => '/register', {username => 'x', password => 'short'}));                               # 400
    hit(api(POST => '/verify-2fa', {username => "$tag-$i", code => '000000'},
            Authorization => "Bearer $u->{enrollment_token}"));                                           # 409
    hit(api(POST => '/login', {username => "$tag-$i", password => 'wrong password here', code => '123456'}));  # 401
    $token = login_token($u);
    $n++; $count{200}++;
    hit(api(GET => '/me', undef, Authorization => "Bearer $token"));
}
my %auth = (Authorization => "Bearer $token");
for my $i (1 .. $rounds) {
    my $r = hit(api(POST => '/products', {name => "$tag-p$i", description => "d $i", price => 12.5, quantity => $i}, %auth));
    my $id = (json_of($r) // {})->{id} // 1;
    my $etag = $r->header('ETag') // '"x"';
    hit(api(GET => "/products/$id", undef, %auth));
    hit(api(GET => '/products?limit=5', undef, %auth));
    hit(api(PATCH => "/products/$id", {price => 13}, %auth, 'If-Match' => $etag));
    hit(api(PUT => "/products/$id", {quantity => 1}, %auth, 'If-Match' => $etag));    # 412
    hit(api(POST => '/products', {name => '', price => -1, extra => 1}, %auth));       # 400
    hit(api(POST => '/products', '{"name": "x", "price": [1', %auth));                  # 400
    hit(api(GET => '/products/0', undef, %auth));                                       # 404
    hit(api(GET => '/products', undef, Authorization => 'Bearer not.a.token'));         # 401
    hit(api(DELETE => "/products/$id", undef, %auth));
    hit(api(GET => '/health'));
}
hit(api(POST => '/logout', undef, %auth));
print "$n requests: " . join(', ', map { "$_ x$count{$_}" } sort keys %count) . "\n";
exit(grep({ $_ >= 500 } keys %count) ? 1 : 0);
