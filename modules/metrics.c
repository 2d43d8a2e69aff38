/* metrics.c — the shared-memory block of the module's metrics and their exposition. One
 * anonymous APR shm segment, made by the parent before it forks and kept in the process pool,
 * so every child of every generation adds to the same counters: nothing to sum at scrape time,
 * no lock, and a graceful restart carries the figures on. Gauges that belong to a process
 * (the hashing gate's places) live in that process's slot and are summed over the slots of live
 * processes, so a child that dies holding a place does not leave the gauge raised. */
#include "metrics.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <apr_atomic.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <apr_tables.h>

#define BLOCK_KEY "secauth-metrics-block"
#define BLOCK_MAGIC 0x5341344dU

/* Upper bounds in microseconds; one more bucket counts what is above the last (+Inf). From
 * half a millisecond (a cached access check) to ten seconds (a database timeout). */
static const apr_interval_time_t bucket_bounds[] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
    5000000, 10000000
};
static const char *const bucket_labels[] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
    "2.5", "5", "10"
};
#define BUCKETS (sizeof(bucket_bounds) / sizeof(bucket_bounds[0]))

typedef struct {
    volatile apr_uint64_t bucket[BUCKETS + 1];
    volatile apr_uint64_t sum_usec;
} histogram_t;

typedef struct {
    volatile apr_uint32_t pid;    /* 0: free */
    volatile apr_uint32_t gauge[SECAUTH_G_GAUGES];
} process_slot_t;

typedef struct {
    apr_uint32_t magic;
    apr_uint32_t size;
    apr_uint32_t processes;
    volatile apr_uint64_t counter[SECAUTH_M_COUNTERS];
    volatile apr_uint64_t node[SECAUTH_N_VALUES];
    histogram_t histogram[SECAUTH_H_REQUEST + SECAUTH_METRICS_MAX_ROUTES];
    process_slot_t process[];
} block_t;

static block_t *block;
static process_slot_t *own_slot;
static const char *const *route_methods;
static const char *const *route_patterns;
static int route_count;

/* ---- what is exposed: families and the label values of each counter series ---- */

typedef struct {
    const char *name;
    const char *type;
    const char *help;
} family_t;

enum { F_LOGINS, F_SECOND_FACTOR, F_LOCKOUTS, F_REGISTRATIONS, F_TOKEN_CHECKS,
       F_TOKENS_ISSUED, F_DB_ERRORS, F_DB_CALLS, F_CACHE_HITS, F_CACHE_MISSES };

static const family_t counter_families[] = {
    {"secauth_logins_total", "counter", "Login attempts (POST /login) by outcome."},
    {"secauth_second_factor_total", "counter",
     "Second factors checked: TOTP codes and recovery codes at login, codes confirming enrolment."},
    {"secauth_lockouts_total", "counter",
     "Accounts (or unknown names) locked after consecutive failures."},
    {"secauth_registrations_total", "counter", "Registrations (POST /register) by outcome."},
    {"secauth_token_checks_total", "counter", "Bearer access checks by outcome."},
    {"secauth_tokens_issued_total", "counter", "Tokens signed, by kind."},
    {"secauth_db_errors_total", "counter",
     "Database failures: no connection, a failed statement, a row refused by a unique key."},
    {"secauth_db_calls_total", "counter", "Statements run on the database."},
    {"secauth_state_cache_hits_total", "counter",
     "Lookups answered from the per-node state cache."},
    {"secauth_state_cache_misses_total", "counter",
     "Lookups the per-node state cache sent to the database."},
};

typedef struct {
    int family;
    const char *labels;
} series_t;

