# usernames.t — one username rule on every route that takes one (API.md §2): a name no account
# can have ("alice ", " alice", "al ice") is a 400 field error on login, verify-2fa and
# generate-qr, never a lookup, so it can neither reach an account nor tell accounts apart by
# their lockout; names are compared lower-cased, and so is the throttle key of unknown names.
# The database itself does not pad (NO PAD collation on MariaDB), and login_throttle keys are
# short (the table stays bounded under a flood of names).
use strict;
use warnings;
use Test::More;
use Apache::Test ();
use SecAuthTest;

my $why = 'may contain only letters, digits and . _ @ + -';
my $user = enroll();
my $name = $user->{username};

sub field_error_is {
    my ($res, $what) = @_;
    my $b = is_problem($res, 400, $what);
    ok($b, "$what → 400");
    is_deeply($b && $b->{errors}, [{field => 'username', detail => $why}], "$what: username error");
}

sub failed_count {
    my ($row) = db_rows("SELECT failed_count FROM users WHERE id = $user->{id}");
    return $row->[0];
}

# --- login ---
for my $typed ("$name ", "$name  ", " $name", "\t$name", "$name\n", "\u$name ", "na me") {
    (my $shown = $typed) =~ s/\s/_/g;
    my $res = api(POST => '/login', {username => $typed, password => $user->{password},
                                     recovery_code => $user->{recovery_codes}[0]});
    field_error_is($res, "login as '$shown'");
}
is(failed_count(), 0, 'refused names counted no failure on the account');
my $res = api(POST => '/login', {username => uc($name), password => $user->{password},
                                 recovery_code => $user->{recovery_codes}[0]});
is($res->code, 200, 'the same name in upper case is the same account');

# --- lockout: a padded name is not a way to tell a locked account from an unknown one ---
for (1 .. 5) {
    api(POST => '/login', {username => $name, password => 'wrong password, for sure', code => '000000'});
}
$res = api(POST => '/login', {username => $name, password => $user->{password}, code => '000000'});
is($res->code, 429, 'the account is locked after 5 failures');
my $ghost = unique_name('ghost');
field_error_is(api(POST => '/login', {username => "$name ", password => 'x', code => '000000'}),
               'a locked name with a trailing space');
field_error_is(api(POST => '/login', {username => "$ghost ", password => 'x', code => '000000'}),
               'an unknown name with a trailing space');

# the throttle key of an unknown name is the normalised name: Ghost and ghost share it
my $mixed = "\u$ghost";
for (1 .. 5) {
    api(POST => '/login', {username => $mixed, password => 'wrong password, for sure', code => '000000'});
}
$res = api(POST => '/login', {username => $ghost, password => 'wrong password, for sure', code => '000000'});
is($res->code, 429, 'failures for an unknown Name lock its lower-case spelling too');
ok($res->header('Retry-After'), '429 has Retry-After');
my @keys = map { $_->[0] } db_rows('SELECT name_hash FROM login_throttle');
ok(@keys, 'login_throttle holds rows');
is(scalar(grep { !/^[ur][0-9a-f]{5}$/ } @keys), 0,
   'every login_throttle key is a kind letter and 20 bits of HMAC (a bounded table)');

# --- verify-2fa and generate-qr ---
my $pending = unique_name('pend');
my (undef, $reg) = register($pending, strong_password());
my $enroll = $reg->{enrollment_token};
for my $typed ("$pending ", " $pending", "pen ding") {
    (my $shown = $typed) =~ s/\s/_/g;
    field_error_is(api(POST => '/verify-2fa', {username => $typed, code => '123456'},
                       Authorization => "Bearer $enroll"), "verify-2fa as '$shown'");
}
field_error_is(api(GET => "/generate-qr/$pending%20?format=json", undef,
                   Authorization => "Bearer $enroll"), 'generate-qr of a name with a trailing space');
field_error_is(api(GET => "/generate-qr/%20$pending?format=json", undef,
                   Authorization => "Bearer $enroll"), 'generate-qr of a name with a leading space');
$res = api(GET => "/generate-qr/\U$pending\E?format=json", undef, Authorization => "Bearer $enroll");
is($res->code, 200, 'generate-qr of the name in upper case is the same account');
my ($row) = db_rows("SELECT failed_count FROM users WHERE username = '$pending'");
is($row->[0], 0, 'refused names counted nothing on the pending account');

# --- the database does not pad either ---
SKIP: {
    skip 'NO PAD collation: MariaDB only (SQLite compares bytes)', 3 unless $ENV{SECAUTH_DB} eq 'mysql';
    my ($c) = db_rows("SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                      . "'security_db' AND TABLE_NAME = 'users' AND COLUMN_NAME = 'username'");
    is($c->[0], 'utf8mb4_nopad_bin', 'users.username has a NO PAD collation');
    my ($n) = db_rows("SELECT COUNT(*) FROM users WHERE username = '$name '");
    is($n->[0], 0, "'$name ' does not match '$name' in SQL");
    db_do("INSERT INTO users (username, password) VALUES ('$name ', 'x')");
    my ($both) = db_rows("SELECT COUNT(*) FROM users WHERE username LIKE '$name%'");
    is($both->[0], 2, 'the unique key tells them apart');
    db_do("DELETE FROM users WHERE username = '$name '");
}
SKIP: {
    skip 'SQLite only', 1 unless $ENV{SECAUTH_DB} eq 'sqlite';
    my ($n) = db_rows("SELECT COUNT(*) FROM users WHERE username = '$name '");
    is($n->[0], 0, "'$name ' does not match '$name' in SQLite");
}

done_testing();
