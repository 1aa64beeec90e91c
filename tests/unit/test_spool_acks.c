/* Spool acks and segments: unsettled seqs counted, rotation, deletion once settled. */
#define _GNU_SOURCE 1 /* unshare, CLONE_NEWNS */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "skip.h"
#include "spool.h"
#include "spool_ack.h"
#include "spool_record.h"

#include "spool_unit.h"

/* The reader counts as lost only the seqs of a gap that are still owed: those
 * settled out of order (ranges above the cursor) cost nothing. */
static void test_acks_count_unsettled_seqs(void **state) {
    (void)state;
    segops__spool_acks_t acks;
    memset(&acks, 0, sizeof acks);
    acks.fd = -1;
    assert_int_equal(segops__spool_acks_settle(&acks, 1, 10), SEGOPS_OK); /* the cursor */
    assert_int_equal(segops__spool_acks_settle(&acks, 15, 16), SEGOPS_OK);
    assert_int_equal(segops__spool_acks_settle(&acks, 20, 29), SEGOPS_OK);
    assert_int_equal(acks.cursor, 10);
    assert_int_equal(segops__spool_acks_unsettled(&acks, 1, 10), 0);
    assert_int_equal(segops__spool_acks_unsettled(&acks, 5, 14), 4);  /* 11..14 */
    assert_int_equal(segops__spool_acks_unsettled(&acks, 11, 30), 8); /* 11..14, 17..19, 30 */
    assert_int_equal(segops__spool_acks_unsettled(&acks, 16, 16), 0);
    assert_int_equal(segops__spool_acks_unsettled(&acks, 25, 40), 11); /* 30..40 */
    assert_int_equal(segops__spool_acks_unsettled(&acks, 12, 11), 0);  /* empty */
    segops__spool_acks_close(&acks, false);
}

static void test_segments_rotate_and_settled_ones_are_deleted(void **state) {
    (void)state;
    const char *dir = fresh_dir("segments");
    segops__spool_limits_t l = limits(4096);
    segops__spool_t *s = open_spool(dir, &l);
    char run[600];
    assert_true(find_run(dir, NULL, run, sizeof run));
    assert_int_equal(append_events(s, "s", 0, 200, 1000, false, NULL), SEGOPS_OK);
    size_t segs = count_entries(run, "0");
    assert_true(segs >= 5);
    segops__spool_usage_t u;
    segops__spool_usage(s, &u);
    assert_int_equal(u.disk_bytes, seg_bytes(run));
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 200);
    /* Settling the first half deletes the segments that hold only those. */
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(segops__spool_ack(s, seen->pos[i]), SEGOPS_OK);
    size_t half = count_entries(run, "0");
    assert_true(half < segs && half > 1);
    segops__spool_usage(s, &u);
    assert_int_equal(u.disk_bytes, seg_bytes(run));
    /* Settling the rest in reverse (out of order) leaves only the one being written. */
    for (size_t i = 200; i-- > 100;)
        assert_int_equal(segops__spool_ack(s, seen->pos[i]), SEGOPS_OK);
    assert_int_equal(count_entries(run, "0"), 1);
    segops__spool_usage(s, &u);
    assert_int_equal(u.disk_bytes, seg_bytes(run));
    free(seen);
    segops__spool_close(s);
    assert_int_equal(count_entries(dir, "run-"), 0);
}

/* Records settled out of order above an unsettled one: the segments that hold
 * only those are deleted at once (the spool is not jammed by the oldest
 * record), and the settled range survives a restart unless its block in the
 * ack file is damaged, when those records come back: sent twice, never lost. */
static void test_ranges_settled_out_of_order(void **state) {
    (void)state;
    for (int damage = 0; damage < 2; damage++) {
        const char *dir = fresh_dir(damage ? "ranges_damaged" : "ranges");
        segops__spool_limits_t l = limits(4096);
        segops__spool_t *s = open_spool(dir, &l);
        char run[600];
        assert_true(find_run(dir, NULL, run, sizeof run));
        assert_int_equal(append_events(s, "o", 0, 200, 1000, false, NULL), SEGOPS_OK);
        size_t segs = count_entries(run, "0");
        seen_t *seen = read_all(s, 1000);
        assert_int_equal(seen->count, 200);
        for (size_t i = 1; i < 150; i++) /* all but the first, of 150 */
            assert_int_equal(segops__spool_ack(s, seen->pos[i]), SEGOPS_OK);
        assert_true(count_entries(run, "0") < segs - 1);
        free(seen);
        segops__spool_close(s);
        if (damage) {
            char ack[700];
            snprintf(ack, sizeof ack, "%s/ack", run);
            int fd = open(ack, O_RDWR);
            assert_true(fd >= 0);
            uint8_t byte = 0x55;
            assert_int_equal(pwrite(fd, &byte, 1, 64 + 20), 1); /* inside the ranges block */
            close(fd);
        }
        segops__spool_t *next = open_spool(dir, &l);
        seen = read_all(next, 1000);
        if (damage) { /* the cursor alone: what the deleted segments held is gone for good */
            assert_true(seen->count > 51 && seen->count < 200);
            expect_events(seen, 0, "o", 0, 1);
        } else {
            assert_int_equal(seen->count, 51);
            expect_events(seen, 0, "o", 0, 1);
            expect_events(seen, 1, "o", 150, 50);
        }
        ack_seen(next, seen);
        free(seen);
        segops__spool_close(next);
        assert_int_equal(count_entries(dir, "run-"), 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acks_count_unsettled_seqs),
        cmocka_unit_test_setup_teardown(test_segments_rotate_and_settled_ones_are_deleted,
                                        note_live, check_live),
        cmocka_unit_test_setup_teardown(test_ranges_settled_out_of_order, note_live, check_live),
    };
    return cmocka_run_group_tests(tests, setup_root, teardown_root);
}