/* In the order of secauth_counter_e. */
static const series_t counter_series[SECAUTH_M_COUNTERS] = {
    {F_LOGINS, "result=\"ok\""},
    {F_LOGINS, "result=\"invalid\""},
    {F_LOGINS, "result=\"locked\""},
    {F_LOGINS, "result=\"enrolment_pending\""},
    {F_LOGINS, "result=\"unavailable\""},
    {F_LOGINS, "result=\"bad_request\""},
    {F_LOGINS, "result=\"error\""},
    {F_SECOND_FACTOR, "kind=\"totp\",result=\"ok\""},
    {F_SECOND_FACTOR, "kind=\"totp\",result=\"invalid\""},
    {F_SECOND_FACTOR, "kind=\"totp\",result=\"replayed\""},
    {F_SECOND_FACTOR, "kind=\"totp\",result=\"unavailable\""},
    {F_SECOND_FACTOR, "kind=\"recovery\",result=\"ok\""},
    {F_SECOND_FACTOR, "kind=\"recovery\",result=\"invalid\""},
    {F_SECOND_FACTOR, "kind=\"recovery\",result=\"unavailable\""},
    {F_SECOND_FACTOR, "kind=\"enrolment\",result=\"ok\""},
    {F_SECOND_FACTOR, "kind=\"enrolment\",result=\"invalid\""},
    {F_LOCKOUTS, NULL},
    {F_REGISTRATIONS, "result=\"ok\""},
    {F_REGISTRATIONS, "result=\"invalid\""},
    {F_REGISTRATIONS, "result=\"taken\""},
    {F_REGISTRATIONS, "result=\"unavailable\""},
    {F_REGISTRATIONS, "result=\"error\""},
    {F_REGISTRATIONS, "result=\"throttled\""},
    {F_TOKEN_CHECKS, "result=\"ok\""},
    {F_TOKEN_CHECKS, "result=\"missing\""},
    {F_TOKEN_CHECKS, "result=\"invalid\""},
    {F_TOKEN_CHECKS, "result=\"expired\""},
    {F_TOKEN_CHECKS, "result=\"revoked\""},
    {F_TOKEN_CHECKS, "result=\"disabled\""},
    {F_TOKEN_CHECKS, "result=\"unavailable\""},
    {F_TOKENS_ISSUED, "kind=\"access\""},
    {F_TOKENS_ISSUED, "kind=\"enroll\""},
    {F_DB_ERRORS, "kind=\"connect\""},
    {F_DB_ERRORS, "kind=\"query\""},
    {F_DB_ERRORS, "kind=\"conflict\""},
    {F_DB_CALLS, NULL},
    {F_CACHE_HITS, NULL},
    {F_CACHE_MISSES, NULL},
};

static const family_t gauge_families[SECAUTH_G_GAUGES] = {
    {"secauth_hash_slots_busy", "gauge",
     "Places of the password hashing gate in use (SecAuthHashConcurrency per child), all children."},
    {"secauth_hash_slots", "gauge", "Places of the password hashing gate, all children."},
};

static const family_t histogram_families[] = {
    {"secauth_login_duration_seconds", "histogram",
     "Time to answer POST /login, from the request line until the answer is ready."},
    {"secauth_access_check_duration_seconds", "histogram",
     "Time the bearer access check takes (token verification and its database lookup)."},
    {"secauth_request_duration_seconds", "histogram",
     "Time to answer a request of the API that reached its handler, by route (method and path pattern)."},
};

/* ---- counting ---- */

void secauth_metrics_inc(secauth_counter_e counter)
{
    if (block && counter >= 0 && counter < SECAUTH_M_COUNTERS) {
        apr_atomic_inc64(&block->counter[counter]);
    }
}

void secauth_metrics_gauge_add(secauth_gauge_e gauge, int delta)
{
    if (own_slot && gauge >= 0 && gauge < SECAUTH_G_GAUGES) {
        apr_atomic_add32(&own_slot->gauge[gauge], (apr_uint32_t)delta);
    }
}

void secauth_metrics_gauge_set(secauth_gauge_e gauge, int value)
{
    if (own_slot && gauge >= 0 && gauge < SECAUTH_G_GAUGES) {
        apr_atomic_set32(&own_slot->gauge[gauge], (apr_uint32_t)value);
    }
}

void secauth_metrics_node_set(secauth_node_value_e which, apr_int64_t value)
{
    if (block && which >= 0 && which < SECAUTH_N_VALUES) {
        apr_atomic_set64(&block->node[which], (apr_uint64_t)value);
    }
}

void secauth_metrics_observe(secauth_histogram_e histogram, int route,
                             apr_interval_time_t duration)
{
    int index = histogram == SECAUTH_H_REQUEST ? SECAUTH_H_REQUEST + route : (int)histogram;
    histogram_t *h;
    apr_size_t i;

    if (!block || index < 0 || index >= SECAUTH_H_REQUEST + route_count) {
        return;
    }
    if (duration < 0) {
        duration = 0;
    }
    h = &block->histogram[index];
    for (i = 0; i < BUCKETS && duration > bucket_bounds[i]; i++);
    apr_atomic_inc64(&h->bucket[i]);
    apr_atomic_add64(&h->sum_usec, (apr_uint64_t)duration);
}

void secauth_metrics_totp(int outcome, int replayed)
{
    secauth_metrics_inc(outcome > 0 ? SECAUTH_M_2FA_TOTP_OK
                        : outcome < 0 ? SECAUTH_M_2FA_TOTP_UNAVAILABLE
                        : replayed ? SECAUTH_M_2FA_TOTP_REPLAYED : SECAUTH_M_2FA_TOTP_INVALID);
}

