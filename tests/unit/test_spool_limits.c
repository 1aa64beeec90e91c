/* Spool limits and damage: max_bytes, max_age, a torn tail, damage in the middle. */
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

static void test_max_bytes_and_drop_oldest(void **state) {
    (void)state;
    const char *dir = fresh_dir("maxbytes");
    segops__spool_limits_t l = limits(8192);
    l.max_bytes = 32768;
    segops__spool_t *s = open_spool(dir, &l);
    char run[600];
    assert_true(find_run(dir, NULL, run, sizeof run));
    size_t appended;
    assert_int_equal(append_events(s, "m", 0, 1000, 1000, false, &appended), SEGOPS_E_QUEUE_FULL);
    assert_true(appended > 100 && appended < 1000);
    segops__spool_usage_t u;
    segops__spool_usage(s, &u);
    assert_true(u.disk_bytes <= l.max_bytes);
    assert_int_equal(u.disk_bytes, seg_bytes(run));
    /* Full: nothing more fits, and nothing was written. */
    size_t more;
    assert_int_equal(append_events(s, "m", appended, 1, 1000, false, &more), SEGOPS_E_QUEUE_FULL);
    assert_int_equal(more, 0);
    /* Dropping the oldest segment's records frees its file. */
    assert_int_equal(segops__spool_drop_oldest(s), SEGOPS_OK);
    segops__spool_losses_t losses;
    segops__spool_take_losses(s, &losses);
    assert_true(losses.overflow > 0);
    assert_int_equal(losses.adopted, 0);
    segops__spool_usage_t after;
    segops__spool_usage(s, &after);
    assert_true(after.disk_bytes < u.disk_bytes);
    assert_int_equal(append_events(s, "m", appended, 1, 1000, false, &more), SEGOPS_OK);
    /* What is left to read is exactly what was not dropped, in order. */
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, appended + 1 - losses.overflow);
    expect_events(seen, 0, "m", losses.overflow, seen->count);
    free(seen);
    segops__spool_close(s);
}

static void test_max_age_drops_old_records(void **state) {
    (void)state;
    const char *dir = fresh_dir("maxage");
    segops__spool_limits_t l = limits(0);
    l.max_age_ms = 10000;
    segops__spool_t *s = open_spool(dir, &l);
    assert_int_equal(append_events(s, "old", 0, 7, 1000, false, NULL), SEGOPS_OK);
    assert_int_equal(append_events(s, "new", 0, 3, 50000, false, NULL), SEGOPS_OK);
    assert_int_equal(segops__spool_expire(s, 20000), SEGOPS_OK); /* old: 19 s > 10 s */
    segops__spool_losses_t losses;
    segops__spool_take_losses(s, &losses);
    assert_int_equal(losses.expired, 7);
    assert_int_equal(losses.adopted, 0);
    seen_t *seen = read_all(s, 20000);
    assert_int_equal(seen->count, 3);
    expect_events(seen, 0, "new", 0, 3);
    free(seen);
    segops__spool_close(s);
    /* Read drops them too, and counts earlier runs' as adopted (recovered). */
    segops__spool_t *next = open_spool(dir, &l);
    seen = read_all(next, 70000);
    assert_int_equal(seen->count, 0);
    segops__spool_take_losses(next, &losses);
    assert_int_equal(losses.expired, 3);
    assert_int_equal(losses.adopted, 3);
    free(seen);
    segops__spool_close(next);
    assert_int_equal(count_entries(dir, "run-"), 0);
}

static void test_truncated_tail_at_every_offset(void **state) {
    (void)state;
    const char *dir = fresh_dir("truncated");
    uint8_t *image;
    size_t len = write_dead_run(dir, "run-0000000000000001-1-00000000", 1, 5, &image);
    char last_json[128];
    event_json(last_json, sizeof last_json, "dead", 5);
    size_t last = len - SEGOPS__SPOOL_RECORD_HEADER - strlen(last_json);
    char seg[600];
    snprintf(seg, sizeof seg, "%s/run-0000000000000001-1-00000000/%016x.seg", dir, 1);
    segops__spool_limits_t l = limits(0);
    for (size_t cut = last; cut < len; cut++) {
        write_file(seg, image, cut);
        segops__spool_t *s = open_spool(dir, &l);
        seen_t *seen = read_all(s, 1000);
        assert_int_equal(seen->count, 4);
        expect_events(seen, 0, "dead", 1, 4);
        segops__spool_losses_t losses;
        segops__spool_take_losses(s, &losses);
        assert_int_equal(losses.corrupt, cut == last ? 0 : 1);
        assert_int_equal(losses.corrupt_bytes, cut - last);
        assert_int_equal(losses.adopted, losses.corrupt);
        free(seen);
        /* Closed without acking: the records stay, the damaged tail does not,
         * so the next reader reports nothing again. */
        segops__spool_close(s);
        s = open_spool(dir, &l);
        seen = read_all(s, 1000);
        assert_int_equal(seen->count, 4);
        segops__spool_take_losses(s, &losses);
        assert_int_equal(losses.corrupt + losses.corrupt_bytes, 0);
        ack_seen(s, seen);
        segops__spool_close(s);
        free(seen);
        assert_int_equal(count_entries(dir, "run-"), 0);
        if (cut + 1 < len) {
            free(image);
            len = write_dead_run(dir, "run-0000000000000001-1-00000000", 1, 5, &image);
        }
    }
    free(image);
}

static void test_damage_in_the_middle_is_counted_by_seq(void **state) {
    (void)state;
    const char *dir = fresh_dir("middle");
    uint8_t *image;
    size_t len = write_dead_run(dir, "run-0000000000000001-1-00000000", 1, 10, &image);
    char seg[600];
    snprintf(seg, sizeof seg, "%s/run-0000000000000001-1-00000000/%016x.seg", dir, 1);
    /* Flip a bit in records 3 and 4 (one region), and put garbage after 7. */
    size_t off = 0, starts[11];
    for (size_t i = 1; i <= 10; i++) {
        char json[128];
        event_json(json, sizeof json, "dead", i);
        starts[i] = off;
        off += SEGOPS__SPOOL_RECORD_HEADER + strlen(json);
    }
    image[starts[3] + 40] ^= 0x02;
    image[starts[4] + 10] ^= 0x02;
    uint8_t *edited = malloc(len + 16);
    memcpy(edited, image, starts[8]);
    memcpy(edited + starts[8], "garbage-garbage!", 16);
    memcpy(edited + starts[8] + 16, image + starts[8], len - starts[8]);
    write_file(seg, edited, len + 16);
    segops__spool_limits_t l = limits(0);
    segops__spool_t *s = open_spool(dir, &l);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 8);
    expect_events(seen, 0, "dead", 1, 2);
    expect_events(seen, 2, "dead", 5, 6);
    segops__spool_losses_t losses;
    segops__spool_take_losses(s, &losses);
    assert_int_equal(losses.corrupt, 2); /* exactly seqs 3 and 4 */
    assert_int_equal(losses.corrupt_bytes, starts[5] - starts[3] + 16);
    ack_seen(s, seen);
    segops__spool_close(s);
    assert_int_equal(count_entries(dir, "run-"), 0);
    free(seen);
    free(image);
    free(edited);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_max_bytes_and_drop_oldest, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_max_age_drops_old_records, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_truncated_tail_at_every_offset, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_damage_in_the_middle_is_counted_by_seq, note_live,
                                        check_live),
    };
    return cmocka_run_group_tests(tests, setup_root, teardown_root);
}
