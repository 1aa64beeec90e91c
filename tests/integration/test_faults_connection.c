/* Delivery under faults: slow, silent and broken connections, and a server
 * that is down for a while. What the server received (at least once, exactly
 * how often), what on_error reported and the stats. */
#include "fixture.h"

/* ---- slow, silent and broken connections ---- */

/* Delivers 3 events through `script` with a request timeout of timeout_ms, in
 * `requests` POSTs: a slow answer within the timeout takes one, a silent
 * server times out and the retry delivers. */
static void expect_delivered_with_timeout(const char *script, int timeout_ms, uint64_t requests) {
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = fault_options(&f, 1000);
    assert_int_equal(segops_options_set_request_timeout_ms(opts, timeout_ms), SEGOPS_OK);
    fixture_client(&f, opts);
    track_and_flush(&f, script, 3, 10000);
    assert_delivered_once(&f, 3, requests);
    fixture_stop(&f);
}

static void test_delay_within_timeout_delivers(void **state) {
    (void)state;
    expect_delivered_with_timeout("delay=300", 5000, 1);
}

static void test_no_answer_times_out_and_retries(void **state) {
    (void)state;
    expect_delivered_with_timeout("noanswer", 300, 2);
}

static void test_close_before_answer_retried_once(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_faulty(&f, 1000);
    track_and_flush(&f, "close", 4, 10000);
    assert_delivered_once(&f, 4, 2);
    fixture_stop(&f);
}

/* The server recorded the batch but the answer was cut: the client cannot know,
 * so it retries and the server holds every event twice (at-least-once). */
static void test_close_mid_answer_duplicates(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_faulty(&f, 1000);
    track_and_flush(&f, "closemid", 4, 10000);
    assert_server_holds(f.srv, 0, 4, 2);
    devsrv_stats_t ss = server_stats(f.srv);
    assert_int_equal(ss.events_received, 8);
    assert_int_equal(ss.batch_requests, 2);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.delivered, 4); /* counted once by the client */
    assert_int_equal(st.retries, 1);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

typedef struct resumer {
    devsrv_t *srv;
    int after_ms;
    int rc;
} resumer_t;

static void *resume_later(void *arg) {
    resumer_t *r = arg;
    sleep_ms(r->after_ms);
    r->rc = devsrv_resume(r->srv);
    return NULL;
}

static void test_server_down_for_a_while_loses_nothing(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = fault_options(&f, 1000);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 50, 200), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_retries(opts, 100), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(devsrv_pause(f.srv), 0); /* connections are refused */
    track_n(f.client, "u", 0, 7);
    resumer_t r = {f.srv, 2000, -1};
    pthread_t t;
    pthread_create(&t, NULL, resume_later, &r);
    int64_t t0 = now_ms();
    assert_int_equal(segops_flush(f.client, 20000), SEGOPS_OK);
    int64_t elapsed = now_ms() - t0;
    pthread_join(t, NULL);
    assert_int_equal(r.rc, 0);
    assert_true(elapsed >= 1900); /* it could not have delivered while the port was shut */
    assert_server_holds(f.srv, 0, 7, 1);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.delivered, 7);
    assert_true(st.retries >= 2);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay_within_timeout_delivers),
        cmocka_unit_test(test_no_answer_times_out_and_retries),
        cmocka_unit_test(test_close_before_answer_retried_once),
        cmocka_unit_test(test_close_mid_answer_duplicates),
        cmocka_unit_test(test_server_down_for_a_while_loses_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
