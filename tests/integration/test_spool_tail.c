/* The end of an earlier run (spool_end.h): a client spools EVENTS events over
 * several segments with its server down (spool_fsync_ms set, so the marks of
 * its syncs, rotations and close are all written) and is shut down; then the
 * LAST segment of its run is cut at a record boundary, emptied, deleted or
 * given a damaged tail. A new client on the same spool_dir delivers every
 * record left once, reports exactly the records that are gone once
 * (SEGOPS_DROP_SPOOL_CORRUPT, dropped_spool_corrupt), in one WARN log line
 * naming the run and the segment, and deletes the run. A run without its end
 * file (an older version's) behaves as before: a cut at a record boundary
 * reads as the end. A client killed with SIGKILL counts the same way, whether
 * it syncs (spool_fsync_ms) or not (the default). */
#include "spooltest.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define EVENTS 600
#define PAD SPOOLTEST_PAD

static fixture_t f;

static int setup(void **state) {
    (void)state;
    fixture_start(&f, NULL);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    devsrv_stop(f.srv);
    recorder_destroy(&f.rec);
    return 0;
}

/* One spool left on disk by a client whose server was down. */
typedef struct left {
    char dir[512];
    char run[RUN_NAME_MAX];
    char run_dir[700];
    seg_list_t segs;
    size_t last_records; /* records in the last segment */
    size_t offsets[EVENTS + 1];
    int numbers[EVENTS];
} left_t;

static void leave(left_t *l, const char *name) {
    memset(l, 0, sizeof *l);
    snprintf(l->dir, sizeof l->dir, "%s", spool_path(name));
    segops_options_t *opts = spool_options(&f, 500, l->dir);
    assert_int_equal(segops_options_set_spool_max_bytes(opts, (uint64_t)1 << 20), SEGOPS_OK);
    assert_int_equal(segops_options_set_spool_fsync_ms(opts, 5), SEGOPS_OK);
    assert_int_equal(devsrv_pause(f.srv), 0);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    track_numbered_padded(client, 0, EVENTS, PAD);
    assert_int_equal(segops_shutdown(client, 0), SEGOPS_E_TIMEOUT);
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.pending, EVENTS);
    segops_client_free(client);
    assert_int_equal(devsrv_resume(f.srv), 0);

    char runs[2][RUN_NAME_MAX];
    assert_int_equal(spool_runs(l->dir, runs, 2), 1);
    snprintf(l->run, sizeof l->run, "%s", runs[0]);
    snprintf(l->run_dir, sizeof l->run_dir, "%s/%s", l->dir, l->run);
    list_segments(l->run_dir, &l->segs);
    assert_true(l->segs.n >= 3); /* the cases need a last segment after others */
    const char *last = l->segs.path[l->segs.n - 1];
    l->last_records = segment_records(last, l->offsets, l->numbers, EVENTS);
    assert_true(l->last_records >= 4);
    /* The last segment holds the last events, in order. */
    assert_int_equal(l->numbers[l->last_records - 1], EVENTS - 1);
}

static void cut_to(const char *path, size_t len) {
    assert_int_equal(truncate(path, (off_t)len), 0);
}

/* Overwrites path from byte `at` to its end with bytes that never start a
 * record (no 0xFF). */
static void scribble_from(const char *path, size_t at, size_t end) {
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    for (size_t i = at; i < end; i++) {
        uint8_t b = (uint8_t)(0x20 + (i * 7) % 0x50);
        assert_int_equal(pwrite(fd, &b, 1, (off_t)i), 1);
    }
    close(fd);
}

/* A new client with the server up recovers the spool: the events numbered
 * [0, EVENTS) but lost_lo..lost_hi (inclusive) arrive once each and nothing
 * else; the lost ones are reported exactly, once, with one WARN line naming the
 * run and `names`; no run is left. names NULL: nothing reported, nothing
 * logged (the loss is not seen). */
