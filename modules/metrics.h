/* metrics.h — the module's counters, gauges and histograms, kept in one shared-memory block that
 * every child of the node increments lock-free (APR atomics), and their exposition in the
 * Prometheus text format 0.0.4 and in mod_status's forms. Free of httpd types: the parts that
 * count (password.c, db.c, accounts.c) and the unit tests link it alone. Before the block is
 * attached (unit tests of other parts, tools) every call is a no-op. */
#ifndef SECAUTH_METRICS_H
#define SECAUTH_METRICS_H

#include <apr_pools.h>
#include <apr_time.h>

/* Every counter series: a family and one fixed label value (never input). */
typedef enum {
    SECAUTH_M_LOGIN_OK,
    SECAUTH_M_LOGIN_INVALID,
    SECAUTH_M_LOGIN_LOCKED,
    SECAUTH_M_LOGIN_ENROLMENT_PENDING,
    SECAUTH_M_LOGIN_UNAVAILABLE,
    SECAUTH_M_LOGIN_BAD_REQUEST,
    SECAUTH_M_LOGIN_ERROR,
    SECAUTH_M_2FA_TOTP_OK,
    SECAUTH_M_2FA_TOTP_INVALID,
    SECAUTH_M_2FA_TOTP_REPLAYED,
    SECAUTH_M_2FA_TOTP_UNAVAILABLE,
    SECAUTH_M_2FA_RECOVERY_OK,
    SECAUTH_M_2FA_RECOVERY_INVALID,
    SECAUTH_M_2FA_RECOVERY_UNAVAILABLE,
    SECAUTH_M_2FA_ENROLMENT_OK,
    SECAUTH_M_2FA_ENROLMENT_INVALID,
    SECAUTH_M_LOCKOUTS,
    SECAUTH_M_REGISTER_OK,
    SECAUTH_M_REGISTER_INVALID,
    SECAUTH_M_REGISTER_TAKEN,
    SECAUTH_M_REGISTER_UNAVAILABLE,
    SECAUTH_M_REGISTER_ERROR,
    SECAUTH_M_REGISTER_THROTTLED,
    SECAUTH_M_TOKEN_CHECK_OK,
    SECAUTH_M_TOKEN_CHECK_MISSING,
    SECAUTH_M_TOKEN_CHECK_INVALID,
    SECAUTH_M_TOKEN_CHECK_EXPIRED,
    SECAUTH_M_TOKEN_CHECK_REVOKED,
    SECAUTH_M_TOKEN_CHECK_DISABLED,
    SECAUTH_M_TOKEN_CHECK_UNAVAILABLE,
    SECAUTH_M_TOKEN_ISSUED_ACCESS,
    SECAUTH_M_TOKEN_ISSUED_ENROLL,
    SECAUTH_M_DB_ERROR_CONNECT,
    SECAUTH_M_DB_ERROR_QUERY,
    SECAUTH_M_DB_ERROR_CONFLICT,
    SECAUTH_M_DB_CALLS,
    /* the per-node state cache (API.md §12) counts its lookups here */
    SECAUTH_M_STATE_CACHE_HITS,
    SECAUTH_M_STATE_CACHE_MISSES,
    SECAUTH_M_COUNTERS
} secauth_counter_e;

/* Gauges each process sets for itself; the exposition sums them over the live children. */
typedef enum {
    SECAUTH_G_HASH_SLOTS_BUSY,
    SECAUTH_G_HASH_SLOTS,
    SECAUTH_G_GAUGES
} secauth_gauge_e;

/* Values of the node as a whole, set by whichever process knows them. */
typedef enum {
    SECAUTH_N_STATE_FEED_READ,   /* apr_time_t of the change feed's last successful read */
    SECAUTH_N_VALUES
} secauth_node_value_e;

/* Histograms; SECAUTH_H_REQUEST is followed by one histogram per route. */
typedef enum {
    SECAUTH_H_LOGIN,
    SECAUTH_H_ACCESS_CHECK,
    SECAUTH_H_REQUEST
} secauth_histogram_e;

#define SECAUTH_METRICS_MAX_ROUTES 48

/* ---- counting (any process, any thread) ---- */

void secauth_metrics_inc(secauth_counter_e counter);
void secauth_metrics_gauge_add(secauth_gauge_e gauge, int delta);
void secauth_metrics_gauge_set(secauth_gauge_e gauge, int value);
void secauth_metrics_node_set(secauth_node_value_e which, apr_int64_t value);
/* One observation of duration; route is the route's index for SECAUTH_H_REQUEST, else 0. */
void secauth_metrics_observe(secauth_histogram_e histogram, int route, apr_interval_time_t duration);

/* Outcomes of a second factor: accepted 1, refused 0, the database failed < 0. */
void secauth_metrics_totp(int outcome, int replayed);
void secauth_metrics_recovery(int outcome);
void secauth_metrics_enrolment_code(int outcome);
/* A token was issued: enrolment (1) or access (0). */
void secauth_metrics_token_issued(int enrolment);

/* ---- the block ---- */

/* Creates the block for up to processes children, or takes over the one an earlier generation
 * of this server made (kept in process_pool: the counters go on across graceful restarts).
 * Called in the parent at post_config. 0 on success. */
int secauth_metrics_create(apr_pool_t *process_pool, int processes);

/* The labels of the routes (method and pattern, static strings), in route order. */
void secauth_metrics_set_routes(const char *const *methods, const char *const *patterns, int n);

/* A child claims its slot for the per-process gauges; released when pchild goes. */
int secauth_metrics_child_init(apr_pool_t *pchild);

/* ---- exposition ---- */

typedef enum {
    SECAUTH_METRICS_PROMETHEUS,   /* text format 0.0.4 */
    SECAUTH_METRICS_STATUS        /* mod_status ?auto: "name{labels}: value" lines, histograms
                                   * as their _count and _sum only */
} secauth_metrics_format_e;

/* The whole exposition as one NUL-terminated string from p; build is the build_info labels
 * (e.g. version="0.1.0",mpm="event"). NULL when no block is attached. */
const char *secauth_metrics_render(apr_pool_t *p, secauth_metrics_format_e format,
                                   const char *build, apr_time_t now);

#endif
