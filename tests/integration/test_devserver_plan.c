/*
 * The local server's rate limits and the records tests use to check pacing:
 * the plan limit (N calls per rolling window, 429 with an exact Retry-After),
 * the burst limiter (every k-th batch POST refused), the request log, the
 * rolling-window count, per-event arrival times and the new counters. Driven
 * by raw libcurl requests on 127.0.0.1; the server's monotonic timestamps are
 * CLOCK_MONOTONIC, the clock now_ms() reads, so the test compares them directly.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "devserver.h"
#include "testutil.h"

#include "cJSON.h"
#include "rawhttp.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BATCH "/api/ingestion/track/batch/"
#define SESSION "/api/auth/session/"
#define EVENT(uid)                                                                                 \
    "{\"user_id\":\"" uid "\",\"event_type\":\"e\",\"occurred_at\":\"2026-11-26T06:42:09.123Z\","  \
    "\"payload\":{}}"
#define ONE_EVENT "{\"events\":[" EVENT("u-1") "]}"
#define TWO_EVENTS "{\"events\":[" EVENT("u-1") "," EVENT("u-2") "]}"
#define WINDOW_MS 3000u       /* where a test waits for calls to leave the window */
#define WINDOW_TRIES 4        /* a too slow run is repeated with a window twice as long */
#define LONG_WINDOW_MS 60000u /* where it must not happen, however slow the machine */
#define LIMIT 5u
#define LOG_MAX 64

/* ------------------------------------------------------------------ helpers */

/* One request (POST when body is given, else GET) that must get an answer;
 * auth is the Authorization value or NULL. */
static void request(devsrv_t *srv, const char *path, const char *auth, const char *body,
                    raw_resp_t *r) {
    raw_request(devsrv_url(srv), path, auth, body, 10000, r);
    assert_int_equal(r->rc, CURLE_OK);
}

static long post_batch(devsrv_t *srv, const char *body, raw_resp_t *r) {
    request(srv, BATCH, "ApiKey " TEST_SK, body, r);
    return r->status;
}

static long post_mint(devsrv_t *srv, raw_resp_t *r) {
    request(srv, SESSION, "ApiKey " TEST_PK, "{\"user_id\":\"u-mint\"}", r);
    return r->status;
}

static devsrv_t *start_plan(uint32_t limit, uint32_t window_ms, bool ignores_mints,
                            bool counts_refused, uint32_t refuse_every) {
    devsrv_config_t cfg = {0};
    cfg.plan_calls_per_window = limit;
    cfg.plan_window_ms = window_ms;
    cfg.plan_ignores_mints = ignores_mints;
    cfg.plan_counts_refused = counts_refused;
    cfg.refuse_every = refuse_every;
    return start_server(&cfg);
}

/* The request log, asserting it fits. */
static size_t log_of(devsrv_t *srv, devsrv_request_t *log) {
    size_t n = devsrv_request_log(srv, log, LOG_MAX);
    assert_true(n <= LOG_MAX);
    return n;
}

/* Whole seconds, rounded up, from now_ms until a call made at `oldest` leaves the window. */
static long ceil_seconds_until(int64_t oldest, uint32_t window_ms, int64_t now) {
    int64_t remaining = oldest + (int64_t)window_ms - now;
    return (long)((remaining + 999) / 1000);
}

static void sleep_until(int64_t when_ms) {
    int64_t left = when_ms - now_ms();
    if (left > 0) sleep_ms((int)left);
}

/* Runs case_fn with a window of WINDOW_MS, then twice as long each time the
 * machine was too slow for the calls to fit in it (case_fn returns false before
 * checking anything), and fails if none fitted: every check runs, or the test
 * fails; it never passes unchecked. */
static void run_with_window(bool (*case_fn)(uint32_t window_ms), const char *name) {
    uint32_t window = WINDOW_MS;
    for (int i = 0; i < WINDOW_TRIES; i++, window *= 2) {
        if (case_fn(window)) return;
        print_message("%s: the calls did not fit in a %u ms window; again with %u ms\n", name,
                      window, window * 2);
    }
    fail_msg("%s: the calls never fitted in a window (up to %u ms)", name, window / 2);
}

/* ------------------------------------------------------------------- tests */

