/* test_password.c — unit tests for modules/password.c: argon2id hashing and rehash decisions,
 * PHC strings against the reference library, the hashing gate under threads,
 * legacy Werkzeug hashes, normalization, and the password policy with the shipped common list.
 * The list is read from $SECAUTH_DATADIR/common-passwords.txt (default: data/). */
#include <stdlib.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

#include <argon2.h>

#include "password.h"
#include "tap.h"

#define PASSWORD "correct horse battery staple"
#define JOHN_LIST "/usr/share/john/password.lst"

/* Small costs keep the suite fast; the defaults are exercised once. */
static const secauth_argon2_params_t fast = { 1024, 1, 1 };
static const secauth_argon2_params_t defaults = { 19456, 2, 1 };

static void test_argon2id(apr_pool_t *p)
{
    static const secauth_argon2_params_t more_memory = { 2048, 1, 1 };
    static const secauth_argon2_params_t more_time = { 1024, 2, 1 };
    static const secauth_argon2_params_t more_lanes = { 1024, 1, 2 };
    /* Made by the reference argon2 command-line tool:
     * echo -n 'correct horse battery staple' | argon2 saltsaltsaltsalt -id -t 1 -m 10 -p 1 -l 32 -e */
    static const char reference[] =
        "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$5Tx9YkNNWfq1gl0Huxrt8T0TE4IsPYoxCIG6y6JJZ6I";
    static const char reference_argon2i[] =
        "$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$dsrYEF3DTPKTFk2B+kBkqu1uux9jg78iuQwiDn+i+u0";
    const char *hash, *again, *dummy;

    hash = secauth_password_hash(p, &defaults, PASSWORD);
    ok(hash && strncmp(hash, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0,
       "default parameters give $argon2id$v=19$m=19456,t=2,p=1$");
    ok(secauth_password_verify(p, hash, PASSWORD), "default-cost hash verifies");
    ok(!secauth_password_needs_rehash(hash, &defaults), "default-cost hash needs no rehash");

    hash = secauth_password_hash(p, &fast, PASSWORD);
    ok(hash != NULL, "hash with small costs");
    /* 16-byte salt and 32-byte hash are 22 and 43 base64 characters. */
    is_int(hash ? strlen(hash) : 0, strlen("$argon2id$v=19$m=1024,t=1,p=1$") + 22 + 1 + 43,
           "PHC string carries a 16-byte salt and a 32-byte hash");
    ok(secauth_password_verify(p, hash, PASSWORD), "right password verifies");
    ok(!secauth_password_verify(p, hash, PASSWORD " "), "password with a trailing space does not");
    ok(!secauth_password_verify(p, hash, "Correct horse battery staple"), "wrong password does not");
    ok(!secauth_password_verify(p, hash, ""), "empty password does not");
    again = secauth_password_hash(p, &fast, PASSWORD);
    ok(hash && again && strcmp(hash, again) != 0, "a fresh salt each time");

    ok(secauth_password_verify(p, reference, PASSWORD), "verifies the reference tool's hash");
    ok(!secauth_password_verify(p, reference, "correct horse battery stapl"),
       "reference hash refuses a wrong password");

    ok(!secauth_password_needs_rehash(hash, &fast), "same parameters: no rehash");
    ok(secauth_password_needs_rehash(hash, &more_memory), "other m: rehash");
    ok(secauth_password_needs_rehash(hash, &more_time), "other t: rehash");
    ok(secauth_password_needs_rehash(hash, &more_lanes), "other p: rehash");
    ok(secauth_password_needs_rehash(reference_argon2i, &fast), "argon2i: rehash");
    ok(secauth_password_needs_rehash("$argon2id$v=16$m=1024,t=1,p=1$c2FsdA$aGFzaA", &fast),
       "argon2id v=16: rehash");
    ok(secauth_password_needs_rehash("$argon2id$v=19$m=1024,t=1,p=1", &fast),
       "truncated PHC string: rehash");
    ok(secauth_password_needs_rehash("$argon2id$v=19$m=01024,t=1,p=1$c2FsdA$aGFzaA", &fast),
       "non-canonical number: rehash");
    ok(secauth_password_needs_rehash("pbkdf2:sha256:1000$salt$00", &fast), "Werkzeug: rehash");
    ok(secauth_password_needs_rehash("", &fast), "empty: rehash");
    ok(secauth_password_needs_rehash(NULL, &fast), "NULL: rehash");

    dummy = secauth_password_dummy_hash(p, &fast);
    ok(dummy && !secauth_password_needs_rehash(dummy, &fast), "dummy hash uses the given parameters");
    ok(!secauth_password_verify(p, dummy, PASSWORD), "dummy hash does not match a real password");
}

/* The PHC strings this module writes and reads are those of the reference library. */
static void test_phc_strings(apr_pool_t *p)
{
    /* echo -n 'correct horse battery staple' | argon2 saltsaltsaltsalt -id -t 1 -m 10 -p 1 -l 32 -v 10 -e */
    static const char version_16[] =
        "$argon2id$v=16$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$yglTuEzzcK3KdyMCQCqwlSkdR/VEt1YHF6L7DBsqx4w";
    /* ... -t 1 -m 10 -p 2 -l 16 -e: two lanes, a 16-byte hash */
    static const char two_lanes[] =
        "$argon2id$v=19$m=1024,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$/qCJqcLcHtNC3/l4j0ZaMg";
    static const char *const refused[] = {
        /* padding, the url alphabet, no version digits, an unknown version */
        "$argon2id$v=19$m=1024,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA==$/qCJqcLcHtNC3/l4j0ZaMg",
        "$argon2id$v=19$m=1024,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$_qCJqcLcHtNC3_l4j0ZaMg",
        "$argon2id$v=$m=1024,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$/qCJqcLcHtNC3/l4j0ZaMg",
        "$argon2id$v=20$m=1024,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$/qCJqcLcHtNC3/l4j0ZaMg",
        /* costs beyond SecAuthPasswordHash's bounds, or below the library's */
        "$argon2id$v=19$m=4194305,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$/qCJqcLcHtNC3/l4j0ZaMg",
        "$argon2id$v=19$m=1024,t=101,p=1$c2FsdHNhbHRzYWx0c2FsdA$/qCJqcLcHtNC3/l4j0ZaMg",
        "$argon2id$v=19$m=1024,t=1,p=65$c2FsdHNhbHRzYWx0c2FsdA$/qCJqcLcHtNC3/l4j0ZaMg",
        "$argon2id$v=19$m=7,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$/qCJqcLcHtNC3/l4j0ZaMg",
        "$argon2id$v=19$m=1024,t=0,p=1$c2FsdHNhbHRzYWx0c2FsdA$/qCJqcLcHtNC3/l4j0ZaMg",
        /* a 4-byte salt, a 3-byte hash, fields missing, out of order or trailing */
        "$argon2id$v=19$m=1024,t=1,p=2$c2FsdA$/qCJqcLcHtNC3/l4j0ZaMg",
        "$argon2id$v=19$m=1024,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$/qCJ",
        "$argon2id$v=19$m=1024,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA",
        "$argon2id$v=19$m=1024,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$",
        "$argon2id$v=19$t=1,m=1024,p=2$c2FsdHNhbHRzYWx0c2FsdA$/qCJqcLcHtNC3/l4j0ZaMg",
        "$argon2id$v=19$m=1024,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$/qCJqcLcHtNC3/l4j0ZaMg$",
        "$argon2id$v=19$m=1024,t=1,p=2,keyid=abc$c2FsdHNhbHRzYWx0c2FsdA$/qCJqcLcHtNC3/l4j0ZaMg",
        "$argon2id$v=19$m=1024,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$/qCJqcLcHtNC3/l4j0ZaMh",
        NULL
    };
    const char *const *bad;
    const char *hash;
    int i, all = 1;

    ok(secauth_password_verify(p, version_16, PASSWORD), "verifies a v=16 hash");
    ok(secauth_password_verify(p, "$argon2id$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA"
                                     "$yglTuEzzcK3KdyMCQCqwlSkdR/VEt1YHF6L7DBsqx4w", PASSWORD),
       "a string without v= is version 16");
    ok(secauth_password_verify(p, two_lanes, PASSWORD), "verifies p=2 with a 16-byte hash");
    ok(!secauth_password_verify(p, two_lanes, "correct horse battery staplE"),
       "p=2 hash refuses a wrong password");
    for (bad = refused, i = 0; *bad; bad++, i++) {
        if (secauth_password_verify(p, *bad, PASSWORD)) {
            printf("# accepted: %s\n", *bad);
            all = 0;
        }
    }
    ok(all, "malformed or out-of-bounds PHC strings are refused (%d cases)", i);

    hash = secauth_password_hash(p, &fast, PASSWORD);
    is_int(hash ? argon2id_verify(hash, PASSWORD, strlen(PASSWORD)) : -1, ARGON2_OK,
           "the reference library verifies the strings this module writes");
}

struct gate_worker {
    apr_pool_t *pool;
    int verified;
};

static void *APR_THREAD_FUNC hash_and_verify(apr_thread_t *thread, void *data)
{
    struct gate_worker *w = data;
    int i;

    for (i = 0; i < 3; i++) {
        const char *hash = secauth_password_hash(w->pool, &fast, PASSWORD);
        w->verified += hash && secauth_password_verify(w->pool, hash, PASSWORD)
                       && !secauth_password_verify(w->pool, hash, "wrong password");
    }
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

/* With the gate, hashes run on its kept blocks of memory: right under contention, and a block
 * larger than the kept size (an old hash with a larger m) is given back. */
static void test_gate(apr_pool_t *p)
{
    static const secauth_argon2_params_t larger = { 4096, 1, 1 };
    static const secauth_argon2_params_t kept = { 1024, 1, 1 };
    apr_thread_t *threads[6];
    struct gate_worker workers[6];
    apr_status_t rv;
    const char *hash;
    int i, verified = 0;

    is_int(secauth_password_gate_init(p, 0, &kept, 0), -1, "a gate needs at least one place");
    is_int(secauth_password_gate_init(p, 2, &kept, 1), 0, "gate of two places, 1 MiB kept, mapped now");
    for (i = 0; i < 6; i++) {
        apr_pool_create(&workers[i].pool, p);
        workers[i].verified = 0;
        apr_thread_create(&threads[i], NULL, hash_and_verify, &workers[i], p);
    }
    for (i = 0; i < 6; i++) {
        apr_thread_join(&rv, threads[i]);
        verified += workers[i].verified;
    }
    is_int(verified, 18, "6 threads x 3 hashes through a gate of 2: each verifies");
    hash = secauth_password_hash(p, &larger, PASSWORD);
    ok(hash && secauth_password_verify(p, hash, PASSWORD), "a larger m than the kept block");
    ok(secauth_password_verify(p, "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA"
                                  "$5Tx9YkNNWfq1gl0Huxrt8T0TE4IsPYoxCIG6y6JJZ6I", PASSWORD),
       "then the kept size again");
    /* with a gate, a stored hash may ask for at most 256 MiB and 10 passes beyond the costs
     * configured (1 MiB, t=1 here): refused without hashing */
    ok(!secauth_password_verify(p, "$argon2id$v=19$m=262145,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA"
                                   "$5Tx9YkNNWfq1gl0Huxrt8T0TE4IsPYoxCIG6y6JJZ6I", PASSWORD),
       "a stored m above 256 MiB is refused");
    ok(!secauth_password_verify(p, "$argon2id$v=19$m=1024,t=11,p=1$c2FsdHNhbHRzYWx0c2FsdA"
                                   "$5Tx9YkNNWfq1gl0Huxrt8T0TE4IsPYoxCIG6y6JJZ6I", PASSWORD),
       "a stored t above 10 is refused");
}

static void test_werkzeug(apr_pool_t *p)
{
    /* Made with Werkzeug 3.1.8 generate_password_hash and checked against Python's
     * hashlib.pbkdf2_hmac and hashlib.scrypt (salt as ASCII bytes, key hex-encoded). */
    static const char pbkdf2_sha256[] =
        "pbkdf2:sha256:1000$4Lf4YDPQ3XsQWIQK$ccd63445d78efae968a325758b89f463a639ce9f64e68002d82cbc7d9699fadf";
    static const char pbkdf2_sha512[] =
        "pbkdf2:sha512:1000$XUZh27XR5XzguOmt$17db661e2f1758deb01396221a3bce696b2881186d1c76d2b9f1fd717074299b"
        "d3fbf0dd7dcd9aebaaff17178299aef2d915fc2ae1c1b8f5c56e64a04998c1b7";
    static const char pbkdf2_sha1[] =
        "pbkdf2:sha1:1000$WNhuF9NYSqGrrc3k$45dca416da91bb6c79e653c7a29b8bd4c71d73aa";
    static const char scrypt[] =
        "scrypt:1024:8:1$J4PgHMpvHHdGHyuz$00b3f9fe7d304f226afc4f64c2716bcc7863ad973bfb14baffd40ebf9e8812c0"
        "619d914d8bbc493b81e3648b9c58f2be2fefa7c3fc68ff2aabadea90356b4a9f";
    static const char unicode_password[] = "pässwörd – ünïcode ✓";
    static const char unicode_pbkdf2[] =
        "pbkdf2:sha256:1000$XECRuoiPJ3jYmb8O$40d91b95693bb81ff798934c0e32752f966c8fe883620e0c2ca7523a8895715c";
    static const char unicode_scrypt[] =
        "scrypt:1024:8:2$33YfNSv5jWlpQVIR$f39f86e96c7ea688b1508e1f0e3c848e2458ea04f3d255d538d22481093c9ffe"
        "e27fe5591a584e8bc51e67a328b1b92dadc0e679bd649475b10faa6f8abc2e00";

    ok(secauth_password_verify(p, pbkdf2_sha256, PASSWORD), "Werkzeug pbkdf2:sha256 verifies");
    ok(!secauth_password_verify(p, pbkdf2_sha256, "wrong password"), "pbkdf2:sha256 wrong password");
    ok(secauth_password_verify(p, pbkdf2_sha512, PASSWORD), "Werkzeug pbkdf2:sha512 verifies");
    ok(secauth_password_verify(p, pbkdf2_sha1, PASSWORD), "Werkzeug pbkdf2:sha1 verifies");
    ok(secauth_password_verify(p, scrypt, PASSWORD), "Werkzeug scrypt verifies");
    ok(!secauth_password_verify(p, scrypt, "wrong password"), "scrypt wrong password");
    ok(secauth_password_verify(p, unicode_pbkdf2, unicode_password), "pbkdf2 with a UTF-8 password");
    ok(secauth_password_verify(p, unicode_scrypt, unicode_password), "scrypt (p=2) with a UTF-8 password");

    ok(!secauth_password_verify(p, "pbkdf2:sha256$4Lf4YDPQ3XsQWIQK$ccd63445d78efae968a325758b89f463"
                                   "a639ce9f64e68002d82cbc7d9699fadf", PASSWORD),
       "pbkdf2 without iterations is refused");
    ok(!secauth_password_verify(p, "pbkdf2:md5:1000$4Lf4YDPQ3XsQWIQK$ccd63445d78efae968a325758b89f463",
                                PASSWORD), "unknown pbkdf2 digest is refused");
    ok(!secauth_password_verify(p, "pbkdf2:sha256:1000$4Lf4YDPQ3XsQWIQK$ccd63445d78efae968a325758b89f463",
                                PASSWORD), "truncated digest is refused");
    ok(!secauth_password_verify(p, "scrypt:1000:8:1$J4PgHMpvHHdGHyuz$00b3", PASSWORD),
       "scrypt N not a power of two is refused");
    ok(!secauth_password_verify(p, "scrypt:1024:8$J4PgHMpvHHdGHyuz$00b3", PASSWORD),
       "scrypt with two parameters is refused");
    ok(!secauth_password_verify(p, "sha256$salt$" "ccd63445d78efae968a325758b89f463", PASSWORD),
       "old salted-hash method is refused");
    ok(!secauth_password_verify(p, "plaintext", "plaintext"), "a bare string is refused");
    ok(!secauth_password_verify(p, "", ""), "empty stored string is refused");
    ok(!secauth_password_verify(p, NULL, PASSWORD), "NULL stored string is refused");
}

static void test_normalize_length(apr_pool_t *p)
{
    is_str(secauth_password_normalize(p, "Qwertyuiop12!"), "qwertyuiop", "normalize Qwertyuiop12!");
    is_str(secauth_password_normalize(p, "password1234"), "password", "normalize password1234");
    is_str(secauth_password_normalize(p, "P@ssw0rd!!"), "p@ssw0rd", "only trailing symbols go");
    is_str(secauth_password_normalize(p, "123456789012"), "", "all digits normalize to nothing");
    is_str(secauth_password_normalize(p, "Hello World 1"), "hello world ", "space is not punctuation");
    is_str(secauth_password_normalize(p, "ÄBC1"), "Äbc", "only ASCII is lower-cased");
    is_str(secauth_password_normalize(p, ""), "", "empty stays empty");

    is_int(secauth_utf8_length("héllo"), 5, "utf8_length(héllo)");
    is_int(secauth_utf8_length("hello"), 5, "utf8_length(hello)");
    is_int(secauth_utf8_length("✓€𝄞"), 3, "utf8_length of 3-byte and 4-byte characters");
    is_int(secauth_utf8_length(""), 0, "utf8_length of nothing");
}

static void test_policy(apr_pool_t *p, apr_hash_t *common)
{
    char *long_password = apr_palloc(p, 129);
    int i;

    for (i = 0; i < 128; i++) {
        long_password[i] = "abcdefghijklmnopqrstuvwxyz"[i % 26];
    }
    long_password[128] = '\0';

    is_str(secauth_password_policy(p, "password1234", "testuser", 12, 128, common),
           "is too common", "password1234 is too common");
    is_str(secauth_password_policy(p, "Qwertyuiop12!", "testuser", 12, 128, common),
           "is too common", "Qwertyuiop12! is too common");
    is_str(secauth_password_policy(p, "123456789012", "testuser", 12, 128, common),
           "is too common", "123456789012 is too common");
    is_str(secauth_password_policy(p, "!!!!????....", "testuser", 12, 128, common),
           "is too common", "punctuation only is too common");
    is_str(secauth_password_policy(p, "securepassword", "testuser", 12, 128, common),
           NULL, "securepassword is accepted");
    is_str(secauth_password_policy(p, PASSWORD, "testuser", 12, 128, common),
           NULL, "a passphrase is accepted");

    is_str(secauth_password_policy(p, "short", "testuser", 12, 128, common),
           "must be at least 12 characters", "too short");
    is_str(secauth_password_policy(p, "ééééééééééé", "testuser", 12, 128, common),
           "must be at least 12 characters", "11 characters in 22 bytes is too short");
    is_str(secauth_password_policy(p, "éééééééééééé", "testuser", 12, 128, common),
           NULL, "12 two-byte characters are enough");
    is_str(secauth_password_policy(p, " abcdefghijk", "testuser", 12, 128, common),
           NULL, "a leading space counts: nothing is trimmed");
    is_int(strlen(long_password), 128, "the long password has 128 characters");
    is_str(secauth_password_policy(p, long_password, "testuser", 12, 128, common),
           NULL, "128 characters are accepted");
    is_str(secauth_password_policy(p, apr_pstrcat(p, long_password, "x", NULL), "testuser", 12, 128, common),
           "must be at most 128 characters", "129 characters are refused");
    is_str(secauth_password_policy(p, "quiteshort", "testuser", 16, 128, common),
           "must be at least 16 characters", "the minimum comes from the caller");

    is_str(secauth_password_policy(p, "testuser", "testuser", 8, 128, common),
           "must not contain the username", "equal to the username");
    is_str(secauth_password_policy(p, "my-TestUser-secret", "testuser", 12, 128, common),
           "must not contain the username", "containing the username, any case");
    is_str(secauth_password_policy(p, "my-test-user-secret", "testuser", 12, 128, common),
           NULL, "a split username is fine");

    is_str(secauth_password_policy(p, "password1234", "testuser", 12, 128, NULL),
           NULL, "without a list only the rules above apply");
    is_str(secauth_password_policy(p, "123456789012", "testuser", 12, 128, NULL),
           "is too common", "without a list a digits-only password is still refused");
}

static void test_common_list(apr_pool_t *p, apr_hash_t *common, const char *err)
{
    apr_hash_t *john, *missing;
    const char *missing_err = NULL;

    ok(common != NULL, "common list loads%s%s", err ? ": " : "", err ? err : "");
    ok(common && apr_hash_count(common) >= 1000, "common list has at least 1000 entries (%u)",
       common ? apr_hash_count(common) : 0);
    ok(common && apr_hash_get(common, "qwertyuiop", APR_HASH_KEY_STRING), "qwertyuiop is listed");
    ok(common && apr_hash_get(common, "password", APR_HASH_KEY_STRING), "password is listed");
    ok(common && !apr_hash_get(common, "securepassword", APR_HASH_KEY_STRING),
       "securepassword is not listed");

    john = secauth_common_passwords_load(p, JOHN_LIST, &missing_err);
    if (john) {
        is_int(apr_hash_count(john), common ? apr_hash_count(common) : 0,
               "the raw upstream list normalizes to the same set");
    }
    else {
        ok(1, "# skip %s not installed", JOHN_LIST);
    }

    missing = secauth_common_passwords_load(p, "/nonexistent/common-passwords.txt", &missing_err);
    ok(missing == NULL && missing_err && strstr(missing_err, "/nonexistent/common-passwords.txt"),
       "a missing file gives NULL and an error naming it");
}

int main(void)
{
    apr_pool_t *p;
    apr_hash_t *common;
    const char *datadir = getenv("SECAUTH_DATADIR"), *err = NULL;

    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&p, NULL);

    common = secauth_common_passwords_load(
        p, apr_pstrcat(p, datadir && *datadir ? datadir : "data", "/common-passwords.txt", NULL), &err);

    test_argon2id(p);
    test_phc_strings(p);
    test_werkzeug(p);
    test_normalize_length(p);
    test_common_list(p, common, err);
    test_policy(p, common);
    test_gate(p);

    apr_pool_destroy(p);
    return done_testing();
}
