/* Delivery under faults, by status code: which answers are retried, which
 * reject a batch once, and how a 413 splits a batch down to single events.
 * What the server received, what on_error reported and the stats, exactly. */
#include "fixture.h"

/* ---- status codes ---- */

static void test_503_then_success_delivers_once(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_faulty(&f, 1000);
    track_and_flush(&f, "503,503", 5, 10000);
    assert_delivered_once(&f, 5, 3);
    fixture_stop(&f);
}

static void test_500_until_retries_exhausted(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = fault_options(&f, 1000);
    assert_int_equal(segops_options_set_max_retries(opts, 2), SEGOPS_OK);
    fixture_client(&f, opts);
    track_and_flush(&f, "500,500,500", 6, 10000); /* max_retries + 1 failures */

    assert_int_equal(devsrv_script_pending(f.srv), 0);
    assert_int_equal(server_stats(f.srv).batch_requests, 3);
    assert_int_equal(devsrv_event_count(f.srv), 0);
    assert_int_equal(reports_of(&f.rec), 1);
    assert_report(&f.rec, 0, SEGOPS_E_SERVER, 500, 6, SEGOPS_DROP_RETRIES_EXHAUSTED);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.requests, 3);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.dropped_retries_exhausted, 6);
    assert_int_equal(st.dropped, 6);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(f.rec.events, st.dropped);
    fixture_stop(&f);
}

/* A status that is not retried: one request, the batch dropped once, and the
 * next batch goes through normally. */
static void check_not_retried(const char *script, int status, segops_err_t code) {
    fixture_t f;
    fixture_start_faulty(&f, 1000);
    track_and_flush(&f, script, 4, 10000);
    assert_int_equal(server_stats(f.srv).batch_requests, 1);
    assert_int_equal(reports_of(&f.rec), 1);
    assert_report(&f.rec, 0, code, status, 4, SEGOPS_DROP_REJECTED);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.retries, 0);
    assert_int_equal(st.dropped_rejected, 4);

    track_n(f.client, "u", 4, 2);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 4, 0);
    assert_server_holds(f.srv, 4, 2, 1);
    assert_int_equal(reports_of(&f.rec), 1);
    assert_int_equal(stats_of(f.client).delivered, 2);
    fixture_stop(&f);
}

static void test_501_not_retried(void **state) {
    (void)state;
    check_not_retried("501", 501, SEGOPS_E_SERVER);
}

static void test_400_rejected_once(void **state) {
    (void)state;
    check_not_retried("400:body={\"detail\":\"bad event\"}", 400, SEGOPS_E_HTTP);
}

static void test_408_retried(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_faulty(&f, 1000);
    track_and_flush(&f, "408", 3, 10000);
    assert_delivered_once(&f, 3, 2);
    fixture_stop(&f);
}

/* ---- 413: split ---- */

static void test_413_splits_batch_in_halves(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_faulty(&f, 1000);
    track_and_flush(&f, "413", 10, 10000);

    assert_server_holds(f.srv, 0, 10, 1);
    devsrv_stats_t ss = server_stats(f.srv);
    assert_int_equal(ss.batch_requests, 3); /* the refused one, then two halves */
    assert_int_equal(ss.batch_accepted, 2);
    assert_int_equal(ss.max_events_per_request, 5);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.delivered, 10);
    assert_int_equal(st.requests, 3);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

static void test_413_down_to_single_events(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_faulty(&f, 1000);
    /* 4 events: one request of 4, two of 2, four of 1. */
    track_and_flush(&f, "413,413,413,413,413,413,413", 4, 10000);

    assert_int_equal(devsrv_script_pending(f.srv), 0);
    assert_int_equal(server_stats(f.srv).batch_requests, 7);
    assert_int_equal(devsrv_event_count(f.srv), 0);
    assert_int_equal(reports_of(&f.rec), 4);
    for (size_t k = 0; k < 4; k++)
        assert_report(&f.rec, k, SEGOPS_E_TOO_LARGE, 413, 1, SEGOPS_DROP_TOO_LARGE);
    assert_int_equal(f.rec.by_reason[SEGOPS_DROP_TOO_LARGE], 4);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.dropped_too_large, 4);
    assert_int_equal(st.dropped, 4);
    assert_int_equal(st.requests, 7);
    fixture_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_503_then_success_delivers_once),
        cmocka_unit_test(test_500_until_retries_exhausted),
        cmocka_unit_test(test_501_not_retried),
        cmocka_unit_test(test_400_rejected_once),
        cmocka_unit_test(test_408_retried),
        cmocka_unit_test(test_413_splits_batch_in_halves),
        cmocka_unit_test(test_413_down_to_single_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