static bool plan_refuses_case(uint32_t window_ms) {
    devsrv_t *srv = start_plan(LIMIT, window_ms, false, false, 0);
    raw_resp_t r;
    long status[LIMIT];
    int64_t t0 = now_ms();
    for (unsigned i = 0; i < LIMIT; i++) {
        status[i] = post_batch(srv, ONE_EVENT, &r);
        assert_string_equal(r.retry_after, "");
    }
    post_batch(srv, TWO_EVENTS, &r);
    /* Meaningful only if the six fit in one window, with a second to spare for
     * the "still full" call below. */
    if (now_ms() - t0 >= (int64_t)window_ms - 1500) {
        devsrv_stop(srv);
        return false;
    }
    for (unsigned i = 0; i < LIMIT; i++) assert_int_equal(status[i], 200);
    assert_int_equal(r.status, 429);

    devsrv_request_t log[LOG_MAX];
    size_t n = log_of(srv, log);
    assert_int_equal(n, LIMIT + 1);
    long want = ceil_seconds_until(log[0].arrival_ms, window_ms, log[LIMIT].arrival_ms);
    char want_text[24];
    snprintf(want_text, sizeof want_text, "%ld", want);
    assert_string_equal(r.retry_after, want_text);
    assert_true(want >= 1 && want <= window_ms / 1000);
    cJSON *js = cJSON_Parse(r.body);
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(js, "detail")));
    cJSON_Delete(js);

    /* The refused request recorded nothing but its log entry and the counters. */
    assert_int_equal(log[LIMIT].status, 429);
    assert_int_equal(log[LIMIT].events, 0);
    assert_int_equal(log[LIMIT].request_no, LIMIT + 1);
    devsrv_stats_t st = server_stats(srv);
    assert_int_equal(st.batch_requests, LIMIT + 1);
    assert_int_equal(st.batch_accepted, LIMIT);
    assert_int_equal(st.events_received, LIMIT);
    assert_int_equal(st.answers_429, 1);
    assert_int_equal(st.plan_refused, 1);
    assert_int_equal(st.burst_refused, 0);
    assert_int_equal(devsrv_event_count(srv), LIMIT);

    /* Still full before the oldest call leaves... */
    int64_t frees_at = log[0].arrival_ms + window_ms;
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 429);
    n = log_of(srv, log);
    if (log[n - 1].arrival_ms >= frees_at) { /* too slow after all */
        devsrv_stop(srv);
        return false;
    }
    long again = ceil_seconds_until(log[0].arrival_ms, window_ms, log[n - 1].arrival_ms);
    snprintf(want_text, sizeof want_text, "%ld", again);
    assert_string_equal(r.retry_after, want_text);
    /* ...and a request made when the Retry-After has passed is admitted. */
    sleep_until(log[LIMIT].arrival_ms + want * 1000);
    assert_int_equal(post_batch(srv, TWO_EVENTS, &r), 200);
    n = log_of(srv, log);
    assert_true(log[n - 1].arrival_ms >= frees_at);
    assert_int_equal(log[n - 1].status, 200);
    assert_int_equal(log[n - 1].events, 2);
    assert_int_equal(server_stats(srv).events_received, LIMIT + 2);
    assert_int_equal(server_stats(srv).plan_refused, 2);

    /* The admitted calls never exceeded the plan in any window; all of them did. */
    assert_int_equal(devsrv_max_requests_in_window(srv, window_ms, DEVSRV_COUNT_ACCEPTED), LIMIT);
    assert_true(devsrv_max_requests_in_window(srv, window_ms, 0) > LIMIT);
    devsrv_stop(srv);
    return true;
}

static void test_plan_refuses_past_the_limit_with_exact_retry_after(void **state) {
    (void)state;
    run_with_window(plan_refuses_case, "plan refusal");
}

