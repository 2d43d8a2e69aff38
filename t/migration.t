# migration.t — sql/mysql/migrate-from-flask.sql on a database made exactly like the Flask app's:
# Werkzeug pbkdf2 and scrypt hashes (computed here with OpenSSL, not with the module) and plain
# Base32 TOTP secrets. After the migration the schema matches schema.sql, every row and id is
# kept, and a server on that database logs each carried-over user in with password + TOTP,
# re-hashing the password to argon2id and sealing the secret. MySQL/MariaDB only.
use strict;
use warnings;
use Apache::Test ();
use Test::More;
use SecAuthTest;
use SecAuthServer;

plan skip_all => 'the migration is for MySQL/MariaDB' unless ($ENV{SECAUTH_DB} // '') eq 'mysql';

my $DB = "flask_db_$$";
my @client = ('mariadb', '--no-defaults', "--socket=$ENV{SECAUTH_DB_DIR}/mysqld.sock", '-uroot');

# Rows of SQL run as root on database $db (tab-separated columns).
sub root_sql {
    my ($db, $sql) = @_;
    open(my $fh, '-|', @client, '-N', '-B', ($db ? $db : ()), '-e', $sql)
        or die "cannot run mariadb: $!";
    my @rows = map { chomp; [split /\t/, $_, -1] } <$fh>;
    close $fh or die "mariadb failed on: $sql\n";
    return @rows;
}

# Werkzeug's formats, derived with OpenSSL's own KDFs.
sub root_row { my @r = root_sql(@_); return $r[0] || [] }
sub root_one { return root_row(@_)->[0] }

sub openssl_kdf {
    my (@args) = @_;
    open(my $fh, '-|', 'openssl', 'kdf', @args) or die "openssl: $!";
    my $out = do { local $/; <$fh> };
    close $fh or die "openssl kdf @args failed\n";
    $out =~ s/[:\s]//g;
    return lc $out;
}
sub werkzeug_pbkdf2 {
    my ($password, $salt) = @_;
    return "pbkdf2:sha256:600000\$$salt\$" . openssl_kdf('-keylen', 32, '-kdfopt', 'digest:SHA256',
        '-kdfopt', "pass:$password", '-kdfopt', "salt:$salt", '-kdfopt', 'iter:600000', 'PBKDF2');
}
sub werkzeug_scrypt {
    my ($password, $salt) = @_;
    return "scrypt:32768:8:1\$$salt\$" . openssl_kdf('-keylen', 64, '-kdfopt', "pass:$password",
        '-kdfopt', "salt:$salt", '-kdfopt', 'n:32768', '-kdfopt', 'r:8', '-kdfopt', 'p:1',
        'SCRYPT');
}
sub random_base32 {
    my ($n) = @_;
    my @a = ('A' .. 'Z', 2 .. 7);
    return join '', map { $a[rand @a] } 1 .. $n;
}
sub salt { join '', map { ('a' .. 'z', 'A' .. 'Z', 0 .. 9)[rand 62] } 1 .. 16 }

# ---- the Flask app's database, exactly as its README creates it ----
root_sql(undef, "DROP DATABASE IF EXISTS $DB");
root_sql(undef, "CREATE DATABASE $DB CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci");
root_sql($DB, <<'SQL');
CREATE TABLE users (
    id INT AUTO_INCREMENT PRIMARY KEY,
    username VARCHAR(50) UNIQUE,
    password VARCHAR(256),
    twofa_secret VARCHAR(256)
);
CREATE TABLE products (
    id INT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(100),
    description VARCHAR(255),
    price DECIMAL(10,2),
    quantity INT
);
SQL

my @users = (
    {id => 4, username => 'Alice_PB', password => 'pässword for alice ' . int(rand(1e6)),
     kind => 'pbkdf2', secret => random_base32(32)},
    {id => 9, username => 'carol.sc', password => 'scrypt was the default ' . int(rand(1e6)),
     kind => 'scrypt', secret => random_base32(32)},
    {id => 15, username => 'dave@old', password => 'an older pyotp secret ' . int(rand(1e6)),
     kind => 'pbkdf2', secret => random_base32(16)},
);
for my $u (@users) {
    $u->{hash} = $u->{kind} eq 'pbkdf2' ? werkzeug_pbkdf2($u->{password}, salt())
                                        : werkzeug_scrypt($u->{password}, salt());
    root_sql($DB, "INSERT INTO users (id, username, password, twofa_secret) VALUES "
                  . "($u->{id}, '$u->{username}', '$u->{hash}', '$u->{secret}')");
}
my @products = ([3, 'Laptop', 'Gaming Laptop', '1200.00', 5], [17, 'Pen', undef, '19.99', 250],
                [42, 'Sticker', 'tiny', '0.10', 0], [43, 'Odd', 'max price', '99999999.99', 1]);
for my $p (@products) {
    my @v = map { defined $_ ? "'$_'" : 'NULL' } @$p;
    root_sql($DB, "INSERT INTO products (id, name, description, price, quantity) VALUES ("
                  . join(', ', @v) . ')');
}

# ---- the migration ----
my $migration = "$ENV{SECAUTH_SRCDIR}/sql/mysql/migrate-from-flask.sql";
my $report = `@client $DB < $migration 2>&1`;
is($?, 0, 'migrate-from-flask.sql runs') or diag($report);
unlike($report, qr/Alice|carol|dave/i, 'no carried-over account needs attention') or diag($report);

# the result is this module's schema: same tables, same columns (type, nullability, default)
sub columns {
    my ($db) = @_;
    return [map { join ' ', @$_ } root_sql(undef,
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, IFNULL(COLUMN_DEFAULT, '-') "
        . "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$db' "
        . "ORDER BY TABLE_NAME, COLUMN_NAME")];
}
sub tables {
    my ($db) = @_;
    return [map { $_->[0] } root_sql(undef, "SELECT TABLE_NAME FROM information_schema.TABLES "
                                            . "WHERE TABLE_SCHEMA = '$db' ORDER BY TABLE_NAME")];
}
is_deeply(tables($DB), tables('security_db'), 'the same tables as schema.sql');
is_deeply(columns($DB), columns('security_db'), 'every column as schema.sql makes it');
my ($collation) = map { $_->[0] } root_sql(undef, "SELECT TABLE_COLLATION FROM "
    . "information_schema.TABLES WHERE TABLE_SCHEMA = '$DB' AND TABLE_NAME = 'users'");
is($collation, 'utf8mb4_bin', 'users compares names exactly (utf8mb4_bin)');

my %row = map { $_->[0] => $_ } root_sql($DB, 'SELECT id, username, password, twofa_secret, '
                                              . 'role, twofa_confirmed, disabled FROM users');
is_deeply([sort { $a <=> $b } keys %row], [map { $_->{id} } @users], 'every user kept with its id');
for my $u (@users) {
    my $r = $row{$u->{id}};
    is($r->[1], lc $u->{username}, "$u->{username}: name lower-cased");
    is($r->[2], $u->{hash}, "$u->{username}: Werkzeug hash kept as is");
    is($r->[3], $u->{secret}, "$u->{username}: secret kept");
    is("$r->[4] $r->[5] $r->[6]", 'editor 1 0', "$u->{username}: editor, enrolled, enabled");
}
my @stored = root_sql($DB, 'SELECT id, name, IFNULL(description, "NULL"), price, quantity, '
                           . 'version FROM products ORDER BY id');
is_deeply(\@stored, [map { [@$_[0, 1], $_->[2] // 'NULL', @$_[3, 4], 1] } @products],
          'every product kept: ids, names, exact prices, quantities');

my ($auto) = map { $_->[0] } root_sql(undef, "SELECT AUTO_INCREMENT FROM information_schema.TABLES "
                                             . "WHERE TABLE_SCHEMA = '$DB' AND TABLE_NAME = 'users'");
ok($auto > 15, 'new accounts continue after the last id');

$report = `@client $DB < $migration 2>&1`;
isnt($?, 0, 'a second run stops');
like($report, qr/Duplicate column name/, '  at the first ALTER TABLE');
is(root_one($DB, 'SELECT COUNT(*) FROM users WHERE twofa_confirmed = 1'), scalar(@users),
   '  having changed nothing');

# ---- a server on the migrated database ----
root_sql(undef, "GRANT SELECT, INSERT, UPDATE, DELETE ON $DB.* TO 'secauth'\@'127.0.0.1'");
my $server = SecAuthServer->start(driver => 'mysql', params =>
    "host=127.0.0.1 port=$ENV{SECAUTH_DB_PORT} user=secauth pass=secauth dbname=$DB reconnect=0");

sub login {
    my ($u, %over) = @_;
    my $step = $over{step} // time_step();
    return api(POST => $server->url('/login'),
               {username => $over{username} // $u->{username},
                password => $over{password} // $u->{password},
                code => totp_code($u->{secret}, $step * 30 + 1)});
}

my $alice = $users[0];
my $res = login($alice, password => 'not the password at all');
ok(is_problem($res, 401, 'wrong password'), 'a wrong password is 401 for a migrated user');
is(root_one($DB, "SELECT password FROM users WHERE id = $alice->{id}"), $alice->{hash},
   '  and re-hashes nothing');

for my $u (@users) {
    my $step = time_step();
    $res = login($u, step => $step);
    is($res->code, 200, "$u->{username} ($u->{kind}) logs in with the old password and app")
        or diag($res->content);
    my $token = (json_of($res) || {})->{token} // '';
    my ($hash, $secret, $last) = @{root_row($DB, 'SELECT password, twofa_secret, last_totp_step '
                                                 . "FROM users WHERE id = $u->{id}")};
    like($hash, qr/^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$/, '  the password is now argon2id');
    like($secret, qr/^v1\./, '  the secret is now sealed');
    unlike($secret, qr/\Q$u->{secret}\E/, '  and no longer the Base32 text');
    is($last, $step, '  the code is used up');
    $res = api(GET => $server->url('/me'), undef, Authorization => "Bearer $token");
    is((json_of($res) || {})->{username}, lc $u->{username}, '  the token works: /me');
    # the sealed secret opens: the next code logs in again, the new hash verifies
    $res = login($u, step => $step + 1);
    is($res->code, 200, '  and logs in again with the sealed secret and the new hash')
        or diag($res->content);
}

my $token = json_of($res)->{token};
$res = api(GET => $server->url('/products'), undef, Authorization => "Bearer $token");
is($res->code, 200, 'GET /products on the migrated database');
is_deeply([map { $_->{id} } @{json_of($res) || []}], [map { $_->[0] } @products],
          'the products keep their ids');
my %price = map { $_->{id} => $_->{price} } @{json_of($res) || []};
for my $p (@products) {
    ok(defined $price{$p->[0]} && $price{$p->[0]} == $p->[3],
       "product $p->[0]: price $p->[3]") or diag("got " . ($price{$p->[0]} // 'none'));
}
unlike($res->content, qr/"price":-?\d+\.\d{3,}/, 'no price with float noise in the JSON text');
$res = api(GET => $server->url('/products/17'), undef, Authorization => "Bearer $token");
is_deeply([@{json_of($res) || {}}{qw(name description price quantity)}], ['Pen', undef, 19.99, 250],
          'GET /products/17 shows the row');

$server->stop;
root_sql(undef, "DROP DATABASE $DB");
done_testing();