static void recover_and_check(const left_t *l, int lost_lo, int lost_hi, const char *names,
                              const char *what) {
    uint64_t missing = (uint64_t)(lost_hi - lost_lo + 1);
    recorder_t rec;
    recorder_init(&rec);
    log_recorder_t logs;
    log_recorder_init(&logs);
    size_t before = server_events(f.srv);
    segops_options_t *opts = make_options(f.srv, TEST_SK, &rec);
    assert_int_equal(segops_options_set_batch_size(opts, 500), SEGOPS_OK);
    assert_int_equal(segops_options_set_spool_dir(opts, l->dir), SEGOPS_OK);
    assert_int_equal(segops_options_set_logger(opts, log_recorder_fn, SEGOPS_LOG_DEBUG, &logs),
                     SEGOPS_OK);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);
    assert_conservation(client);
    segops_stats_t st = stats_of(client);
    segops_client_free(client);

    uint64_t lost = names ? missing : 0;
    tally_t t;
    tally_server(f.srv, before, EVENTS, &t);
    for (int i = 0; i < EVENTS; i++) {
        int want = i >= lost_lo && i <= lost_hi ? 0 : 1;
        if (t.copies[i] != want)
            fail_msg("%s: event %d arrived %d times (want %d)", what, i, t.copies[i], want);
    }
    assert_int_equal(t.others, 0);
    tally_free(&t);
    if (st.dropped_spool_corrupt != lost || st.dropped != lost ||
        st.delivered != EVENTS - missing || st.recovered != EVENTS - missing + lost || st.pending)
        fail_msg("%s: dropped_spool_corrupt %llu (want %llu), dropped %llu, delivered %llu, "
                 "recovered %llu, pending %llu",
                 what, (unsigned long long)st.dropped_spool_corrupt, (unsigned long long)lost,
                 (unsigned long long)st.dropped, (unsigned long long)st.delivered,
                 (unsigned long long)st.recovered, (unsigned long long)st.pending);
    pthread_mutex_lock(&rec.lock);
    assert_int_equal(rec.reports, lost ? 1 : 0);
    if (lost) {
        assert_int_equal(rec.info[0].reason, SEGOPS_DROP_SPOOL_CORRUPT);
        assert_int_equal(rec.info[0].event_count, lost);
    }
    pthread_mutex_unlock(&rec.lock);
    log_recorder_t seen = log_snapshot(&logs);
    assert_int_equal(seen.spool_warns, names ? 1 : 0);
    if (names && !(strstr(seen.spool_text[0], l->run) && strstr(seen.spool_text[0], names)))
        fail_msg("%s: the WARN line names neither the run nor %s: %s", what, names,
                 seen.spool_text[0]);
    assert_int_equal(spool_runs(l->dir, NULL, 0), 0);
    recorder_destroy(&rec);
    log_recorder_destroy(&logs);
    remove_tree(l->dir);
}

/* The last segment cut at each of a few record boundaries: the records after
 * the cut are lost, counted exactly (the end file names the run's end). */
static void test_last_segment_cut_at_a_record_boundary(void **state) {
    (void)state;
    left_t l;
    for (size_t keep = 1; keep < 4; keep++) {
        leave(&l, "cut");
        const char *last = l.segs.path[l.segs.n - 1];
        cut_to(last, l.offsets[l.last_records - keep]);
        char what[64];
        snprintf(what, sizeof what, "the last %zu records cut", keep);
        recover_and_check(&l, EVENTS - (int)keep, EVENTS - 1, l.segs.name[l.segs.n - 1], what);
    }
}

static void test_last_segment_emptied(void **state) {
    (void)state;
    left_t l;
    leave(&l, "emptied");
    cut_to(l.segs.path[l.segs.n - 1], 0);
    recover_and_check(&l, EVENTS - (int)l.last_records, EVENTS - 1, l.segs.name[l.segs.n - 1],
                      "the last segment emptied");
}

/* Deleted: the line names the segment before the missing seqs. */
static void test_last_segment_deleted(void **state) {
    (void)state;
    left_t l;
    leave(&l, "deleted");
    assert_int_equal(unlink(l.segs.path[l.segs.n - 1]), 0);
    recover_and_check(&l, EVENTS - (int)l.last_records, EVENTS - 1, l.segs.name[l.segs.n - 2],
                      "the last segment deleted");
}

/* Every segment deleted: the end file alone says what was owed. */
static void test_every_segment_deleted(void **state) {
    (void)state;
    left_t l;
    leave(&l, "all-deleted");
    for (size_t i = 0; i < l.segs.n; i++) assert_int_equal(unlink(l.segs.path[i]), 0);
    recover_and_check(&l, 0, EVENTS - 1, "", "every segment deleted");
}

/* The last three records overwritten from inside the first of them: those
 * three are lost, not "at least one". */
static void test_last_segment_damaged_tail(void **state) {
    (void)state;
    left_t l;
    leave(&l, "damaged");
    const char *last = l.segs.path[l.segs.n - 1];
    size_t at = l.offsets[l.last_records - 3] + 10;
    scribble_from(last, at, l.offsets[l.last_records]);
    recover_and_check(&l, EVENTS - 3, EVENTS - 1, l.segs.name[l.segs.n - 1],
                      "the last 3 records damaged");
}