static void test_plan_counts_mints_unless_told_not_to(void **state) {
    (void)state;
    raw_resp_t r;
    devsrv_t *srv = start_plan(2, LONG_WINDOW_MS, false, false, 0);
    assert_int_equal(post_mint(srv, &r), 200);
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 200);
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 429);
    assert_int_equal(post_mint(srv, &r), 429); /* a mint is an API call like any other */
    assert_true(atoi(r.retry_after) >= 1);
    devsrv_stats_t st = server_stats(srv);
    assert_int_equal(st.mints, 1);
    assert_int_equal(st.mint_requests, 2);
    assert_int_equal(st.plan_refused, 2);
    assert_int_equal(st.answers_429, 2);
    devsrv_request_t log[LOG_MAX];
    assert_int_equal(log_of(srv, log), 4);
    assert_int_equal(log[0].kind, DEVSRV_REQUEST_MINT);
    assert_int_equal(log[0].request_no, 1);
    assert_int_equal(log[0].status, 200);
    assert_int_equal(log[3].kind, DEVSRV_REQUEST_MINT);
    assert_int_equal(log[3].request_no, 2);
    assert_int_equal(log[3].status, 429);
    assert_int_equal(devsrv_max_requests_in_window(srv, LONG_WINDOW_MS, DEVSRV_COUNT_MINTS), 2);
    assert_int_equal(devsrv_max_requests_in_window(srv, LONG_WINDOW_MS, DEVSRV_COUNT_BATCH), 2);
    assert_int_equal(devsrv_max_requests_in_window(srv, LONG_WINDOW_MS,
                                                   DEVSRV_COUNT_MINTS | DEVSRV_COUNT_ACCEPTED),
                     1);
    devsrv_stop(srv);

    srv = start_plan(2, LONG_WINDOW_MS, true, false, 0);
    for (int i = 0; i < 3; i++) assert_int_equal(post_mint(srv, &r), 200);
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 200);
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 200);
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 429);
    assert_int_equal(post_mint(srv, &r), 200);
    assert_int_equal(server_stats(srv).plan_refused, 1);
    devsrv_stop(srv);
}

static bool counting_refused_case(uint32_t window_ms) {
    raw_resp_t r;
    devsrv_t *srv = start_plan(2, window_ms, false, true, 0);
    long status[4];
    status[0] = post_batch(srv, ONE_EVENT, &r);
    sleep_ms(1200); /* so the oldest and the deciding call give different answers */
    for (int i = 1; i < 4; i++) status[i] = post_batch(srv, ONE_EVENT, &r);
    devsrv_request_t log[LOG_MAX];
    assert_int_equal(log_of(srv, log), 4);
    if (log[3].arrival_ms - log[0].arrival_ms >= window_ms) {
        devsrv_stop(srv);
        return false;
    }
    assert_int_equal(status[0], 200);
    assert_int_equal(status[1], 200);
    assert_int_equal(status[2], 429);
    assert_int_equal(status[3], 429);
    /* Both refusals counted: the window holds four calls, and a call is admitted
     * once at most one remains, so the third (the first refusal) decides. */
    char want[24];
    snprintf(want, sizeof want, "%ld",
             ceil_seconds_until(log[2].arrival_ms, window_ms, log[3].arrival_ms));
    assert_string_equal(r.retry_after, want);
    sleep_until(log[3].arrival_ms + atoi(r.retry_after) * 1000);
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 200);
    devsrv_stop(srv);
    return true;
}

static void test_plan_counting_refused_calls_extends_the_wait(void **state) {
    (void)state;
    run_with_window(counting_refused_case, "counting refused calls");
}

static void test_refuse_every_kth_batch(void **state) {
    (void)state;
    raw_resp_t r;
    devsrv_t *srv = start_plan(0, 0, false, false, 5);
    assert_int_equal(devsrv_script_text(srv, "delay=1,delay=1,delay=1,delay=1,503:ra=9"), 0);
    for (int i = 1; i <= 12; i++) {
        long status = post_batch(srv, ONE_EVENT, &r);
        if (i % 5 == 0) {
            assert_int_equal(status, 429);
            assert_string_equal(r.retry_after, "1");
        } else if (i == 6) { /* the refused 5th consumed no scripted fault */
            assert_int_equal(status, 503);
            assert_string_equal(r.retry_after, "9");
        } else {
            assert_int_equal(status, 200);
        }
    }
    devsrv_stats_t st = server_stats(srv);
    assert_int_equal(st.batch_requests, 12);
    assert_int_equal(st.burst_refused, 2);
    assert_int_equal(st.answers_429, 2);
    assert_int_equal(st.plan_refused, 0);
    assert_int_equal(st.faults_applied, 5);
    assert_int_equal(st.events_received, 9);
    assert_int_equal(devsrv_script_pending(srv), 0);

    /* Mints are not batches: the burst limiter leaves them alone. */
    for (int i = 0; i < 5; i++) assert_int_equal(post_mint(srv, &r), 200);

    /* A new k restarts the count; 0 turns it off. */
    devsrv_set_refuse_every(srv, 2);
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 200);
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 429);
    devsrv_set_refuse_every(srv, 0);
    for (int i = 0; i < 4; i++) assert_int_equal(post_batch(srv, ONE_EVENT, &r), 200);
    assert_int_equal(server_stats(srv).burst_refused, 3);
    devsrv_stop(srv);
}

