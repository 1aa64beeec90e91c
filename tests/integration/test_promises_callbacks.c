/* Issue 11, defects 1 and 5: DROP_OLDEST evictions whose reports track again,
 * and a track that fails after it would have evicted. Each test failed on the
 * code before the core rewrite (see the comment above each). */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h" /* the fail-the-Nth-allocation hook (defect 5 only) */

/* An event of about `bytes` bytes with payload {"i":i,"pad":"xx…"}. */
static segops_err_t track_sized(segops_client_t *client, const char *type, int i, size_t bytes) {
    static char payload[16384];
    int head = snprintf(payload, sizeof payload, "{\"i\":%d,\"pad\":\"", i);
    size_t pad = bytes > (size_t)head + 2 ? bytes - (size_t)head - 2 : 0;
    if (pad > sizeof payload - (size_t)head - 3) pad = sizeof payload - (size_t)head - 3;
    memset(payload + head, 'x', pad);
    memcpy(payload + head + pad, "\"}", 3);
    return segops_track(client, "u", type, payload);
}

/* Tracks events of `bytes` bytes until the queue is full, i.e. until the first
 * DROP_OLDEST eviction has been counted. Returns how many were accepted. */
static int fill_until_evicting(segops_client_t *client, size_t bytes) {
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(track_sized(client, "fill", i, bytes), SEGOPS_OK);
        if (stats_of(client).dropped_queue_overflow > 0) return i + 1;
    }
    fail_msg("the queue never overflowed");
    return 0;
}

/* ---- defect 1: a report raised inside on_error is deferred, not nested ---- */

/* An on_error that tracks again (the header allows it) while `nested_left` lasts.
 * Under DROP_OLDEST with a full queue every such track evicts once more. */
static struct {
    pthread_mutex_t lock;
    segops_client_t *client;
    long nested_left;
    long nested_calls, nested_ok;
    segops_err_t nested_other;
    int max_depth;
    uint64_t overflow_events, other_events;
} g_nest = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local int on_error_depth;

static void nesting_on_error(const segops_error_info_t *error, void *userdata) {
    (void)userdata;
    on_error_depth++;
    pthread_mutex_lock(&g_nest.lock);
    if (on_error_depth > g_nest.max_depth) g_nest.max_depth = on_error_depth;
    if (error->reason == SEGOPS_DROP_QUEUE_OVERFLOW)
        g_nest.overflow_events += error->event_count;
    else
        g_nest.other_events += error->event_count;
    bool track_again = g_nest.nested_left > 0;
    if (track_again) g_nest.nested_left--;
    pthread_mutex_unlock(&g_nest.lock);
    if (track_again) {
        segops_err_t err = segops_track(g_nest.client, "u", "from_on_error", "{\"n\":1}");
        pthread_mutex_lock(&g_nest.lock);
        g_nest.nested_calls++;
        if (err == SEGOPS_OK)
            g_nest.nested_ok++;
        else
            g_nest.nested_other = err;
        pthread_mutex_unlock(&g_nest.lock);
    }
    on_error_depth--;
}

static void nest_reset(segops_client_t *client) {
    pthread_mutex_lock(&g_nest.lock);
    g_nest.client = client;
    g_nest.nested_left = 0;
    g_nest.nested_calls = g_nest.nested_ok = 0;
    g_nest.nested_other = SEGOPS_OK;
    g_nest.max_depth = 0;
    g_nest.overflow_events = g_nest.other_events = 0;
    pthread_mutex_unlock(&g_nest.lock);
}

static void nest_allow(long n) {
    pthread_mutex_lock(&g_nest.lock);
    g_nest.nested_left = n;
    pthread_mutex_unlock(&g_nest.lock);
}

/* DROP_OLDEST and a queue of 100 events, as in the issue, and one request a
 * minute (see hold_worker_in_its_loop). */
