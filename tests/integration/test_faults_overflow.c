/* Delivery under faults: the overflow policies DROP_NEWEST and DROP_OLDEST
 * when a silent server leaves the queue full, and DROP_OLDEST racing the
 * worker's batch walk. Every event is delivered once or reported dropped. */
#include "fixture.h"

#include <stdio.h>

#include "producers.h"

static void test_overflow_drop_newest(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_stuck(&f, 5, SEGOPS_OVERFLOW_DROP_NEWEST, 0);
    track_n(f.client, "u", 5, 5); /* fills the queue */
    for (int i = 10; i < 13; i++)
        assert_int_equal(segops_track(f.client, "u", "e", "{\"late\":true}"), SEGOPS_E_QUEUE_FULL);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.rejected_queue_full, 3);
    assert_int_equal(st.enqueued, 10);
    assert_int_equal(st.pending, 10);
    assert_conservation(f.client);

    unstick(f.srv);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 10, 1);
    assert_int_equal(devsrv_event_count(f.srv), 10);
    st = stats_of(f.client);
    assert_int_equal(st.delivered, 10);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(reports_of(&f.rec), 0); /* a refused track is not a drop */
    fixture_stop(&f);
}

static void test_overflow_drop_oldest(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_stuck(&f, 5, SEGOPS_OVERFLOW_DROP_OLDEST, 0);
    track_n(f.client, "u", 5, 8); /* 5..9 fill the queue; 10..12 evict 5..7 */
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.enqueued, 13);
    assert_int_equal(st.dropped_queue_overflow, 3);
    assert_int_equal(st.pending, 10);
    assert_conservation(f.client);
    assert_int_equal(reports_of(&f.rec), 3); /* one per evicting track, on its thread */
    for (size_t k = 0; k < 3; k++)
        assert_report(&f.rec, k, SEGOPS_E_QUEUE_FULL, 0, 1, SEGOPS_DROP_QUEUE_OVERFLOW);

    unstick(f.srv);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 5, 1); /* the batch in flight was never evictable */
    assert_server_holds(f.srv, 5, 3, 0); /* the evicted ones */
    assert_server_holds(f.srv, 8, 5, 1); /* the newest queued ones */
    assert_int_equal(devsrv_event_count(f.srv), 10);
    st = stats_of(f.client);
    assert_int_equal(st.delivered, 10);
    assert_int_equal(f.rec.by_reason[SEGOPS_DROP_QUEUE_OVERFLOW], 3);
    assert_int_equal(f.rec.events, st.dropped);
    fixture_stop(&f);
}

/* DROP_OLDEST under load: producers evict from the head while the worker walks
 * the queue without the lock to take a batch. Every event is delivered once or
 * reported dropped, and each producer's events arrive in the order tracked. */
enum { EVICT_THREADS = 3, EVICT_PER_THREAD = 20000 };

static void drop_oldest_race(size_t queue_events, size_t batch_size) {
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = make_options(f.srv, TEST_SK, &f.rec);
    assert_int_equal(segops_options_set_max_queue_events(opts, queue_events), SEGOPS_OK);
    assert_int_equal(segops_options_set_batch_size(opts, batch_size), SEGOPS_OK);
    assert_int_equal(segops_options_set_overflow(opts, SEGOPS_OVERFLOW_DROP_OLDEST), SEGOPS_OK);
    /* One request at a time: a thread's events then arrive in its order. */
    assert_int_equal(segops_options_set_max_in_flight(opts, 1), SEGOPS_OK);
    fixture_client(&f, opts);

    producer_counts_t tracked = run_producers(f.client, EVICT_THREADS, EVICT_PER_THREAD);
    assert_int_equal(tracked.ok, EVICT_THREADS * EVICT_PER_THREAD); /* DROP_OLDEST never refuses */
    assert_int_equal(tracked.queue_full + tracked.other, 0);
    assert_int_equal(segops_flush(f.client, 20000), SEGOPS_OK);

    segops_stats_t st = stats_of(f.client);
    const uint64_t total = EVICT_THREADS * EVICT_PER_THREAD;
    assert_int_equal(st.enqueued, total);
    assert_int_equal(st.pending, 0);
    assert_true(st.dropped_queue_overflow > 0); /* producers did outrun the worker */
    assert_int_equal(st.delivered + st.dropped_queue_overflow, total);
    assert_int_equal(f.rec.events, st.dropped);
    assert_int_equal(f.rec.by_reason[SEGOPS_DROP_QUEUE_OVERFLOW], st.dropped);

    size_t n = devsrv_event_count(f.srv);
    assert_int_equal(n, st.delivered);
    int last[EVICT_THREADS];
    for (int t = 0; t < EVICT_THREADS; t++) last[t] = -1;
    for (size_t k = 0; k < n; k++) {
        devsrv_event_t ev;
        assert_int_equal(devsrv_event_at(f.srv, k, &ev), 0);
        int t = -1, i = -1;
        assert_int_equal(sscanf(ev.payload_json, "{\"t\":%d,\"i\":%d}", &t, &i), 2);
        assert_true(t >= 0 && t < EVICT_THREADS);
        assert_true(i > last[t]); /* in order, and never twice */
        last[t] = i;
        devsrv_event_free(&ev);
    }
    fixture_stop(&f);
}

static void test_drop_oldest_while_worker_walks(void **state) {
    (void)state;
    drop_oldest_race(600, 100);
}

/* A queue of 3: evictions empty it while the worker walks, and refill it. */
static void test_drop_oldest_tiny_queue(void **state) {
    (void)state;
    drop_oldest_race(3, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overflow_drop_newest),
        cmocka_unit_test(test_overflow_drop_oldest),
        cmocka_unit_test(test_drop_oldest_while_worker_walks),
        cmocka_unit_test(test_drop_oldest_tiny_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