void secauth_metrics_recovery(int outcome)
{
    secauth_metrics_inc(outcome > 0 ? SECAUTH_M_2FA_RECOVERY_OK
                        : outcome < 0 ? SECAUTH_M_2FA_RECOVERY_UNAVAILABLE
                        : SECAUTH_M_2FA_RECOVERY_INVALID);
}

void secauth_metrics_enrolment_code(int outcome)
{
    secauth_metrics_inc(outcome > 0 ? SECAUTH_M_2FA_ENROLMENT_OK : SECAUTH_M_2FA_ENROLMENT_INVALID);
}

void secauth_metrics_token_issued(int enrolment)
{
    secauth_metrics_inc(enrolment ? SECAUTH_M_TOKEN_ISSUED_ENROLL : SECAUTH_M_TOKEN_ISSUED_ACCESS);
}

/* ---- the block and the processes' slots ---- */

static apr_size_t block_size(int processes)
{
    return offsetof(block_t, process) + (apr_size_t)processes * sizeof(process_slot_t);
}

int secauth_metrics_create(apr_pool_t *process_pool, int processes)
{
    apr_size_t size = block_size(processes);
    apr_shm_t *shm = NULL;
    void *kept = NULL;
    block_t *b;

    apr_pool_userdata_get(&kept, BLOCK_KEY, process_pool);
    if (kept) {
        b = apr_shm_baseaddr_get(kept);
        if (b->magic == BLOCK_MAGIC && b->size == size) {
            block = b;
            return 0;
        }
    }
    if (apr_shm_create(&shm, size, NULL, process_pool) != APR_SUCCESS) {
        return -1;
    }
    b = apr_shm_baseaddr_get(shm);
    memset(b, 0, size);
    b->magic = BLOCK_MAGIC;
    b->size = (apr_uint32_t)size;
    b->processes = (apr_uint32_t)processes;
    /* the key is copied: this module's strings go away when a restart unloads it */
    apr_pool_userdata_set(shm, BLOCK_KEY, NULL, process_pool);
    block = b;
    return 0;
}

void secauth_metrics_set_routes(const char *const *methods, const char *const *patterns, int n)
{
    route_methods = methods;
    route_patterns = patterns;
    route_count = n < SECAUTH_METRICS_MAX_ROUTES ? n : SECAUTH_METRICS_MAX_ROUTES;
}

static int process_alive(apr_uint32_t pid)
{
    return pid && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static apr_status_t release_slot(void *data)
{
    process_slot_t *slot = data;
    int g;

    own_slot = NULL;
    for (g = 0; g < SECAUTH_G_GAUGES; g++) {
        apr_atomic_set32(&slot->gauge[g], 0);
    }
    apr_atomic_set32(&slot->pid, 0);
    return APR_SUCCESS;
}

int secauth_metrics_child_init(apr_pool_t *pchild)
{
    apr_uint32_t self = (apr_uint32_t)getpid(), owner, i;
    int g;

    if (!block) {
        return -1;
    }
    /* a free slot, or one whose process died without giving it back */
    for (i = 0; i < block->processes; i++) {
        process_slot_t *slot = &block->process[i];
        owner = apr_atomic_read32(&slot->pid);
        if ((owner == 0 || !process_alive(owner))
            && apr_atomic_cas32(&slot->pid, self, owner) == owner) {
            for (g = 0; g < SECAUTH_G_GAUGES; g++) {
                apr_atomic_set32(&slot->gauge[g], 0);
            }
            own_slot = slot;
            apr_pool_cleanup_register(pchild, slot, release_slot, apr_pool_cleanup_null);
            return 0;
        }
    }
    return -1;
}

/* ---- exposition ---- */

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *parts;
    secauth_metrics_format_e format;
} text_t;

static void put(text_t *t, const char *s)
{
    *(const char **)apr_array_push(t->parts) = s;
}

static void family(text_t *t, const family_t *f)
{
    if (t->format == SECAUTH_METRICS_PROMETHEUS) {
        put(t, apr_psprintf(t->p, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                            f->type));
    }
}

/* One sample; suffix ("_bucket", "_sum", "") and labels (NULL for none) as the format wants. */
static void sample(text_t *t, const char *name, const char *suffix, const char *labels,
                   const char *value)
{
    const char *braces = labels ? apr_pstrcat(t->p, "{", labels, "}", NULL) : "";
    put(t, apr_pstrcat(t->p, name, suffix, braces,
                       t->format == SECAUTH_METRICS_PROMETHEUS ? " " : ": ", value, "\n", NULL));
}

static const char *u64(apr_pool_t *p, apr_uint64_t v)
{
    return apr_psprintf(p, "%" APR_UINT64_T_FMT, v);
}

