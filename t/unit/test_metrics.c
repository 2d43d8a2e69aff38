/* test_metrics.c — unit tests of the metrics block: counting across real forked processes,
 * gauges of dead processes left out, histogram buckets, the block kept by a second
 * post_config, and both exposition formats. */
#include "tap.h"
#include "metrics.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>

static int has_line(const char *text, const char *line)
{
    const char *at = text;
    size_t n = strlen(line);
    while (text && (at = strstr(at, line))) {
        if ((at == text || at[-1] == '\n') && at[n] == '\n') return 1;
        at += n;
    }
    return 0;
}

static const char *render(apr_pool_t *p)
{
    return secauth_metrics_render(p, SECAUTH_METRICS_PROMETHEUS, "version=\"test\"", apr_time_now());
}

static void test_detached(apr_pool_t *p)
{
    secauth_metrics_inc(SECAUTH_M_LOGIN_OK);
    secauth_metrics_gauge_add(SECAUTH_G_HASH_SLOTS_BUSY, 1);
    secauth_metrics_observe(SECAUTH_H_LOGIN, 0, 1000);
    ok(render(p) == NULL, "without a block nothing is counted or rendered");
}

/* Children forked after create add to the same counters. */
static void test_processes(apr_pool_t *p)
{
    int i, status, all_ok = 1;
    pid_t pids[3];
    const char *text;

    for (i = 0; i < 3; i++) {
        if ((pids[i] = fork()) == 0) {
            int n;
            for (n = 0; n < 1000; n++) secauth_metrics_inc(SECAUTH_M_TOKEN_CHECK_OK);
            _exit(0);
        }
    }
    for (i = 0; i < 3; i++) {
        all_ok &= waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status);
    }
    ok(all_ok, "three child processes counted and exited");
    text = render(p);
    ok(has_line(text, "secauth_token_checks_total{result=\"ok\"} 3000"),
       "their 3 x 1000 increments are all in the shared block");
}

