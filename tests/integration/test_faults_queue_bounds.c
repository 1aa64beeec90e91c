/* Delivery under faults: the queue bounds hold (across racing threads, in
 * events and in bytes), and BLOCK waits for room that only taking a batch
 * makes. Times asserted are lower bounds or generous hang detectors. */
#include "fixture.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "bounded_thread.h"
#include "latency.h"
#include "producers.h"

/* The bounds hold across lanes: threads racing for the places of a queue fill
 * it exactly (a track is refused only when the queue is full), never overfill
 * it, and every refusal is counted. */
enum { RACE_THREADS = 8, RACE_TRIES = 200, RACE_QUEUE = 400 };

static void test_queue_bound_holds_across_threads(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_stuck(&f, RACE_QUEUE, SEGOPS_OVERFLOW_DROP_NEWEST, 0); /* RACE_QUEUE in flight */
    producer_counts_t raced = run_producers(f.client, RACE_THREADS, RACE_TRIES);
    uint64_t accepted = raced.ok, refused = raced.queue_full;
    assert_int_equal(raced.other, 0);
    assert_int_equal(accepted + refused, RACE_THREADS * RACE_TRIES);
    assert_int_equal(accepted, RACE_QUEUE); /* every place taken, none twice */
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.enqueued, RACE_QUEUE + (uint64_t)accepted);
    assert_int_equal(st.rejected_queue_full, (uint64_t)refused);
    assert_int_equal(st.pending, RACE_QUEUE + (uint64_t)accepted);
    assert_conservation(f.client);

    unstick(f.srv);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    st = stats_of(f.client);
    assert_int_equal(st.delivered, RACE_QUEUE + (uint64_t)accepted);
    assert_int_equal(devsrv_event_count(f.srv), RACE_QUEUE + (size_t)accepted);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

typedef struct blocked_track {
    segops_client_t *client;
    segops_err_t rc;
    int done;
    pthread_mutex_t lock;
    _Atomic pid_t tid; /* set just before the track */
} blocked_track_t;

static void *track_blocking(void *arg) {
    blocked_track_t *b = arg;
    b->tid = thread_id();
    segops_err_t rc = segops_track(b->client, "u", "e", "{\"i\":100}");
    pthread_mutex_lock(&b->lock);
    b->rc = rc;
    b->done = 1;
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

static void test_overflow_block(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_stuck(&f, 3, SEGOPS_OVERFLOW_BLOCK, 2000);
    track_n(f.client, "u", 3, 3); /* fills the queue */

    int64_t t0 = now_ms();
    assert_int_equal(segops_track(f.client, "u", "e", "{\"late\":1}"), SEGOPS_E_QUEUE_FULL);
    int64_t waited = now_ms() - t0;
    assert_true(waited >= 1990);          /* it did block for block_timeout_ms */
    assert_true(waited < 2000 + HANG_MS); /* and no longer */
    assert_int_equal(stats_of(f.client).rejected_queue_full, 1);

    blocked_track_t b = {f.client, SEGOPS_E_INTERNAL, 0, PTHREAD_MUTEX_INITIALIZER, 0};
    pthread_t t;
    pthread_create(&t, NULL, track_blocking, &b);
    int64_t until = now_ms() + 10000; /* hang detector */
    while (!b.tid && now_ms() < until) sleep_ms(1);
    assert_true(b.tid != 0);
    wait_thread_asleep(b.tid); /* blocked in the track */
    pthread_mutex_lock(&b.lock);
    assert_int_equal(b.done, 0); /* still waiting for room */
    pthread_mutex_unlock(&b.lock);
    /* The retry of the stuck batch goes through; the next batch hangs in turn:
     * taking it from the queue is what makes room, not delivering it. */
    assert_int_equal(devsrv_script_text(f.srv, "delay=0,noanswer"), 0);
    unstick(f.srv);
    pthread_join(t, NULL);
    assert_int_equal(b.rc, SEGOPS_OK);
    wait_requests(f.srv, 3);
    assert_server_holds(f.srv, 0, 3, 1);
    assert_server_holds(f.srv, 3, 3, 0); /* the second batch is still held */

    unstick(f.srv);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 6, 1);
    assert_server_holds(f.srv, 100, 1, 1);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.enqueued, 7);
    assert_int_equal(st.delivered, 7);
    assert_int_equal(st.rejected_queue_full, 1);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

/* Tracks an event of about 1300 encoded bytes: three fit in 4096 bytes. */
static segops_err_t track_big(segops_client_t *client, int i) {
    char payload[1400];
    int n = snprintf(payload, sizeof payload, "{\"i\":%d,\"pad\":\"", i);
    memset(payload + n, 'x', 1200);
    memcpy(payload + n + 1200, "\"}", 3);
    return segops_track(client, "u", "e", payload);
}

/* A client whose queue holds at most 4096 bytes (three big events). */
static void start_bytes_bound(fixture_t *f, segops_overflow_t policy) {
    fixture_start(f, NULL);
    segops_options_t *opts = fault_options(f, 20);
    assert_int_equal(segops_options_set_max_event_bytes(opts, 2048), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_queue_bytes(opts, 4096), SEGOPS_OK);
    assert_int_equal(segops_options_set_overflow(opts, policy), SEGOPS_OK);
    assert_int_equal(segops_options_set_block_timeout_ms(opts, 5000), SEGOPS_OK);
    fixture_client(f, opts);
}

static void test_max_queue_bytes_drop_newest(void **state) {
    (void)state;
    fixture_t f;
    start_bytes_bound(&f, SEGOPS_OVERFLOW_DROP_NEWEST);
    for (int i = 0; i < 3; i++) assert_int_equal(track_big(f.client, i), SEGOPS_OK);
    assert_int_equal(track_big(f.client, 3), SEGOPS_E_QUEUE_FULL);
    assert_int_equal(track_big(f.client, 4), SEGOPS_E_QUEUE_FULL);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.enqueued, 3);
    assert_int_equal(st.rejected_queue_full, 2);
    assert_true(st.pending_bytes <= 4096);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_int_equal(devsrv_event_count(f.srv), 3);
    assert_int_equal(stats_of(f.client).delivered, 3);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

/* The byte bound fills before batch_size is reached: a blocked track must still
 * make the worker send at once, or it waits for the pacing (1.05 s; the flush
 * interval is an hour). The longest track must be well under the wait of a
 * lone event, measured after them: a missed wake-up makes them equal. */
static void test_max_queue_bytes_block_drains(void **state) {
    (void)state;
    fixture_t f;
    start_bytes_bound(&f, SEGOPS_OVERFLOW_BLOCK);
    int64_t longest_track = 0;
    for (int i = 0; i < 8; i++) {
        int64_t start = now_ms();
        assert_int_equal(track_big(f.client, i), SEGOPS_OK);
        int64_t took = now_ms() - start;
        if (took > longest_track) longest_track = took;
    }
    /* Two requests made room (3 + 3 events); events 6 and 7 and a lone one
     * wait for the pacing. */
    wait_requests(f.srv, 2);
    int64_t by_pacing = track_and_time_arrival(f.client, f.srv, 0, 9);
    assert_sooner_than_pacing(longest_track, by_pacing, "a track blocked on a full queue");
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_int_equal(devsrv_event_count(f.srv), 9);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.delivered, 9);
    assert_int_equal(st.rejected_queue_full, 0);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_bound_holds_across_threads),
        cmocka_unit_test(test_overflow_block),
        cmocka_unit_test(test_max_queue_bytes_drop_newest),
        cmocka_unit_test(test_max_queue_bytes_block_drains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
