/* Pacing with default options against a server that enforces a SegOps plan
 * (issue 12): a stream fills requests instead of multiplying them, so it fits
 * the plan and every event arrives, with at most one 429 per change of plan or
 * traffic. The shutdown deadline is the only time asserted: it is behaviour. */
#include "pacing.h"

#include <stdlib.h>

/* Tracks rate events/s for seconds s against a plan of per_minute calls, then
 * shuts down within shutdown_ms: every event must arrive once, with at most
 * max_429 refusals on the way. */
static void stream_against_plan(const char *name, int rate, int seconds, uint32_t per_minute,
                                int shutdown_ms, uint64_t max_429) {
    fixture_t f;
    pacing_start(&f, per_minute, 0);
    fixture_client(&f, pacing_options(&f, NULL));
    const int n = rate * seconds;
    track_at_rate(f.client, 0, n, rate, NULL);

    int64_t t0 = now_ms();
    segops_err_t err = segops_shutdown(f.client, shutdown_ms);
    int64_t took = now_ms() - t0;
    print_pacing_summary(name, &f);
    print_message("%s: shutdown(%d) returned %s after %lld ms\n", name, shutdown_ms,
                  segops_strerror(err), (long long)took);
    assert_int_equal(err, SEGOPS_OK);
    assert_all_delivered(&f, (uint64_t)n);
    assert_each_once(f.srv, n, NULL);

    devsrv_stats_t ss = server_stats(f.srv);
    if (ss.answers_429 > max_429)
        fail_msg("%llu requests refused with 429, at most %llu allowed",
                 (unsigned long long)ss.answers_429, (unsigned long long)max_429);
    assert_true(ss.max_events_per_request <= 500);
    /* The plan held: the server never admitted more than it allows. */
    assert_true(devsrv_max_requests_in_window(f.srv, MINUTE_MS, DEVSRV_COUNT_ACCEPTED) <=
                per_minute);
    fixture_stop(&f);
}

/* The case: 1,000 events/s for 30 s on a Starter plan (300 calls/min),
 * then a 10 s shutdown. Today's client spends the minute's calls in 6 s and the
 * shutdown drops most of the events behind a 54 s Retry-After. */
static void test_1000_per_s_fits_a_300_per_minute_plan(void **state) {
    (void)state;
    stream_against_plan("1000 ev/s, 300/min", 1000, 30, 300, 10000, 1);
}

/* 200 events/s for a whole minute on a Free plan (60 calls/min): the default
 * pace (a partial request at most every 1,050 ms) fits it. A full minute, so
 * the plan's window is really filled; the shutdown may wait out one window. */
static void test_200_per_s_fits_a_60_per_minute_plan(void **state) {
    (void)state;
    stream_against_plan("200 ev/s, 60/min", 200, 60, 60, 65000, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_1000_per_s_fits_a_300_per_minute_plan),
        cmocka_unit_test(test_200_per_s_fits_a_60_per_minute_plan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