static const char *seconds(apr_pool_t *p, apr_uint64_t usec)
{
    return apr_psprintf(p, "%" APR_UINT64_T_FMT ".%06" APR_UINT64_T_FMT, usec / 1000000,
                        usec % 1000000);
}

static void render_counters(text_t *t)
{
    int c, last = -1;

    for (c = 0; c < SECAUTH_M_COUNTERS; c++) {
        const series_t *s = &counter_series[c];
        if (s->family != last) {
            family(t, &counter_families[s->family]);
            last = s->family;
        }
        sample(t, counter_families[s->family].name, "", s->labels,
               u64(t->p, apr_atomic_read64(&block->counter[c])));
    }
}

static void render_gauges(text_t *t, apr_time_t now)
{
    apr_int64_t sum[SECAUTH_G_GAUGES] = {0}, read_at;
    apr_uint32_t i;
    int g;

    for (i = 0; i < block->processes; i++) {
        process_slot_t *slot = &block->process[i];
        if (!process_alive(apr_atomic_read32(&slot->pid))) continue;
        for (g = 0; g < SECAUTH_G_GAUGES; g++) {
            sum[g] += (apr_int32_t)apr_atomic_read32(&slot->gauge[g]);
        }
    }
    for (g = 0; g < SECAUTH_G_GAUGES; g++) {
        family(t, &gauge_families[g]);
        sample(t, gauge_families[g].name, "", NULL,
               apr_psprintf(t->p, "%" APR_INT64_T_FMT, sum[g]));
    }
    /* only once a change feed reports: an age of 0 would claim a fresh feed that is not there */
    read_at = (apr_int64_t)apr_atomic_read64(&block->node[SECAUTH_N_STATE_FEED_READ]);
    if (read_at) {
        static const family_t feed = {"secauth_state_feed_age_seconds", "gauge",
                                      "Time since the change feed was last read successfully."};
        family(t, &feed);
        sample(t, feed.name, "", NULL,
               seconds(t->p, now > read_at ? (apr_uint64_t)(now - read_at) : 0));
    }
}

static void render_histogram(text_t *t, const char *name, const char *labels, histogram_t *h)
{
    apr_uint64_t cumulative = 0;
    apr_size_t i;
    const char *sep = labels ? "," : "";

    labels = labels ? labels : "";
    for (i = 0; i <= BUCKETS; i++) {
        cumulative += apr_atomic_read64(&h->bucket[i]);
        if (t->format == SECAUTH_METRICS_PROMETHEUS) {
            sample(t, name, "_bucket",
                   apr_pstrcat(t->p, labels, sep, "le=\"", i < BUCKETS ? bucket_labels[i] : "+Inf",
                               "\"", NULL),
                   u64(t->p, cumulative));
        }
    }
    sample(t, name, "_sum", *labels ? labels : NULL,
           seconds(t->p, apr_atomic_read64(&h->sum_usec)));
    sample(t, name, "_count", *labels ? labels : NULL, u64(t->p, cumulative));
}

static void render_histograms(text_t *t)
{
    int i;

    family(t, &histogram_families[SECAUTH_H_LOGIN]);
    render_histogram(t, histogram_families[SECAUTH_H_LOGIN].name, NULL,
                     &block->histogram[SECAUTH_H_LOGIN]);
    family(t, &histogram_families[SECAUTH_H_ACCESS_CHECK]);
    render_histogram(t, histogram_families[SECAUTH_H_ACCESS_CHECK].name, NULL,
                     &block->histogram[SECAUTH_H_ACCESS_CHECK]);
    if (!route_count) {
        return;
    }
    family(t, &histogram_families[SECAUTH_H_REQUEST]);
    for (i = 0; i < route_count; i++) {
        render_histogram(t, histogram_families[SECAUTH_H_REQUEST].name,
                         apr_psprintf(t->p, "method=\"%s\",route=\"%s\"", route_methods[i],
                                      route_patterns[i]),
                         &block->histogram[SECAUTH_H_REQUEST + i]);
    }
}

const char *secauth_metrics_render(apr_pool_t *p, secauth_metrics_format_e format,
                                   const char *build, apr_time_t now)
{
    static const family_t build_info = {"secauth_build_info", "gauge",
                                        "Always 1; the labels name the module's build."};
    text_t t;

    if (!block) {
        return NULL;
    }
    t.p = p;
    t.parts = apr_array_make(p, 256, sizeof(const char *));
    t.format = format;
    render_counters(&t);
    render_gauges(&t, now);
    render_histograms(&t);
    family(&t, &build_info);
    sample(&t, build_info.name, "", build, "1");
    return apr_array_pstrcat(p, t.parts, 0);
}
