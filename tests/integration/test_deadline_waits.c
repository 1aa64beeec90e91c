/* The shutdown deadline ends every wait that does not end on its own: a
 * server's Retry-After floor (which no flush or stop cuts) in a batch sender
 * and in a synchronous send, and a track blocked for room under
 * SEGOPS_OVERFLOW_BLOCK. Each wait here would last a minute or more; what ends
 * it is shown by what happened (no retry reached the server, the events were
 * dropped as SHUTDOWN, the track was refused as shut down rather than timed
 * out), and the only time compared is against the server's own floor (a
 * ratio in one run, which valgrind cannot break). */
#include "bounded_thread.h"
#include "fixture.h"

/* The server's floor: far longer than any shutdown deadline below. */
#define FLOOR_S 60 /* the scripts below say ra=60 */
#define FLOOR_MS (FLOOR_S * 1000)
#define SHUTDOWN_MS 300

/* A batch sender sleeps out a 503's Retry-After; shutdown(300) ends the sleep:
 * the events are dropped as SHUTDOWN and no retry was made. */
static void test_shutdown_deadline_ends_retry_after_floor(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_faulty(&f, 3);
    assert_int_equal(devsrv_script_text(f.srv, "503:ra=60"), 0);
    track_n(f.client, "u", 0, 3); /* a full batch: sent at once */
    wait_requests(f.srv, 1);
    int64_t t0 = now_ms();
    assert_int_equal(segops_shutdown(f.client, SHUTDOWN_MS), SEGOPS_E_TIMEOUT);
    int64_t took = now_ms() - t0;
    if (took >= FLOOR_MS / 2)
        fail_msg("shutdown(%d) took %lld ms: it waited for the %d s floor", SHUTDOWN_MS,
                 (long long)took, FLOOR_S);
    assert_int_equal(server_stats(f.srv).batch_requests, 1); /* no retry */
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.dropped_shutdown, 3);
    assert_int_equal(st.delivered, 0);
    assert_report(&f.rec, 0, SEGOPS_E_TIMEOUT, 503, 3, SEGOPS_DROP_SHUTDOWN);
    fixture_stop(&f);
}

typedef struct sync_track {
    segops_client_t *client;
    segops_err_t rc;
} sync_track_t;

static void *track_sync(void *arg) {
    sync_track_t *t = arg;
    t->rc = segops_track(t->client, "u", "e", "{\"i\":0}");
    return NULL;
}

/* The same floor in a synchronous send (batch = false), whose own deadline
 * (sync_timeout_ms) is longer still: the shutdown deadline, combined with it
 * through the earlier of the two, ends the send. */
static void test_shutdown_deadline_ends_sync_send_floor(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = make_options(f.srv, TEST_SK, &f.rec);
    assert_int_equal(segops_options_set_batch(opts, false), SEGOPS_OK);
    assert_int_equal(segops_options_set_sync_timeout_ms(opts, 4 * FLOOR_MS), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(devsrv_script_text(f.srv, "503:ra=60"), 0);
    sync_track_t t = {f.client, SEGOPS_E_INTERNAL};
    bounded_thread_t thread;
    bounded_start(&thread, track_sync, &t);
    wait_requests(f.srv, 1);
    int64_t t0 = now_ms();
    assert_int_equal(segops_shutdown(f.client, SHUTDOWN_MS), SEGOPS_E_TIMEOUT);
    int64_t took = now_ms() - t0;
    if (!bounded_join(&thread, now_ms() + HANG_MS)) {
        bounded_abandon(&thread);
        fail_msg("the synchronous track did not return after the shutdown");
    }
    if (took >= FLOOR_MS / 2)
        fail_msg("shutdown(%d) took %lld ms: it waited for the %d s floor", SHUTDOWN_MS,
                 (long long)took, FLOOR_S);
    assert_int_equal(t.rc, SEGOPS_E_TIMEOUT);
    assert_int_equal(server_stats(f.srv).batch_requests, 1); /* no retry */
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.dropped_shutdown, 1);
    assert_int_equal(st.delivered, 0);
    fixture_stop(&f);
}

typedef struct blocked_track {
    segops_client_t *client;
    segops_err_t rc;
    _Atomic pid_t tid; /* set just before the track */
} blocked_track_t;

static void *track_blocking(void *arg) {
    blocked_track_t *b = arg;
    b->tid = thread_id();
    b->rc = segops_track(b->client, "u", "e", "{\"i\":100}");
    return NULL;
}

/* A track blocked for room (block_timeout_ms: the 600 s maximum) ends when
 * the shutdown closes admission: refused as SEGOPS_E_STATE, not QUEUE_FULL
 * (which only the block timeout gives). */
static void test_shutdown_ends_blocked_track(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_stuck(&f, 3, SEGOPS_OVERFLOW_BLOCK, 600000);
    track_n(f.client, "u", 3, 3); /* fills the queue */
    blocked_track_t b = {f.client, SEGOPS_E_INTERNAL, 0};
    bounded_thread_t thread;
    bounded_start(&thread, track_blocking, &b);
    int64_t until = now_ms() + 10000; /* hang detector */
    while (!b.tid && now_ms() < until) sleep_ms(1);
    assert_true(b.tid != 0);
    wait_thread_asleep(b.tid); /* blocked in the track */
    assert_int_equal(segops_shutdown(f.client, SHUTDOWN_MS), SEGOPS_E_TIMEOUT);
    if (!bounded_join(&thread, now_ms() + HANG_MS)) {
        bounded_abandon(&thread);
        fail_msg("the blocked track did not return after the shutdown");
    }
    assert_int_equal(b.rc, SEGOPS_E_STATE);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.rejected_state, 1);
    assert_int_equal(st.rejected_queue_full, 0);
    assert_int_equal(st.dropped_shutdown, 6); /* the stuck batch and the full queue */
    fixture_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shutdown_deadline_ends_retry_after_floor),
        cmocka_unit_test(test_shutdown_deadline_ends_sync_send_floor),
        cmocka_unit_test(test_shutdown_ends_blocked_track),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