static void test_gauges(apr_pool_t *p)
{
    int status;
    pid_t pid;

    ok(secauth_metrics_child_init(p) == 0, "this process takes a slot");
    secauth_metrics_gauge_add(SECAUTH_G_HASH_SLOTS_BUSY, 2);
    secauth_metrics_gauge_add(SECAUTH_G_HASH_SLOTS_BUSY, -1);
    secauth_metrics_gauge_set(SECAUTH_G_HASH_SLOTS, 4);
    if ((pid = fork()) == 0) {
        apr_pool_t *child;
        apr_pool_create(&child, NULL);
        /* dies holding places, without giving its slot back */
        secauth_metrics_child_init(child);
        secauth_metrics_gauge_add(SECAUTH_G_HASH_SLOTS_BUSY, 5);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    ok(has_line(render(p), "secauth_hash_slots_busy 1"),
       "busy places: this process's 1; the dead child's 5 are left out");
    ok(has_line(render(p), "secauth_hash_slots 4"), "places of live processes");
}

static void test_histograms(apr_pool_t *p)
{
    static const char *const methods[] = {"GET", "POST"};
    static const char *const patterns[] = {"/health", "/login"};
    const char *text;

    secauth_metrics_set_routes(methods, patterns, 2);
    secauth_metrics_observe(SECAUTH_H_LOGIN, 0, 300);        /* 0.3 ms */
    secauth_metrics_observe(SECAUTH_H_LOGIN, 0, 7000);       /* 7 ms */
    secauth_metrics_observe(SECAUTH_H_LOGIN, 0, 20000000);   /* 20 s */
    secauth_metrics_observe(SECAUTH_H_REQUEST, 1, 1000);     /* exactly 1 ms: le="0.001" */
    secauth_metrics_observe(SECAUTH_H_REQUEST, 2, 1000);     /* no such route: ignored */
    text = render(p);
    ok(has_line(text, "# TYPE secauth_login_duration_seconds histogram"), "histogram TYPE");
    ok(has_line(text, "secauth_login_duration_seconds_bucket{le=\"0.0005\"} 1"), "first bucket");
    ok(has_line(text, "secauth_login_duration_seconds_bucket{le=\"0.005\"} 1"), "cumulative");
    ok(has_line(text, "secauth_login_duration_seconds_bucket{le=\"0.01\"} 2"), "7 ms within 10 ms");
    ok(has_line(text, "secauth_login_duration_seconds_bucket{le=\"10\"} 2"), "20 s above 10 s");
    ok(has_line(text, "secauth_login_duration_seconds_bucket{le=\"+Inf\"} 3"), "+Inf has all");
    ok(has_line(text, "secauth_login_duration_seconds_sum 20.007300"), "sum in seconds");
    ok(has_line(text, "secauth_login_duration_seconds_count 3"), "count");
    ok(has_line(text, "secauth_request_duration_seconds_bucket{method=\"POST\",route=\"/login\",le=\"0.001\"} 1"),
       "a route's bucket carries its method and pattern");
    ok(has_line(text, "secauth_request_duration_seconds_count{method=\"GET\",route=\"/health\"} 0"),
       "every route is there from the start");
    ok(!strstr(text, "route=\"(null)\""), "no third route");
}

static void test_formats(apr_pool_t *p)
{
    const char *text, *status;

    secauth_metrics_inc(SECAUTH_M_LOGIN_OK);
    secauth_metrics_inc(SECAUTH_M_LOGIN_OK);
    secauth_metrics_inc(SECAUTH_M_LOCKOUTS);
    secauth_metrics_totp(1, 0);
    secauth_metrics_totp(0, 1);
    secauth_metrics_totp(0, 0);
    secauth_metrics_recovery(-1);
    secauth_metrics_token_issued(1);
    text = render(p);
    ok(has_line(text, "# HELP secauth_logins_total Login attempts (POST /login) by outcome."), "HELP");
    ok(has_line(text, "# TYPE secauth_logins_total counter"), "TYPE");
    ok(has_line(text, "secauth_logins_total{result=\"ok\"} 2"), "a labelled counter");
    ok(has_line(text, "secauth_logins_total{result=\"locked\"} 0"), "series at 0 are shown");
    ok(has_line(text, "secauth_lockouts_total 1"), "an unlabelled counter");
    ok(has_line(text, "secauth_second_factor_total{kind=\"totp\",result=\"ok\"} 1"), "totp ok");
    ok(has_line(text, "secauth_second_factor_total{kind=\"totp\",result=\"replayed\"} 1"), "replayed");
    ok(has_line(text, "secauth_second_factor_total{kind=\"totp\",result=\"invalid\"} 1"), "wrong");
    ok(has_line(text, "secauth_second_factor_total{kind=\"recovery\",result=\"unavailable\"} 1"),
       "database failure");
    ok(has_line(text, "secauth_tokens_issued_total{kind=\"enroll\"} 1"), "tokens by kind");
    ok(has_line(text, "secauth_build_info{version=\"test\"} 1"), "build info");
    ok(!strstr(text, "secauth_state_feed_age_seconds"), "no feed age before a feed reports");
    secauth_metrics_node_set(SECAUTH_N_STATE_FEED_READ, apr_time_now() - apr_time_from_msec(1500));
    ok(strstr(render(p), "\nsecauth_state_feed_age_seconds 1.5") != NULL, "the feed's age");

    status = secauth_metrics_render(p, SECAUTH_METRICS_STATUS, "version=\"test\"", apr_time_now());
    ok(has_line(status, "secauth_logins_total{result=\"ok\"}: 2"), "status form: name: value");
    ok(has_line(status, "secauth_login_duration_seconds_count: 3"), "histograms by count");
    ok(!strstr(status, "_bucket") && !strstr(status, "# "), "no buckets, no comments");
}

static void test_restart(apr_pool_t *process)
{
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    ok(secauth_metrics_create(process, 3) == 0, "a second post_config with the same layout");
    ok(has_line(render(p), "secauth_logins_total{result=\"ok\"} 2"), "keeps the counters");
    ok(secauth_metrics_create(process, 5) == 0, "another layout");
    ok(has_line(render(p), "secauth_logins_total{result=\"ok\"} 0"), "starts a new block");
    apr_pool_destroy(p);
}

int main(void)
{
    apr_pool_t *process, *p;

    apr_initialize();
    apr_pool_create(&process, NULL);
    apr_pool_create(&p, NULL);
    test_detached(p);
    ok(secauth_metrics_create(process, 3) == 0, "the block is made");
    ok(has_line(render(p), "secauth_logins_total{result=\"ok\"} 0"), "it starts at 0");
    test_processes(p);
    test_gauges(p);
    test_histograms(p);
    test_formats(p);
    test_restart(process);
    apr_pool_destroy(p);
    apr_pool_destroy(process);
    apr_terminate();
    return done_testing();
}
