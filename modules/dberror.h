/* dberror.h — what a failed database call means for the request (a Galera certification
 * conflict to retry, a node outside the primary component, a commit whose outcome is unknown),
 * and error lines limited to one a second per cause during an outage. Pure: APR only. */
#ifndef SECAUTH_DBERROR_H
#define SECAUTH_DBERROR_H

#include "apr.h"
#include "apr_time.h"

typedef enum {
    SECAUTH_FAIL_OTHER = 0,    /* any other error: 503 */
    SECAUTH_FAIL_DUPLICATE,    /* a unique key refused the row: the caller's 409 */
    SECAUTH_FAIL_CONFLICT,     /* deadlock / certification conflict: nothing was written, retry */
    SECAUTH_FAIL_NOT_PRIMARY,  /* the node is not in the primary component: 503, no retry there */
    SECAUTH_FAIL_UNKNOWN,      /* the connection went during the statement: it may have committed */
    SECAUTH_FAIL_CONNECT,      /* no connection at all */
    SECAUTH_FAIL_CAUSES
} secauth_fail_t;

/* The meaning of rv (the driver's error code: MySQL's errno, SQLite's result code) and msg
 * (the driver's text, may be NULL or empty) for driver "mysql" or "sqlite3". */
secauth_fail_t secauth_fail_classify(const char *driver, int rv, const char *msg);

/* A short name of the cause for log lines. */
const char *secauth_fail_name(secauth_fail_t cause);

/* One error line per second per cause: returns 1 when the caller should log now, with
 * *suppressed set to the lines of that cause held back since the last one; 0 when it should
 * stay silent (the line is counted). Lock-free, per process. */
int secauth_fail_should_log(secauth_fail_t cause, apr_time_t now, apr_uint32_t *suppressed);

#endif
