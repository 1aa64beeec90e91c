/* What sends a request: flush, shutdown, the flush interval on its own, batch_size queued events.
 */
#include "testutil.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "latency.h"

static void test_flush_and_shutdown_deliver_everything(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_client_t *client = quiet_client(srv, NULL, 100000, 3600000);
    for (int i = 0; i < 137; i++) assert_int_equal(segops_track(client, "u", "a", "{}"), SEGOPS_OK);
    sleep_ms(100);
    assert_int_equal(devsrv_event_count(srv), 0); /* nothing due yet */
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(devsrv_event_count(srv), 137);
    for (int i = 0; i < 55; i++) assert_int_equal(segops_track(client, "u", "b", "{}"), SEGOPS_OK);
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);
    assert_int_equal(devsrv_event_count(srv), 192);
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK); /* idempotent */
    assert_int_equal(segops_track(client, "u", "c", "{}"), SEGOPS_E_STATE);
    assert_int_equal(segops_flush(client, 100), SEGOPS_E_STATE);
    segops_stats_t st;
    segops_client_stats(client, &st);
    assert_int_equal(st.delivered, 192);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.rejected_state, 1);
    assert_conservation(client);
    segops_client_free(client);
    devsrv_stop(srv);
}

/* The events of each batch request the server logged, in arrival order, once
 * each has its answer (the log records it just after the events are counted). */
static size_t request_sizes(devsrv_t *srv, uint32_t *sizes, size_t max) {
    devsrv_request_t log[8];
    size_t n;
    int64_t until = now_ms() + 10000; /* hang detector */
    for (;;) {
        n = devsrv_request_log(srv, log, 8);
        assert_true(n <= max && n <= 8);
        bool answered = true;
        for (size_t i = 0; i < n; i++) answered = answered && log[i].status != 0;
        if (answered || now_ms() > until) break;
        sleep_ms(1);
    }
    for (size_t i = 0; i < n; i++) sizes[i] = log[i].events;
    return n;
}

/* A 200 ms flush interval sends three events well before the pacing would
 * (a second client, with an hour-long interval, measures the pacing). */
static void test_interval_flush_fires_on_its_own(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_client_t *client = quiet_client(srv, NULL, 1000, 200);
    int64_t start = now_ms();
    for (int i = 0; i < 3; i++)
        assert_int_equal(segops_track(client, "u", "tick", NULL), SEGOPS_OK);
    int64_t by_interval = time_arrival(srv, 3, start);
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.delivered + st.pending, 3);
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);
    segops_client_free(client);

    segops_client_t *paced = quiet_client(srv, NULL, 1000, 3600000);
    int64_t by_pacing = track_and_time_arrival(paced, srv, 0, 4);
    assert_sooner_than_pacing(by_interval, by_pacing, "a 200 ms flush interval");
    assert_int_equal(segops_shutdown(paced, 10000), SEGOPS_OK);
    segops_client_free(paced);
    devsrv_stop(srv);
}

/* The batch_size-th event sends the batch at once: nine wait, the tenth goes
 * with them in one request, well before a lone event after it, which only the
 * pacing sends. */
static void test_batch_size_triggers_send(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_client_t *client = quiet_client(srv, NULL, 10, 3600000);
    for (int i = 0; i < 9; i++) assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    int64_t by_batch_size = track_and_time_arrival(client, srv, 0, 10);
    int64_t by_pacing = track_and_time_arrival(client, srv, 1, 11);
    uint32_t sizes[2];
    assert_int_equal(request_sizes(srv, sizes, 2), 2);
    assert_int_equal(sizes[0], 10); /* the nine waited for the tenth */
    assert_int_equal(sizes[1], 1);
    assert_sooner_than_pacing(by_batch_size, by_pacing, "the batch_size-th event");
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);
    segops_client_free(client);
    devsrv_stop(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flush_and_shutdown_deliver_everything),
        cmocka_unit_test(test_interval_flush_fires_on_its_own),
        cmocka_unit_test(test_batch_size_triggers_send),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