static segops_client_t *nesting_client(devsrv_t *srv) {
    segops_options_t *opts = make_options(srv, TEST_SK, NULL);
    assert_int_equal(segops_options_set_on_error(opts, nesting_on_error, NULL), SEGOPS_OK);
    assert_int_equal(segops_options_set_overflow(opts, SEGOPS_OVERFLOW_DROP_OLDEST), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_queue_events(opts, 100), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_requests_per_minute(opts, 1), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    nest_reset(client);
    return client;
}

/* The worker sends one batch (the default batch_size of 20 makes it due); the
 * limit of one request a minute then keeps it waiting in its loop, where it
 * delivers deferred reports, and takes no more events: room in the queue comes
 * only from evictions, so every track from on_error evicts and raises the next
 * report. (A dead server would hold the worker in its backoff instead, where
 * deferred reports wait: the chain would stop at its first link.) */
static void hold_worker_in_its_loop(devsrv_t *srv, segops_client_t *client) {
    for (int i = 0; i < 20; i++) assert_int_equal(track_sized(client, "held", i, 64), SEGOPS_OK);
    int64_t until = now_ms() + 10000; /* hang detector */
    while (stats_of(client).delivered < 20 && now_ms() < until) sleep_ms(2);
    assert_int_equal(stats_of(client).delivered, 20);
    assert_int_equal(devsrv_event_count(srv), 20);
}

/* Waits, the server still dead, until on_error has made all `nested` tracks:
 * with the queue full and the worker in backoff every one of them evicts and
 * so raises the next report. A hang detector: it fails only when the chain
 * makes no progress for 10 s, never on speed. */
static void wait_nested_chain(long nested) {
    long calls = -1;
    int64_t stalled_since = now_ms();
    for (;;) {
        pthread_mutex_lock(&g_nest.lock);
        long now_calls = g_nest.nested_calls;
        pthread_mutex_unlock(&g_nest.lock);
        if (now_calls >= nested) return;
        if (now_calls != calls) {
            calls = now_calls;
            stalled_since = now_ms();
        } else if (now_ms() - stalled_since > 10000) {
            fail_msg("the chain of tracks from on_error stopped at %ld of %ld", calls, nested);
        }
        sleep_ms(2);
    }
}

/* Once every report has run (the last track's eviction too), each evicted
 * event was reported once, and the accounting closes. */
static void check_nesting_outcome(segops_client_t *client, long nested) {
    int64_t stalled_since = now_ms();
    uint64_t reported = 0;
    for (;;) { /* the reports catch up with the evictions (hang detector only) */
        pthread_mutex_lock(&g_nest.lock);
        uint64_t now_reported = g_nest.overflow_events;
        pthread_mutex_unlock(&g_nest.lock);
        if (now_reported == stats_of(client).dropped_queue_overflow) break;
        if (now_reported != reported) {
            reported = now_reported;
            stalled_since = now_ms();
        }
        if (now_ms() - stalled_since > 10000) break; /* the checks below say what is missing */
        sleep_ms(2);
    }
    segops_stats_t st = stats_of(client);
    pthread_mutex_lock(&g_nest.lock);
    int max_depth = g_nest.max_depth;
    long calls = g_nest.nested_calls, ok = g_nest.nested_ok;
    segops_err_t other = g_nest.nested_other;
    uint64_t overflow_events = g_nest.overflow_events, other_events = g_nest.other_events;
    pthread_mutex_unlock(&g_nest.lock);
    if (max_depth != 1)
        fail_msg("on_error ran nested %d deep (%ld tracks from on_error): a report raised by a "
                 "segops_track inside on_error must be deferred until on_error returns, not run "
                 "inside it",
                 max_depth, calls);
    /* A deferred report runs on the worker after the callback that raised it
     * returned (segops.h, segops_error_fn); the server stayed dead until the
     * whole chain had run (wait_nested_chain), so every track evicted and
     * every one of them ran and worked. */
    if (calls != nested || ok != calls)
        fail_msg("%ld of %ld tracks from on_error ran, %ld returned SEGOPS_OK (last error %s)",
                 calls, nested, ok, segops_strerror(other));
    if (overflow_events != st.dropped_queue_overflow)
        fail_msg("%llu events evicted, %llu reported as overflow",
                 (unsigned long long)st.dropped_queue_overflow,
                 (unsigned long long)overflow_events);
    assert_int_equal(overflow_events + other_events, st.dropped);
    assert_conservation(client);
}

/* Before: the nested track evicted and called on_error on the same thread
 * inside the first one, 51 deep for 50 nested tracks. */
static void test_reports_from_on_error_are_deferred(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_client_t *client = nesting_client(srv);
    hold_worker_in_its_loop(srv, client);
    fill_until_evicting(client, 64);
    nest_allow(50);
    assert_int_equal(track_sized(client, "trigger", -1, 64), SEGOPS_OK);
    wait_nested_chain(50);
    check_nesting_outcome(client, 50);
    /* The minute's limit holds the rest: reported as shutdown drops. */
    assert_int_equal(segops_shutdown(client, 0), SEGOPS_E_TIMEOUT);
    assert_conservation(client);
    segops_client_free(client);
    devsrv_stop(srv);
}

/* Before: a stack overflow (SIGSEGV) — each nested track evicts and reports
 * inside the previous report. Deferred, this is a loop of 200,000 tracks. */
#define MANY_NESTED 200000L

static void test_tracking_on_error_does_not_crash(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_client_t *client = nesting_client(srv);
    hold_worker_in_its_loop(srv, client);
    fill_until_evicting(client, 64);
    nest_allow(MANY_NESTED);
    assert_int_equal(track_sized(client, "trigger", -1, 64), SEGOPS_OK);
    wait_nested_chain(MANY_NESTED);
    check_nesting_outcome(client, MANY_NESTED);
    segops_shutdown(client, 0);
    assert_conservation(client);
    segops_client_free(client);
    devsrv_stop(srv);
}

/* ---- defect 5: a track that fails (NOMEM) evicts nothing ---- */

#define BIG_EVENT 9500 /* over 8 KiB: such events get an allocation of their own */

/* Before: under DROP_OLDEST a full queue made track evict (and report) the
 * oldest event and then fail the allocation of the new one with
 * SEGOPS_E_NOMEM: "a call that returns an error has no further effect". */
static void test_failed_track_has_no_effect(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(srv, TEST_SK, &rec);
    assert_int_equal(segops_options_set_overflow(opts, SEGOPS_OVERFLOW_DROP_OLDEST), SEGOPS_OK);
    /* Three big events fill the byte bound; the worker sends only when flushed. */
    assert_int_equal(segops_options_set_max_event_bytes(opts, 16384), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_queue_bytes(opts, 32768), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_queue_events(opts, 100), SEGOPS_OK);
    assert_int_equal(segops_options_set_batch_size(opts, 100), SEGOPS_OK);
    assert_int_equal(segops_options_set_flush_interval_ms(opts, 3600000), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);

    int next = fill_until_evicting(client, BIG_EVENT);
    int failures_seen = 0;
    for (long n = 0;; n++) {
        assert_true(n < 1000);
        segops_stats_t before = stats_of(client);
        size_t reports_before = reports_of(&rec);
        uint64_t attempts_before = segops__alloc_test_count();
        segops__alloc_test_set_fail_after(n);
        segops_err_t err = track_sized(client, "probe", next, BIG_EVENT);
        segops__alloc_test_set_fail_after(-1);
        bool injected = segops__alloc_test_count() - attempts_before > (uint64_t)n;
        segops_stats_t after = stats_of(client);
        if (err == SEGOPS_E_NOMEM) {
            failures_seen++;
            if (after.dropped_queue_overflow != before.dropped_queue_overflow ||
                reports_of(&rec) != reports_before) {
                /* Stopped first: its worker must not report to `rec` after this frame. */
                segops_shutdown(client, 0);
                segops_client_free(client);
                devsrv_stop(srv);
                fail_msg("a track that returned SEGOPS_E_NOMEM (allocation %ld failing) evicted "
                         "%llu queued events and reported %zu drops",
                         n,
                         (unsigned long long)(after.dropped_queue_overflow -
                                              before.dropped_queue_overflow),
                         reports_of(&rec) - reports_before);
            }
            assert_int_equal(after.enqueued, before.enqueued);
            assert_int_equal(after.pending, before.pending);
            assert_int_equal(after.pending_bytes, before.pending_bytes);
            assert_int_equal(after.rejected_other, before.rejected_other + 1);
        } else {
            assert_int_equal(err, SEGOPS_OK);
            next++;
        }
        assert_conservation(client);
        if (!injected) break; /* the call made fewer than n + 1 allocations */
    }
    if (failures_seen == 0)
        fail_msg("no allocation failure reached a track call: the test did not exercise the "
                 "allocation of the new event");

    /* What stayed queued is delivered; nothing else was lost unreported. */
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    segops_stats_t st = stats_of(client);
    assert_int_equal(devsrv_event_count(srv), st.delivered);
    assert_int_equal(events_reported(&rec), st.dropped);
    assert_int_equal(st.dropped, st.dropped_queue_overflow);
    assert_int_equal(segops_shutdown(client, 5000), SEGOPS_OK);
    segops_client_free(client);
    devsrv_stop(srv);
    recorder_destroy(&rec);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reports_from_on_error_are_deferred),
        cmocka_unit_test(test_failed_track_has_no_effect),
        /* last: before the fix it kills the process */
        cmocka_unit_test(test_tracking_on_error_does_not_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
