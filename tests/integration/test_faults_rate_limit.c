/* Delivery under faults: 429 and Retry-After (seconds or HTTP-date) are floors
 * for the next attempt, and rate limiting does not use up retries. Times
 * asserted are lower bounds the server demands, never speed thresholds. */
#include "fixture.h"

#include <stdio.h>
#include <time.h>

/* ---- 429 and Retry-After ---- */

/* Delivers n events through one fault whose Retry-After asks for floor_ms: a
 * lower bound the server demands, so the retry may not come sooner (the flush
 * waits for it); then everything is delivered once. */
static void expect_retry_after_floor(const char *script, int n, int64_t floor_ms) {
    fixture_t f;
    fixture_start_faulty(&f, 1000);
    int64_t elapsed = track_and_flush(&f, script, n, 15000);
    if (elapsed < floor_ms)
        fail_msg("retried after %lld ms despite %s", (long long)elapsed, script);
    assert_delivered_once(&f, n, 2);
    fixture_stop(&f);
}

static void test_429_retry_after_seconds_is_honoured(void **state) {
    (void)state;
    expect_retry_after_floor("429:ra=2", 3, 2000);
}

/* A 503 with Retry-After waits at least that long, even when a flush asks. */
static void test_503_retry_after_is_a_floor(void **state) {
    (void)state;
    expect_retry_after_floor("503:ra=1", 2, 1000);
}

/* The arrival time of the k-th batch request (1-based) in the server's log. */
static int64_t batch_arrival(devsrv_t *srv, uint64_t k) {
    devsrv_request_t log[64];
    size_t n = devsrv_request_log(srv, log, 64);
    for (size_t i = 0; i < n; i++)
        if (log[i].kind == DEVSRV_REQUEST_BATCH && log[i].request_no == k) return log[i].arrival_ms;
    fail_msg("no batch request %llu in the server's log", (unsigned long long)k);
    return 0;
}

/* A Retry-After on a 503 is a floor, not a reason to stretch the backoff: with
 * a backoff of 30-60 s, Retry-After: 1 and the server back, a flush called
 * during the backoff cuts it down to the floor (the retry comes 1 s later at
 * the earliest, and the flush returns long before the backoff would have
 * ended), and so does a shutdown. Nothing is lost. */
static void test_503_retry_after_floor_does_not_stretch_the_backoff(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = fault_options(&f, 1000);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 60000, 60000), SEGOPS_OK);
    fixture_client(&f, opts);
    const int64_t shortest_backoff = 30000;

    /* The 503 comes first (the partial request after 1.05 s), then the flush. */
    assert_int_equal(devsrv_script_text(f.srv, "503:ra=1"), 0);
    track_n(f.client, "u", 0, 3);
    wait_requests(f.srv, 1);
    int64_t t0 = now_ms();
    assert_int_equal(segops_flush(f.client, 20000), SEGOPS_OK);
    int64_t elapsed = now_ms() - t0;
    if (elapsed >= shortest_backoff)
        fail_msg("the flush waited the backoff: %lld ms", (long long)elapsed);
    assert_delivered_once(&f, 3, 2);
    assert_true(batch_arrival(f.srv, 2) - batch_arrival(f.srv, 1) >= 1000);

    assert_int_equal(devsrv_script_text(f.srv, "503:ra=1"), 0);
    track_n(f.client, "u", 3, 3);
    wait_requests(f.srv, 3);
    t0 = now_ms();
    assert_int_equal(segops_shutdown(f.client, 20000), SEGOPS_OK);
    elapsed = now_ms() - t0;
    if (elapsed >= shortest_backoff)
        fail_msg("the shutdown waited the backoff: %lld ms", (long long)elapsed);
    assert_true(batch_arrival(f.srv, 4) - batch_arrival(f.srv, 3) >= 1000);
    assert_server_holds(f.srv, 0, 6, 1);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.delivered, 6);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

static void test_429_does_not_use_up_retries(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = fault_options(&f, 1000);
    assert_int_equal(segops_options_set_max_retries(opts, 0), SEGOPS_OK);
    fixture_client(&f, opts);
    track_and_flush(&f, "429:ra=0,429:ra=0", 3, 10000);
    assert_delivered_once(&f, 3, 3);

    /* Whereas one 503 with max_retries 0 drops the batch. */
    assert_int_equal(devsrv_script_text(f.srv, "503"), 0);
    track_n(f.client, "u", 3, 2);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_int_equal(reports_of(&f.rec), 1);
    assert_report(&f.rec, 0, SEGOPS_E_SERVER, 503, 2, SEGOPS_DROP_RETRIES_EXHAUSTED);
    fixture_stop(&f);
}

static void test_429_retry_after_http_date(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_faulty(&f, 1000);
    /* An HTTP-date 3 whole seconds past the current one: more than 2 s away. */
    int64_t t0 = now_ms();
    time_t when = time(NULL) + 3;
    struct tm tm;
    gmtime_r(&when, &tm);
    char date[64], script[128];
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(script, sizeof script, "429:ra=\"%s\"", date);
    track_and_flush(&f, script, 2, 15000);
    int64_t elapsed = now_ms() - t0;
    if (elapsed < 2000) fail_msg("retried after %lld ms, before %s", (long long)elapsed, date);
    assert_true(time(NULL) >= when);
    assert_delivered_once(&f, 2, 2);
    fixture_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_429_retry_after_seconds_is_honoured),
        cmocka_unit_test(test_503_retry_after_is_a_floor),
        cmocka_unit_test(test_503_retry_after_floor_does_not_stretch_the_backoff),
        cmocka_unit_test(test_429_does_not_use_up_retries),
        cmocka_unit_test(test_429_retry_after_http_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