static void test_plan_can_change_while_running(void **state) {
    (void)state;
    raw_resp_t r;
    devsrv_t *srv = start_plan(0, 0, false, false, 0);
    for (int i = 0; i < 3; i++) assert_int_equal(post_batch(srv, ONE_EVENT, &r), 200);
    devsrv_set_plan_limit(srv, 1, LONG_WINDOW_MS); /* calls made before the plan never count */
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 200);
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 429);
    devsrv_set_plan_limit(srv, 2, LONG_WINDOW_MS);
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 200);
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 429);
    devsrv_set_plan_limit(srv, 0, 0);
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 200);
    devsrv_stop(srv);
}

static devsrv_request_t entry(int64_t at, devsrv_request_kind_t kind, int status) {
    devsrv_request_t e = {.arrival_ms = at, .kind = kind, .status = status};
    return e;
}

static void test_max_in_window_counts_rolling_windows(void **state) {
    (void)state;
    const devsrv_request_kind_t B = DEVSRV_REQUEST_BATCH, M = DEVSRV_REQUEST_MINT;
    const devsrv_request_t log[] = {
        entry(0, B, 200),    entry(100, M, 200),  entry(999, B, 429),
        entry(1000, B, 200), entry(1999, B, 200), entry(3000, B, 200),
        entry(3000, B, 200), entry(3000, M, 0),   entry(3999, B, 503),
    };
    const size_t n = sizeof log / sizeof log[0];
    /* Windows are (t - 1000, t]: the call at 0 has left the window ending at 1000. */
    assert_int_equal(devsrv_max_in_window(log, n, 1000, 0), 4); /* 3000,3000,3000,3999 */
    assert_int_equal(devsrv_max_in_window(log, n, 1001, 0), 4); /* 0,100,999,1000 too */
    assert_int_equal(devsrv_max_in_window(log, n, 1000, DEVSRV_COUNT_ACCEPTED), 2);
    assert_int_equal(devsrv_max_in_window(log, n, 1000, DEVSRV_COUNT_BATCH), 3);
    assert_int_equal(devsrv_max_in_window(log, n, 1000, DEVSRV_COUNT_MINTS), 1);
    assert_int_equal(devsrv_max_in_window(log, n, 1000, DEVSRV_COUNT_MINTS | DEVSRV_COUNT_BATCH),
                     4);
    assert_int_equal(devsrv_max_in_window(log, n, 4000, DEVSRV_COUNT_ACCEPTED), 6);
    assert_int_equal(devsrv_max_in_window(log, n, 4000, 0), 9);
    assert_int_equal(devsrv_max_in_window(log, n, 3999, 0), 8); /* (0, 3999] */
    assert_int_equal(devsrv_max_in_window(log, n, 1, 0), 3);    /* three at 3000 */
    assert_int_equal(devsrv_max_in_window(log, n, 0, 0), 0);    /* an empty window */
    assert_int_equal(devsrv_max_in_window(log, 0, 1000, 0), 0);
    assert_int_equal(devsrv_max_in_window(NULL, 5, 1000, 0), 0);
}

