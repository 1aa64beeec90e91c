/* DROP_OLDEST with a spool that is full: the first eviction needs memory for
 * the note that the evicted event's record is to be acknowledged. Each
 * allocation of that track call fails in turn ("fail the Nth allocation"):
 * whatever fails, every event ends one way only, delivered once or reported
 * once (a refused one never arrives), here and for the next client on the
 * same spool_dir, which would deliver an evicted event whose record was never
 * acknowledged. */
#include "spooltest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define PAD 4000 /* about 4 KiB a record: a 1 MiB spool holds about 250 */
/* max_queue_events and batch_size, one request in flight: with the server
 * down 2 * QUEUE events are held in memory, more than the spool holds, so it
 * refuses a write (it has no backlog to drop) before the queue is full. */
#define QUEUE 150
#define FIRST_CHUNK 200 /* tracked at once, before the spool is full */
#define EVENTS_MAX 1000
#define STEPS 8 /* allocations failed in turn; the note's is among the first */
#define HANG_BOUND_MS 60000

/* Waits until the spool thread has written (or failed to write) n events. */
static void wait_processed(segops_client_t *client, uint64_t n) {
    int64_t end = now_ms() + HANG_BOUND_MS;
    for (;;) {
        segops_stats_t st = stats_of(client);
        if (st.spooled + st.spool_write_failures >= n) return;
        if (now_ms() > end)
            fail_msg("the spool thread did not write %llu events", (unsigned long long)n);
        sleep_ms(1);
    }
}

/* One round: fills the spool until a write is refused, then tracks one event
 * with allocation `fail_at` of the call failing; the events then end as they
 * may, through this client and the next one. */
static void one_round(long fail_at) {
    fixture_t f;
    fixture_start(&f, NULL);
    char name[32];
    snprintf(name, sizeof name, "evict_%ld", fail_at);
    const char *dir = spool_path(name);
    segops_options_t *opts = spool_options(&f, QUEUE, dir);
    assert_int_equal(segops_options_set_max_in_flight(opts, 1), SEGOPS_OK);
    assert_int_equal(segops_options_set_spool_max_bytes(opts, 1 << 20), SEGOPS_OK);
    assert_int_equal(segops_options_set_overflow(opts, SEGOPS_OVERFLOW_DROP_OLDEST), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_queue_events(opts, QUEUE), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(devsrv_pause(f.srv), 0);

    bool *accepted = calloc(EVENTS_MAX, sizeof *accepted);
    assert_non_null(accepted);
    int n = 0, n_accepted = 0;
    for (; n < FIRST_CHUNK; n++) {
        accepted[n] = track_one_with_pad(f.client, n, PAD) == SEGOPS_OK;
        n_accepted += accepted[n];
    }
    wait_processed(f.client, (uint64_t)n_accepted);
    /* One at a time, allocation fail_at of each call failing, up to the first
     * that fails or drops anything (an eviction, or the spool dropping its
     * oldest records): with fail_at 0 the first eviction's note is what fails
     * (the event's memory comes from the pool). */
    segops_err_t err = SEGOPS_OK;
    segops_stats_t st = stats_of(f.client);
    while (err == SEGOPS_OK && !st.dropped_queue_overflow) {
        assert_true(n < EVENTS_MAX);
        segops__alloc_test_set_fail_after(fail_at);
        err = track_one_with_pad(f.client, n, PAD);
        segops__alloc_test_set_fail_after(-1);
        if (err != SEGOPS_OK && err != SEGOPS_E_NOMEM)
            fail_msg("track returned %s with allocation %ld failing", segops_strerror(err),
                     fail_at);
        accepted[n] = err == SEGOPS_OK;
        n_accepted += accepted[n];
        n++;
        wait_processed(f.client, (uint64_t)n_accepted);
        st = stats_of(f.client);
    }
    print_message("allocation %ld failing: track %d: %s, evicted %llu, write failures %llu\n",
                  fail_at, n - 1, segops_strerror(err),
                  (unsigned long long)st.dropped_queue_overflow,
                  (unsigned long long)st.spool_write_failures);

    assert_int_equal(devsrv_resume(f.srv), 0);
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    assert_conservation(f.client);
    assert_int_equal(segops_shutdown(f.client, 10000), SEGOPS_OK);
    segops_client_free(f.client);
    f.client = NULL;

    /* The next client delivers whatever this one left owed on disk. */
    segops_client_t *next = NULL;
    opts = spool_options(&f, 500, dir);
    assert_int_equal(segops_client_new(opts, &next), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops_flush(next, 60000), SEGOPS_OK);
    assert_conservation(next);
    assert_int_equal(segops_shutdown(next, 10000), SEGOPS_OK);
    segops_client_free(next);

    tally_t got;
    tally_server(f.srv, 0, n, &got);
    uint64_t delivered = 0;
    for (int i = 0; i < n; i++) {
        if (got.copies[i] > 1) fail_msg("event %d arrived %d times", i, got.copies[i]);
        if (!accepted[i] && got.copies[i]) fail_msg("event %d was refused and arrived", i);
        delivered += (uint64_t)got.copies[i];
    }
    assert_int_equal(got.others, 0);
    tally_free(&got);
    uint64_t reported = events_reported(&f.rec);
    if (delivered + reported != (uint64_t)n_accepted)
        fail_msg("allocation %ld failing: %d accepted, %llu delivered + %llu reported", fail_at,
                 n_accepted, (unsigned long long)delivered, (unsigned long long)reported);
    free(accepted);
    fixture_stop(&f);
}

static void test_first_eviction_with_each_allocation_failing(void **state) {
    (void)state;
    for (long fail_at = 0; fail_at < STEPS; fail_at++) one_round(fail_at);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_eviction_with_each_allocation_failing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
