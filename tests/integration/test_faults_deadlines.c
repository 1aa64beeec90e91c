/* Delivery under faults: flush and shutdown deadlines against a server that
 * never answers, and a flush that cuts a backoff wait short. Times asserted
 * are lower bounds, or the request timeout a call that ignored its deadline
 * would have waited for: never speed thresholds. */
#include "fixture.h"

#include <string.h>

/* The default request_timeout_ms: a call that did not cut the silent server's
 * request at its own deadline returns only after this. */
#define REQUEST_TIMEOUT_MS 10000

/* ---- deadlines against a server that never answers ---- */

static void test_shutdown_deadline_with_silent_server(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_faulty(&f, 1000); /* default request timeout: 10 s */
    assert_int_equal(devsrv_script_text(f.srv, "noanswer,noanswer"), 0);
    /* 500 go in flight; the shutdown sends the other 100 in a second request */
    track_n(f.client, "u", 0, 600);
    int64_t t0 = now_ms();
    assert_int_equal(segops_shutdown(f.client, 500), SEGOPS_E_TIMEOUT);
    int64_t elapsed = now_ms() - t0;
    if (elapsed >= REQUEST_TIMEOUT_MS)
        fail_msg("shutdown(500) took %lld ms: it waited for the request", (long long)elapsed);
    assert_true(elapsed >= 450);

    assert_int_equal(devsrv_event_count(f.srv), 0);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.enqueued, 600);
    assert_int_equal(st.dropped_shutdown, 600);
    assert_int_equal(st.dropped, 600);
    assert_int_equal(st.pending, 0);
    assert_conservation(f.client);
    assert_int_equal(f.rec.events, 600);
    assert_int_equal(f.rec.by_reason[SEGOPS_DROP_SHUTDOWN], 600);
    size_t aborted = 0; /* events of the requests cut off in flight */
    for (size_t k = 0; k < reports_of(&f.rec); k++) {
        assert_int_equal(f.rec.info[k].code, SEGOPS_E_TIMEOUT);
        assert_int_equal(f.rec.info[k].reason, SEGOPS_DROP_SHUTDOWN);
        if (strstr(f.rec.messages[k], "may have reached the server"))
            aborted += f.rec.info[k].event_count;
    }
    /* Both requests reached a server that never answered: their reports
     * must not say they were simply not sent. */
    assert_int_equal(aborted, 600);
    assert_int_equal(server_stats(f.srv).batch_requests, 2);
    /* Idempotent: a later call returns the first one's result, never SEGOPS_OK
     * for the events it dropped. */
    assert_int_equal(segops_shutdown(f.client, 500), SEGOPS_E_TIMEOUT);
    fixture_stop(&f);
}

static void test_flush_deadline_with_silent_server(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_faulty(&f, 1000);
    assert_int_equal(devsrv_script_text(f.srv, "noanswer"), 0);
    track_n(f.client, "u", 0, 5);
    int64_t t0 = now_ms();
    assert_int_equal(segops_flush(f.client, 500), SEGOPS_E_TIMEOUT);
    int64_t elapsed = now_ms() - t0;
    assert_true(elapsed >= 490);
    if (elapsed >= REQUEST_TIMEOUT_MS)
        fail_msg("flush(500) took %lld ms: it waited for the request", (long long)elapsed);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.pending, 5); /* a flush timeout drops nothing */
    assert_int_equal(st.dropped, 0);
    assert_int_equal(reports_of(&f.rec), 0);
    assert_conservation(f.client);

    t0 = now_ms();
    assert_int_equal(segops_shutdown(f.client, 300), SEGOPS_E_TIMEOUT);
    if (now_ms() - t0 >= REQUEST_TIMEOUT_MS) fail_msg("shutdown(300) waited for the request");
    assert_int_equal(reports_of(&f.rec), 1);
    assert_report(&f.rec, 0, SEGOPS_E_TIMEOUT, 0, 5, SEGOPS_DROP_SHUTDOWN);
    fixture_stop(&f);
}

/* ---- a flush cuts a backoff wait short ---- */

/* A client that sends every 5 events and backs off 10..20 s after a failure. */
static void start_long_backoff(fixture_t *f) {
    fixture_start(f, NULL);
    segops_options_t *opts = fault_options(f, 5);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 20000, 20000), SEGOPS_OK);
    fixture_client(f, opts);
}

static void test_flush_cuts_backoff_short(void **state) {
    (void)state;
    fixture_t f;
    start_long_backoff(&f);
    assert_int_equal(devsrv_script_text(f.srv, "503"), 0);
    track_n(f.client, "u", 0, 5); /* batch_size: sent at once, answered 503 */
    wait_requests(f.srv, 1);
    sleep_ms(100); /* the worker is in its 10..20 s backoff now */
    /* A backoff is at least 10 s: delivering within 8 s proves the cut. */
    assert_int_equal(segops_flush(f.client, 8000), SEGOPS_OK);
    assert_delivered_once(&f, 5, 2);
    fixture_stop(&f);
}

/* The flush arrives while the failing attempt is still in flight: the backoff
 * that follows must not ignore it. */
static void test_flush_during_failing_attempt_cuts_backoff(void **state) {
    (void)state;
    fixture_t f;
    start_long_backoff(&f);
    devsrv_set_answer_delay(f.srv, 500);
    assert_int_equal(devsrv_script_text(f.srv, "503"), 0);
    track_n(f.client, "u", 0, 5);
    wait_requests(f.srv, 1); /* the server holds the request for 500 ms, then 503 */
    devsrv_set_answer_delay(f.srv, 0);
    assert_int_equal(segops_flush(f.client, 8000), SEGOPS_OK);
    assert_delivered_once(&f, 5, 2);
    fixture_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shutdown_deadline_with_silent_server),
        cmocka_unit_test(test_flush_deadline_with_silent_server),
        cmocka_unit_test(test_flush_cuts_backoff_short),
        cmocka_unit_test(test_flush_during_failing_attempt_cuts_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