static void test_request_log_and_event_arrival_times(void **state) {
    (void)state;
    raw_resp_t r;
    devsrv_t *srv = start_plan(0, 0, false, false, 0);
    int64_t before = now_ms();
    assert_int_equal(post_batch(srv, TWO_EVENTS, &r), 200);
    request(srv, BATCH, "ApiKey sk_wrong", ONE_EVENT, &r);
    assert_int_equal(r.status, 401);
    assert_int_equal(post_mint(srv, &r), 200);
    assert_int_equal(devsrv_script_text(srv, "close"), 0);
    CURL *h = curl_easy_init(); /* a closed connection has no status */
    char url[256];
    snprintf(url, sizeof url, "%s%s", devsrv_url(srv), BATCH);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, ONE_EVENT);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    assert_int_not_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_cleanup(h);
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 200);
    int64_t after = now_ms();

    devsrv_request_t log[LOG_MAX];
    assert_int_equal(devsrv_request_log(srv, NULL, 0), 5);
    assert_int_equal(devsrv_request_log(srv, log, 2), 5); /* copies only what fits */
    assert_int_equal(log_of(srv, log), 5);
    const int status[] = {200, 401, 200, 0, 200};
    const uint32_t events[] = {2, 0, 0, 0, 1};
    const devsrv_request_kind_t kind[] = {DEVSRV_REQUEST_BATCH, DEVSRV_REQUEST_BATCH,
                                          DEVSRV_REQUEST_MINT, DEVSRV_REQUEST_BATCH,
                                          DEVSRV_REQUEST_BATCH};
    const uint64_t no[] = {1, 2, 1, 3, 4};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(log[i].status, status[i]);
        assert_int_equal(log[i].events, events[i]);
        assert_int_equal(log[i].kind, kind[i]);
        assert_int_equal(log[i].request_no, no[i]);
        assert_true(log[i].arrival_ms >= before && log[i].arrival_ms <= after);
        assert_true(i == 0 || log[i].arrival_ms >= log[i - 1].arrival_ms);
        assert_true(log[i].arrival_unix_ms > 1700000000000LL); /* wall clock, after 2023 */
    }

    /* Every kept event carries its request's arrival time. */
    assert_int_equal(devsrv_event_count(srv), 3);
    const size_t from[] = {0, 0, 4};
    for (size_t i = 0; i < 3; i++) {
        devsrv_event_t ev;
        assert_int_equal(devsrv_event_at(srv, i, &ev), 0);
        assert_int_equal(ev.arrival_ms, log[from[i]].arrival_ms);
        devsrv_event_free(&ev);
    }

    /* GET /_dev/requests says the same. */
    request(srv, "/_dev/requests", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    cJSON *js = cJSON_Parse(r.body);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(js, "requests");
    assert_int_equal(cJSON_GetArraySize(arr), 5);
    for (int i = 0; i < 5; i++) {
        const cJSON *e = cJSON_GetArrayItem(arr, i);
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "no")->valuedouble, no[i]);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "kind")->valuestring,
                            kind[i] == DEVSRV_REQUEST_MINT ? "mint" : "batch");
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "arrival_ms")->valuedouble,
                         log[i].arrival_ms);
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "arrival_unix_ms")->valuedouble,
                         log[i].arrival_unix_ms);
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "status")->valuedouble, status[i]);
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "events")->valuedouble, events[i]);
    }
    cJSON_Delete(js);
    devsrv_stop(srv);
}

static void test_stats_json_has_the_rate_limit_counters(void **state) {
    (void)state;
    raw_resp_t r;
    devsrv_t *srv = start_plan(1, LONG_WINDOW_MS, false, false, 3);
    assert_int_equal(devsrv_script_text(srv, "429:ra=4"), 0);
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 429); /* scripted */
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 429); /* plan: the scripted one counted */
    assert_int_equal(post_batch(srv, ONE_EVENT, &r), 429); /* burst */
    request(srv, "/_dev/stats", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    devsrv_stats_t st = server_stats(srv);
    assert_int_equal(st.answers_429, 3);
    assert_int_equal(st.plan_refused, 1);
    assert_int_equal(st.burst_refused, 1);
    char want[1024];
    devsrv_stats_json(&st, want, sizeof want);
    assert_string_equal(r.body, want);
    cJSON *js = cJSON_Parse(r.body);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(js, "answers_429")->valuedouble, 3);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(js, "plan_refused")->valuedouble, 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(js, "burst_refused")->valuedouble, 1);
    cJSON_Delete(js);
    devsrv_stop(srv);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_refuses_past_the_limit_with_exact_retry_after),
        cmocka_unit_test(test_plan_counts_mints_unless_told_not_to),
        cmocka_unit_test(test_plan_counting_refused_calls_extends_the_wait),
        cmocka_unit_test(test_refuse_every_kth_batch),
        cmocka_unit_test(test_plan_can_change_while_running),
        cmocka_unit_test(test_max_in_window_counts_rolling_windows),
        cmocka_unit_test(test_request_log_and_event_arrival_times),
        cmocka_unit_test(test_stats_json_has_the_rate_limit_counters),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
