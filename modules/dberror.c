/* dberror.c — the classification of database errors that decides between retrying, 409 and
 * 503, and the limit on error lines that keeps an outage from flooding the log. */
#include "dberror.h"

#include <string.h>
#include "apr_atomic.h"

/* MySQL / MariaDB error numbers (mysqld_error.h, errmsg.h), kept here so the module does not
 * link the client library only for its headers. */
#define ER_UNKNOWN_COM_ERROR     1047   /* Galera: "WSREP has not yet prepared node ..." */
#define ER_DUP_ENTRY             1062
#define ER_LOCK_WAIT_TIMEOUT     1205
#define ER_LOCK_DEADLOCK         1213   /* also Galera's certification failure (SQLSTATE 40001) */
#define ER_QUERY_INTERRUPTED     1317
#define ER_ERROR_DURING_COMMIT   1180
#define CR_CONNECTION_ERROR      2002
#define CR_CONN_HOST_ERROR       2003
#define CR_SERVER_GONE_ERROR     2006
#define CR_SERVER_LOST           2013
#define CR_SERVER_LOST_EXTENDED  2055

static int contains(const char *msg, const char *part)
{
    return msg && strstr(msg, part) != NULL;
}

static secauth_fail_t classify_mysql(int rv, const char *msg)
{
    switch (rv) {
    case ER_DUP_ENTRY:
        return SECAUTH_FAIL_DUPLICATE;
    case ER_LOCK_DEADLOCK:
        return SECAUTH_FAIL_CONFLICT;
    case ER_UNKNOWN_COM_ERROR:
        return SECAUTH_FAIL_NOT_PRIMARY;
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case ER_QUERY_INTERRUPTED:
        return SECAUTH_FAIL_UNKNOWN;
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
        return SECAUTH_FAIL_CONNECT;
    default:
        break;
    }
    /* a few driver paths answer 1 or -1 and leave only the text */
    if (contains(msg, "Duplicate entry")) return SECAUTH_FAIL_DUPLICATE;
    if (contains(msg, "Deadlock found")) return SECAUTH_FAIL_CONFLICT;
    if (contains(msg, "WSREP has not yet prepared")) return SECAUTH_FAIL_NOT_PRIMARY;
    if (contains(msg, "Lost connection") || contains(msg, "has gone away")) {
        return SECAUTH_FAIL_UNKNOWN;
    }
    return SECAUTH_FAIL_OTHER;
}

secauth_fail_t secauth_fail_classify(const char *driver, int rv, const char *msg)
{
    if (driver && !strcmp(driver, "mysql")) {
        return classify_mysql(rv, msg);
    }
    /* APR's SQLite driver passes on a result code that is not always the primary one: the text
     * is what tells a unique key apart */
    (void)rv;
    if (contains(msg, "UNIQUE constraint")) {
        return SECAUTH_FAIL_DUPLICATE;
    }
    return SECAUTH_FAIL_OTHER;
}

const char *secauth_fail_name(secauth_fail_t cause)
{
    static const char *const names[SECAUTH_FAIL_CAUSES] = {
        "database error", "duplicate key", "certification conflict",
        "node not in the primary component", "commit outcome unknown", "no connection"
    };
    return (unsigned)cause < SECAUTH_FAIL_CAUSES ? names[cause] : names[0];
}

static volatile apr_uint32_t last_logged[SECAUTH_FAIL_CAUSES];
static volatile apr_uint32_t held_back[SECAUTH_FAIL_CAUSES];

int secauth_fail_should_log(secauth_fail_t cause, apr_time_t now, apr_uint32_t *suppressed)
{
    /* +1: second 0 must differ from the never-logged state */
    apr_uint32_t second = (apr_uint32_t)apr_time_sec(now) + 1, last;

    if ((unsigned)cause >= SECAUTH_FAIL_CAUSES) {
        cause = SECAUTH_FAIL_OTHER;
    }
    last = apr_atomic_read32(&last_logged[cause]);
    if (last != second && apr_atomic_cas32(&last_logged[cause], second, last) == last) {
        *suppressed = apr_atomic_xchg32(&held_back[cause], 0);
        return 1;
    }
    apr_atomic_inc32(&held_back[cause]);
    return 0;
}
