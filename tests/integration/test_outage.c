/* With default options, a one-minute outage at 100 events/s loses nothing.
 * Real time: the server refuses connections for 60 s while events keep coming. */
#include "testutil.h"

#include <stdio.h>

#define OUTAGE_MS 60000
#define EVENTS_PER_SECOND 100

static void test_one_minute_outage_loses_nothing(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(srv, TEST_SK, &rec); /* defaults otherwise */
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);

    assert_int_equal(devsrv_pause(srv), 0); /* connections refused from now on */
    int64_t start = now_ms();
    int tracked = 0;
    char payload[64];
    while (now_ms() - start < OUTAGE_MS) {
        for (int i = 0; i < EVENTS_PER_SECOND / 10; i++, tracked++) {
            snprintf(payload, sizeof payload, "{\"n\":%d}", tracked);
            assert_int_equal(segops_track(client, "u-outage", "heartbeat", payload), SEGOPS_OK);
        }
        sleep_ms(100);
    }
    segops_stats_t st;
    segops_client_stats(client, &st);
    assert_true(st.requests > 0); /* it did try (and fail) during the outage */
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.dropped, 0);

    assert_int_equal(devsrv_resume(srv), 0);
    /* A flush cuts the current backoff short instead of waiting up to 30 s more. */
    assert_int_equal(segops_flush(client, 60000), SEGOPS_OK);
    segops_client_stats(client, &st);
    assert_int_equal(st.enqueued, (uint64_t)tracked);
    assert_int_equal(st.delivered, (uint64_t)tracked);
    assert_int_equal(st.dropped, 0);
    assert_true(st.retries > 0);
    assert_conservation(client);
    assert_int_equal(devsrv_event_count(srv), (size_t)tracked);
    assert_int_equal(rec.reports, 0);
    segops_client_free(client);
    recorder_destroy(&rec);
    devsrv_stop(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_one_minute_outage_loses_nothing)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