/* A run of an older version (no end file): a cut at a record boundary reads
 * as the end of the run, as before; the records before it all arrive. */
static void test_run_without_end_file_reads_a_cut_as_its_end(void **state) {
    (void)state;
    left_t l;
    leave(&l, "old");
    char path[800];
    snprintf(path, sizeof path, "%s/end", l.run_dir);
    assert_int_equal(unlink(path), 0);
    cut_to(l.segs.path[l.segs.n - 1], l.offsets[l.last_records - 2]);
    recover_and_check(&l, EVENTS - 2, EVENTS - 1, NULL, "no end file");
}

/* kill -9: a client in a child process (spool_child, its server unreachable,
 * spool_fsync_ms as `fsync_ms` says) spools EVENTS events (its end file then
 * names the seq after the last: written after each write, synced or not) and
 * is killed with SIGKILL, not closed. Its last segment cut at a record
 * boundary costs exactly the records cut. */
static void killed_then_cut(const char *fsync_ms, const char *name) {
    left_t l;
    memset(&l, 0, sizeof l);
    snprintf(l.dir, sizeof l.dir, "%s", spool_path(name));
    char fsync_env[64];
    snprintf(fsync_env, sizeof fsync_env, "SPOOL_CHILD_FSYNC_MS=%s", fsync_ms);
    char count[16];
    snprintf(count, sizeof count, "%d", EVENTS);
    const char *argv[] = {
        SPOOL_CHILD_PATH, "http://127.0.0.1:1", l.dir, "0", count, "0", "hang", NULL};
    child_t child;
    child_spawn_env(&child, argv, fsync_env);
    long acked = 0;
    int64_t end = now_ms() + 60000; /* a hang bound */
    while (acked < EVENTS && now_ms() < end) {
        acked = child_read_count(&child, acked);
        sleep_ms(1);
    }
    assert_int_equal(acked, EVENTS);
    /* It wrote the mark past every event. */
    char runs[2][RUN_NAME_MAX];
    while (now_ms() < end) {
        if (spool_runs(l.dir, runs, 2) == 1) {
            snprintf(l.run_dir, sizeof l.run_dir, "%s/%s", l.dir, runs[0]);
            if (spool_end_mark(l.run_dir) == EVENTS + 1) break;
        }
        sleep_ms(1);
    }
    const uint64_t mark = spool_end_mark(l.run_dir);
    assert_int_equal(kill(child.pid, SIGKILL), 0); /* first: a failed check leaves no child */
    int status = child_wait(&child);
    close(child.out_fd);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(mark, EVENTS + 1);

    snprintf(l.run, sizeof l.run, "%s", runs[0]);
    list_segments(l.run_dir, &l.segs);
    assert_true(l.segs.n >= 1);
    const char *last = l.segs.path[l.segs.n - 1];
    l.last_records = segment_records(last, l.offsets, l.numbers, EVENTS);
    assert_true(l.last_records >= 5);
    assert_int_equal(l.numbers[l.last_records - 1], EVENTS - 1);
    cut_to(last, l.offsets[l.last_records - 5]);
    recover_and_check(&l, EVENTS - 5, EVENTS - 1, l.segs.name[l.segs.n - 1],
                      "killed, the last 5 records cut");
}

static void test_killed_after_its_sync_a_cut_costs_exactly(void **state) {
    (void)state;
    killed_then_cut("5", "killed-synced");
}

/* The default (no fsync): the mark is written with every write all the same. */
static void test_killed_without_fsync_a_cut_costs_exactly(void **state) {
    (void)state;
    killed_then_cut("0", "killed-unsynced");
}

int main(void) {
    /* For the other children: a synced run (the marks of its syncs). */
    assert_int_equal(setenv("SPOOL_CHILD_FSYNC_MS", "5", 1), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_segment_cut_at_a_record_boundary),
        cmocka_unit_test(test_last_segment_emptied),
        cmocka_unit_test(test_last_segment_deleted),
        cmocka_unit_test(test_every_segment_deleted),
        cmocka_unit_test(test_last_segment_damaged_tail),
        cmocka_unit_test(test_run_without_end_file_reads_a_cut_as_its_end),
        cmocka_unit_test(test_killed_after_its_sync_a_cut_costs_exactly),
        cmocka_unit_test(test_killed_without_fsync_a_cut_costs_exactly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
