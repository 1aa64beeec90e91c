/* The operator stats' windows (src/metrics.c) and the failure probe
 * (src/probe.c): pure state, checked value by value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "metrics.h"
#include "probe.h"

/* A percentile is never below the true value and at most 12.5% above it. */
static void test_percentile_bounds_every_value(void **state) {
    (void)state;
    for (int64_t v = 0; v <= 700000; v += v < 300 ? 1 : 977) {
        segops__metrics_t *m;
        assert_int_equal(segops__metrics_new(&m), SEGOPS_OK);
        segops__metrics_request_begin(m);
        segops__metrics_request_end(m, v);
        segops_stats_t st;
        memset(&st, 0, sizeof st);
        segops__metrics_snapshot(m, &st);
        assert_true(st.request_rtt_p50_ms >= (uint64_t)v);
        assert_true(st.request_rtt_p50_ms * 8 <= (uint64_t)v * 9 + 8);
        assert_int_equal(st.request_rtt_p99_ms, st.request_rtt_p50_ms);
        assert_int_equal(st.requests_in_flight, 0);
        segops__metrics_free(m);
    }
}

/* p50 and p99 of 1..100 ms, then the window forgets the oldest samples. */
static void test_window_percentiles_and_eviction(void **state) {
    (void)state;
    segops__metrics_t *m;
    assert_int_equal(segops__metrics_new(&m), SEGOPS_OK);
    for (int v = 1; v <= 100; v++) segops__metrics_request_end(m, v);
    segops_stats_t st;
    segops__metrics_snapshot(m, &st);
    assert_true(st.request_rtt_p50_ms >= 50 && st.request_rtt_p50_ms <= 56);
    assert_true(st.request_rtt_p99_ms >= 99 && st.request_rtt_p99_ms <= 111);
    /* A full window of 1 ms answers pushes every earlier sample out. */
    for (int k = 0; k < SEGOPS__METRICS_RTT_WINDOW; k++) segops__metrics_request_end(m, 1);
    segops__metrics_snapshot(m, &st);
    assert_int_equal(st.request_rtt_p50_ms, 1);
    assert_int_equal(st.request_rtt_p99_ms, 1);
    segops__metrics_free(m);
}

/* Delivery delays per event; events without a track time are left out. */
static void test_delivery_delay_per_event(void **state) {
    (void)state;
    segops__metrics_t *m;
    assert_int_equal(segops__metrics_new(&m), SEGOPS_OK);
    segops__event_t events[3];
    memset(events, 0, sizeof events);
    events[0].accepted_ms = 1000;
    events[1].accepted_ms = 500; /* read back from a spool: no track time here */
    events[1].read_back = true;
    events[2].accepted_ms = 1800;
    segops__event_t *batch[3] = {&events[0], &events[1], &events[2]};
    segops__metrics_delivered(m, batch, 3, 2000);
    segops_stats_t st;
    segops__metrics_snapshot(m, &st);
    assert_true(st.delivery_delay_p50_ms >= 200 && st.delivery_delay_p50_ms <= 225);
    assert_true(st.delivery_delay_p99_ms >= 1000 && st.delivery_delay_p99_ms <= 1125);
    segops__metrics_free(m);
}

static void test_requests_in_flight(void **state) {
    (void)state;
    segops__metrics_t *m;
    assert_int_equal(segops__metrics_new(&m), SEGOPS_OK);
    segops_stats_t st;
    for (int k = 0; k < 3; k++) segops__metrics_request_begin(m);
    segops__metrics_snapshot(m, &st);
    assert_int_equal(st.requests_in_flight, 3);
    segops__metrics_request_end(m, 5);
    segops__metrics_snapshot(m, &st);
    assert_int_equal(st.requests_in_flight, 2);
    segops__metrics_free(m);
}

/* No failure: everyone goes. After one: nobody before its backoff, then one
 * prober at a time; its success lets everyone go again. */
static void test_probe_one_at_a_time(void **state) {
    (void)state;
    segops__probe_t *p;
    assert_int_equal(segops__probe_new(&p), SEGOPS_OK);
    bool probing = true;
    int64_t at = 0;
    assert_true(segops__probe_try_begin(p, 0, 0, &probing, &at));
    assert_false(probing);
    assert_true(segops__probe_try_begin(p, 0, 0, &probing, &at)); /* a second one too */
    segops__probe_end(p, false, true, 1000, 0, 0);                /* failed: wait 1 s */
    assert_true(segops__probe_failing(p));
    assert_false(segops__probe_try_begin(p, 500, 0, &probing, &at));
    assert_int_equal(at, 1000);
    assert_true(segops__probe_try_begin(p, 1000, 0, &probing, &at));
    assert_true(probing);
    bool other = false;
    assert_false(segops__probe_try_begin(p, 1000, 0, &other, &at)); /* held */
    assert_int_equal(at, 1000 + SEGOPS__PROBE_POLL_MS);
    segops__probe_end(p, true, true, 3000, 1000, 0); /* the probe failed again */
    assert_false(segops__probe_try_begin(p, 2000, 0, &other, &at));
    assert_int_equal(at, 3000);
    /* A flush (a new generation) cuts a backoff no server asked for. */
    assert_true(segops__probe_try_begin(p, 2000, 1, &probing, &at));
    assert_true(probing);
    segops__probe_end(p, true, false, 0, 0, 0); /* answered: the server is back */
    assert_false(segops__probe_failing(p));
    assert_true(segops__probe_try_begin(p, 2000, 1, &other, &at));
    assert_false(other);
    segops__probe_free(p);
}

/* A Retry-After floor is not cut by a flush (a longer backoff is cut down to
 * it); an abandoned probe frees it. */
static void test_probe_server_wait_and_abandon(void **state) {
    (void)state;
    segops__probe_t *p;
    assert_int_equal(segops__probe_new(&p), SEGOPS_OK);
    bool probing = false;
    int64_t at = 0;
    segops__probe_end(p, false, true, 9000, 5000, 7);
    assert_false(segops__probe_try_begin(p, 100, 7, &probing, &at)); /* no flush yet */
    assert_int_equal(at, 9000);
    assert_false(segops__probe_try_begin(p, 100, 8, &probing, &at));
    assert_int_equal(at, 5000);
    assert_true(segops__probe_try_begin(p, 5000, 8, &probing, &at));
    assert_true(probing);
    segops__probe_abandon(p, true);
    assert_true(segops__probe_failing(p)); /* nothing was learned */
    assert_true(segops__probe_try_begin(p, 5000, 8, &probing, &at));
    assert_true(probing);
    segops__probe_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentile_bounds_every_value),
        cmocka_unit_test(test_window_percentiles_and_eviction),
        cmocka_unit_test(test_delivery_delay_per_event),
        cmocka_unit_test(test_requests_in_flight),
        cmocka_unit_test(test_probe_one_at_a_time),
        cmocka_unit_test(test_probe_server_wait_and_abandon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
