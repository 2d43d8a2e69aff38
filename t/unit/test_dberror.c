/* test_dberror.c — which database errors are retried, which answer 409 or 503, and the limit of
 * one error line per second per cause. */
#include "tap.h"
#include "dberror.h"

int main(void)
{
    apr_uint32_t held = 99;
    apr_time_t t0 = apr_time_from_sec(1700000000);
    int i, logged;

    /* MySQL / MariaDB: APR's driver passes the errno on */
    is_int(secauth_fail_classify("mysql", 1213, "Deadlock found when trying to get lock; try restarting transaction"),
           SECAUTH_FAIL_CONFLICT, "1213 (Galera certification failure, SQLSTATE 40001) is retried");
    is_int(secauth_fail_classify("mysql", 1047, "WSREP has not yet prepared node for application use"),
           SECAUTH_FAIL_NOT_PRIMARY, "1047: node outside the primary component");
    is_int(secauth_fail_classify("mysql", 2013, "Lost connection to server during query"),
           SECAUTH_FAIL_UNKNOWN, "2013 during a write: outcome unknown");
    is_int(secauth_fail_classify("mysql", 2006, "MySQL server has gone away"),
           SECAUTH_FAIL_UNKNOWN, "2006: outcome unknown");
    is_int(secauth_fail_classify("mysql", 1062, "Duplicate entry 'a' for key 'username'"),
           SECAUTH_FAIL_DUPLICATE, "1062: duplicate key");
    is_int(secauth_fail_classify("mysql", 2003, "Can't connect to server on '127.0.0.1'"),
           SECAUTH_FAIL_CONNECT, "2003: no connection");
    is_int(secauth_fail_classify("mysql", 1, "Deadlock found when trying to get lock"),
           SECAUTH_FAIL_CONFLICT, "a driver path without the errno: told by the text");
    is_int(secauth_fail_classify("mysql", 1, ""), SECAUTH_FAIL_OTHER,
           "an empty reason is not guessed to be a conflict");
    is_int(secauth_fail_classify("mysql", 1146, "Table 'x' doesn't exist"), SECAUTH_FAIL_OTHER,
           "other errors: plain 503");
    /* SQLite never reports a certification conflict; BUSY stays a 503 */
    is_int(secauth_fail_classify("sqlite3", 19, "UNIQUE constraint failed: users.username"),
           SECAUTH_FAIL_DUPLICATE, "SQLite UNIQUE: duplicate");
    is_int(secauth_fail_classify("sqlite3", 1, "UNIQUE constraint failed: login_throttle.name_hash"),
           SECAUTH_FAIL_DUPLICATE, "SQLite UNIQUE under any result code the driver passes on");
    is_int(secauth_fail_classify("sqlite3", 5, "database is locked"), SECAUTH_FAIL_OTHER,
           "SQLite BUSY: 503, not retried as a conflict");
    is_int(secauth_fail_classify("sqlite3", 1213, "Deadlock found"), SECAUTH_FAIL_OTHER,
           "MySQL numbers mean nothing for SQLite");

    /* the line limiter: the first of a second logs, the rest are counted into the next line */
    ok(secauth_fail_should_log(SECAUTH_FAIL_UNKNOWN, t0, &held), "first line logs");
    is_int(held, 0, "nothing held back before it");
    for (logged = 0, i = 0; i < 500; i++) {
        logged += secauth_fail_should_log(SECAUTH_FAIL_UNKNOWN, t0 + i * 1000, &held);
    }
    is_int(logged, 0, "500 more in the same second stay silent");
    ok(secauth_fail_should_log(SECAUTH_FAIL_NOT_PRIMARY, t0, &held),
       "another cause has its own budget");
    ok(secauth_fail_should_log(SECAUTH_FAIL_UNKNOWN, t0 + apr_time_from_sec(1), &held),
       "the next second logs again");
    is_int(held, 500, "with the count of the lines held back");
    ok(!secauth_fail_should_log(SECAUTH_FAIL_UNKNOWN, t0 + apr_time_from_sec(1), &held),
       "and then is silent for that second");
    return done_testing();
}
