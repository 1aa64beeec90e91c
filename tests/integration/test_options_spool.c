/* Issue 19, untested promises of the spool options:
 * - spool_max_bytes bounds the spool's files: during an outage the backlog
 *   grows to the bound and no further, the overflow policy (DROP_NEWEST)
 *   refuses what does not fit, and every event accepted is delivered once
 *   when the server is back;
 * - spool_fsync_ms: 0 never syncs; N > 0 syncs the spool files after a write
 *   without any flush or shutdown asking for it.
 * There is no counter of syncs, so this program counts them itself: it
 * defines fdatasync() and fsync(), which the statically linked library calls
 * instead of libc's, and passes each on to the kernel. */
#define _GNU_SOURCE 1
#include "spooltest.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static int syncs; /* fdatasync and fsync calls, from any thread */

int fdatasync(int fd) {
    __atomic_add_fetch(&syncs, 1, __ATOMIC_SEQ_CST);
    return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd) {
    __atomic_add_fetch(&syncs, 1, __ATOMIC_SEQ_CST);
    return (int)syscall(SYS_fsync, fd);
}

static int syncs_so_far(void) { return __atomic_load_n(&syncs, __ATOMIC_SEQ_CST); }

/* ---- spool_max_bytes ---- */

#define SPOOL_MAX ((uint64_t)1 << 20) /* the smallest bound */
#define TRACKS 6000                   /* of about 300 bytes: well past the bound */

static void spool_max_bytes_bounds_the_backlog(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    const char *dir = spool_path("bounded");
    segops_options_t *opts = spool_options(&f, 20, dir);
    assert_int_equal(segops_options_set_spool_max_bytes(opts, SPOOL_MAX), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_queue_events(opts, 100), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(devsrv_pause(f.srv), 0); /* an outage: the backlog goes to disk */

    bool *accepted = calloc(TRACKS, sizeof *accepted);
    assert_non_null(accepted);
    int n_accepted = 0, refused = 0;
    uint64_t most_on_disk = 0;
    for (int i = 0; i < TRACKS; i++) {
        segops_err_t err = track_one_padded(f.client, i);
        if (err == SEGOPS_OK) {
            accepted[i] = true;
            n_accepted++;
        } else {
            assert_int_equal(err, SEGOPS_E_QUEUE_FULL);
            refused++;
        }
        if (i % 100 == 99) {
            uint64_t on_disk = spool_segment_bytes(dir);
            if (on_disk > most_on_disk) most_on_disk = on_disk;
            if (on_disk > SPOOL_MAX)
                fail_msg("%llu bytes of segments on disk after %d tracks; spool_max_bytes is %llu",
                         (unsigned long long)on_disk, i + 1, (unsigned long long)SPOOL_MAX);
        }
    }
    segops_stats_t st = stats_of(f.client);
    printf("accepted %d, refused %d; at most %llu segment bytes on disk, spool_bytes %llu\n",
           n_accepted, refused, (unsigned long long)most_on_disk,
           (unsigned long long)st.spool_bytes);
    assert_true(refused > 0); /* the bound was reached */
    assert_int_equal(st.rejected_queue_full, refused);
    assert_true(st.spool_bytes <= SPOOL_MAX);
    assert_true(spool_segment_bytes(dir) <= SPOOL_MAX);
    /* Filled to the bound, not refused early: more than half of it in use. */
    assert_true(most_on_disk > SPOOL_MAX / 2);
    assert_int_equal(st.dropped, 0);

    assert_int_equal(devsrv_resume(f.srv), 0);
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    tally_t t;
    tally_server(f.srv, 0, TRACKS, &t);
    for (int i = 0; i < TRACKS; i++)
        if (t.copies[i] != (accepted[i] ? 1 : 0))
            fail_msg("event %d (%s): the server holds %d copies", i,
                     accepted[i] ? "accepted" : "refused", t.copies[i]);
    assert_int_equal(t.others, 0);
    tally_free(&t);
    free(accepted);
    assert_int_equal(stats_of(f.client).delivered, n_accepted);
    fixture_finish(&f);
}

/* ---- spool_fsync_ms ---- */

/* Starts f with a spooling client and tracks 50 events, which the spool then holds. */
static fixture_t *spool_client(fixture_t *f, const char *name, uint32_t fsync_ms) {
    fixture_start(f, NULL);
    segops_options_t *opts = spool_options(f, 1000, spool_path(name));
    assert_int_equal(segops_options_set_spool_fsync_ms(opts, fsync_ms), SEGOPS_OK);
    fixture_client(f, opts);
    track_n(f->client, "u", 0, 50);
    wait_spooled(f->client, 50);
    return f;
}

static void spool_fsync_0_never_syncs(void **state) {
    (void)state;
    fixture_t f;
    int before = syncs_so_far();
    spool_client(&f, "nosync", 0);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 50, 1);
    fixture_finish(&f);
    assert_int_equal(syncs_so_far() - before, 0);
}

/* With spool_fsync_ms 50 the client syncs what it wrote on its own: no flush
 * or shutdown is asked for while the test waits for the sync. */
static void spool_fsync_n_syncs_after_a_write(void **state) {
    (void)state;
    fixture_t f;
    int before = syncs_so_far();
    spool_client(&f, "sync", 50);
    int64_t end = now_ms() + 10000; /* a hang detector */
    while (syncs_so_far() == before && now_ms() < end) sleep_ms(5);
    int synced = syncs_so_far() - before;
    if (synced == 0) fail_msg("spool_fsync_ms 50: no sync within 10 s of 50 spooled events");
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 50, 1);
    fixture_finish(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spool_max_bytes_bounds_the_backlog),
        cmocka_unit_test(spool_fsync_0_never_syncs),
        cmocka_unit_test(spool_fsync_n_syncs_after_a_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
