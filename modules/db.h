/* db.h — mod_dbd glue: statements prepared once per pooled connection (per driver where the
 * SQL differs), the request's connection, typed (binary) parameters and fully fetched rows. */
#ifndef SECAUTH_DB_H
#define SECAUTH_DB_H

#include "httpd.h"
#include "apr_dbd.h"
#include "mod_dbd.h"

/* One statement: its label and SQL in APR DBD syntax (%s string, %d int, %lld 64-bit);
 * sqlite is the SQLite text where it differs from the MySQL one (NULL: the same). */
typedef struct {
    const char *label;
    const char *mysql;
    const char *sqlite;
} secauth_stmt_t;

typedef struct {
    int nrows;
    int ncols;
    const char ***rows;   /* rows[i][j]; NULL for SQL NULL; copied into the request pool */
} secauth_rows_t;

/* Outcome of a statement. */
#define SECAUTH_DB_OK         0
#define SECAUTH_DB_ERROR     -1   /* logged; the caller answers 503 */
#define SECAUTH_DB_DUPLICATE -2   /* a unique key refused the row */
#define SECAUTH_DB_CONFLICT  -3   /* deadlock or Galera certification conflict: nothing was
                                   * written; run the whole transaction again */

/* Times a transaction runs again after a certification conflict before the answer is 503. */
#define SECAUTH_DB_RETRIES 3

/* After a transaction's statement or COMMIT returned rc on attempt (0 the first): 1 when rc is a
 * conflict with retries left (after a short pause); 0 otherwise (logged when they ran out).
 * A statement outside a transaction is retried this way by secauth_db_exec/select already. */
int secauth_db_retry(request_rec *r, int rc, int attempt, const char *label);

/* Looks up mod_dbd's optional functions; 0 when mod_dbd is missing. */
int secauth_db_init(void);

/* Registers a NULL-terminated statement table with mod_dbd for server s (post_config,
 * before mod_dbd's own post_config). */
void secauth_db_prepare(server_rec *s, const char *driver, const secauth_stmt_t *stmts);

/* Sets up the reuse of connections between this child's requests (child_init; threaded MPMs
 * only). 0 on success; without it every request takes its connection from mod_dbd. */
int secauth_db_child_init(apr_pool_t *pchild, int threaded);

/* The request's pooled connection, or NULL when the database cannot be reached. */
ap_dbd_t *secauth_db_acquire(request_rec *r);

/* Runs a statement that changes rows. args are pointers matching the placeholders:
 * const char * for %s, int * for %d, apr_int64_t * for %lld, NULL for SQL NULL. */
int secauth_db_exec(request_rec *r, ap_dbd_t *dbd, const char *label, const void **args,
                    int *affected);

/* Runs a query and fetches every row into out. */
int secauth_db_select(request_rec *r, ap_dbd_t *dbd, const char *label, const void **args,
                      secauth_rows_t *out);

/* The id of the row just inserted on this connection. */
int secauth_db_last_id(request_rec *r, ap_dbd_t *dbd, int *id);

/* Starts / ends a transaction on the request's connection: mode 1 commit, 0 roll back. */
int secauth_db_begin(request_rec *r, ap_dbd_t *dbd, apr_dbd_transaction_t **txn);
int secauth_db_end(request_rec *r, ap_dbd_t *dbd, apr_dbd_transaction_t *txn, int commit);

/* Statements shared by several parts. */
extern const secauth_stmt_t secauth_db_statements[];

/* "YYYY-MM-DD HH:MM:SS" (either driver) → "YYYY-MM-DDTHH:MM:SSZ". */
const char *secauth_db_iso_time(apr_pool_t *p, const char *db_time);

/* t as a DATETIME value in UTC, as the columns hold it: the module gives the times it writes
 * rather than the database's clock and zone, so that both drivers store the same thing. */
const char *secauth_db_time(apr_pool_t *p, apr_time_t t);

/* Now in unix seconds, the unit of the columns locked_until, expires_at, used_at... */
apr_int64_t secauth_now_sec(void);

/* Outside any request (child_init): a connection of server s from mod_dbd, given back with
 * secauth_db_close_outside; NULL when the database cannot be reached. */
ap_dbd_t *secauth_db_open_outside(apr_pool_t *p, server_rec *s);
void secauth_db_close_outside(server_rec *s, ap_dbd_t *dbd);

/* Runs a prepared statement on such a connection: with row, a query whose first row is copied
 * into *row (NULL when none); without, a change whose row count goes to *affected. 0, or -1
 * after logging the failure. */
int secauth_db_run_outside(apr_pool_t *p, server_rec *s, ap_dbd_t *dbd, const char *label,
                           const void **args, int *affected, const char ***row);

#endif
