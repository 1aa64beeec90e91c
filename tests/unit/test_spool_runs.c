/* Spool runs across closes and processes: append, read, ack, removal and adoption. */
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

static void test_append_read_ack_close_removes_run(void **state) {
    (void)state;
    const char *dir = fresh_dir("basic");
    segops__spool_limits_t l = limits(0);
    segops__spool_t *s = open_spool(dir, &l);
    assert_int_equal(count_entries(dir, "run-"), 1);
    size_t appended;
    assert_int_equal(append_events(s, "a", 0, 10, 1000, false, &appended), SEGOPS_OK);
    assert_int_equal(appended, 10);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 10);
    expect_events(seen, 0, "a", 0, 10);
    for (size_t i = 0; i < 10; i++) {
        assert_false(seen->adopted[i]);
        assert_int_equal(seen->pos[i].run, SEGOPS__SPOOL_OWN_RUN);
        assert_int_equal(seen->pos[i].seq, i + 1);
    }
    /* Nothing is handed out twice. */
    seen_t *again = read_all(s, 1000);
    assert_int_equal(again->count, 0);
    ack_seen(s, seen);
    segops__spool_close(s);
    assert_int_equal(count_entries(dir, "run-"), 0); /* all settled: the run is gone */
    free(seen);
    free(again);
}

static void test_hand_out_and_refusal(void **state) {
    (void)state;
    const char *dir = fresh_dir("handout");
    segops__spool_limits_t l = limits(0);
    segops__spool_t *s = open_spool(dir, &l);
    segops__spool_usage_t u;
    /* Kept in memory by the caller: never read back. */
    assert_int_equal(append_events(s, "mem", 0, 5, 1000, true, NULL), SEGOPS_OK);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 0);
    free(seen);
    /* A backlog on disk: hand_out is refused until it is read, changing nothing. */
    assert_int_equal(append_events(s, "disk", 0, 5, 1000, false, NULL), SEGOPS_OK);
    segops__spool_usage(s, &u);
    assert_false(u.own_caught_up);
    uint64_t before = u.disk_bytes;
    size_t appended = 99;
    assert_int_equal(append_events(s, "x", 0, 1, 1000, true, &appended), SEGOPS_E_STATE);
    assert_int_equal(appended, 0);
    segops__spool_usage(s, &u);
    assert_int_equal(u.disk_bytes, before);
    /* A refusing reader stops; the refused record stays first in line. */
    seen = calloc(1, sizeof *seen);
    seen->refuse_after = 2;
    size_t count;
    assert_int_equal(segops__spool_read(s, 1000, 100, take, seen, &count), SEGOPS_OK);
    assert_int_equal(count, 2);
    expect_events(seen, 0, "disk", 0, 2);
    seen->refuse_after = 0;
    assert_int_equal(segops__spool_read(s, 1000, 2, take, seen, &count), SEGOPS_OK);
    assert_int_equal(count, 2); /* max respected */
    assert_int_equal(segops__spool_read(s, 1000, 100, take, seen, &count), SEGOPS_OK);
    assert_int_equal(count, 1);
    expect_events(seen, 0, "disk", 0, 5);
    segops__spool_usage(s, &u);
    assert_true(u.own_caught_up);
    assert_int_equal(append_events(s, "mem", 5, 1, 1000, true, NULL), SEGOPS_OK);
    /* Bad payloads are refused before anything is written. */
    segops__spool_item_t bad[2] = {{"{}", 2, 0}, {"{\"a\":\"\xff\"}", 9, 0}};
    assert_int_equal(segops__spool_append(s, bad, 2, false, NULL, &appended), SEGOPS_E_INVALID_ARG);
    assert_int_equal(appended, 0);
    segops__spool_close(s);
    free(seen);
}

static void test_unacked_records_survive_close_and_are_adopted(void **state) {
    (void)state;
    const char *dir = fresh_dir("restart");
    segops__spool_limits_t l = limits(0);
    segops__spool_t *s = open_spool(dir, &l);
    assert_int_equal(append_events(s, "r", 0, 30, 1000, false, NULL), SEGOPS_OK);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 30);
    /* Settle 1..10 in order and 15 out of order: the cursor (1..10) and the
     * range above it (15) are both on disk, so neither comes back. */
    for (size_t i = 0; i < 10; i++) assert_int_equal(segops__spool_ack(s, seen->pos[i]), SEGOPS_OK);
    assert_int_equal(segops__spool_ack(s, seen->pos[14]), SEGOPS_OK);
    segops__spool_close(s);
    free(seen);
    assert_int_equal(count_entries(dir, "run-"), 1);

    segops__spool_t *next = open_spool(dir, &l);
    segops__spool_usage_t u;
    segops__spool_usage(next, &u);
    assert_int_equal(u.adopted_runs, 1);
    seen = read_all(next, 1000);
    assert_int_equal(seen->count, 19);
    expect_events(seen, 0, "r", 10, 4);
    expect_events(seen, 4, "r", 15, 15);
    for (size_t i = 0; i < 19; i++) assert_true(seen->adopted[i]);
    ack_seen(next, seen);
    segops__spool_usage(next, &u);
    assert_int_equal(u.adopted_runs, 0); /* drained and settled: deleted */
    segops__spool_close(next);
    assert_int_equal(count_entries(dir, "run-"), 0);
    free(seen);
}

static void test_live_child_is_not_adopted_then_killed_child_is(void **state) {
    (void)state;
    const char *dir = fresh_dir("child");
    segops__spool_limits_t l = limits(2048); /* several segments */
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(go[1]); /* a parent that dies ends the wait below */
        segops__spool_t *s = NULL;
        CHILD_CHECK(segops__spool_open(dir, &l, &s, NULL, 0) == SEGOPS_OK);
        size_t appended = 0;
        CHILD_CHECK(append_events(s, "child", 0, 50, 1000, false, &appended) == SEGOPS_OK);
        CHILD_CHECK(appended == 50);
        char c = 'r';
        CHILD_CHECK(write(ready[1], &c, 1) == 1);
        CHILD_CHECK(read(go[0], &c, 1) == 1); /* blocks until killed */
        _exit(0);
    }
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    segops__spool_t *s = open_spool(dir, &l);
    segops__spool_usage_t u;
    segops__spool_usage(s, &u);
    assert_int_equal(u.adopted_runs, 0); /* the child lives and holds its run */
    assert_int_equal(append_events(s, "parent", 0, 5, 1000, false, NULL), SEGOPS_OK);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 5);
    expect_events(seen, 0, "parent", 0, 5);
    ack_seen(s, seen);
    free(seen);

    kill(pid, SIGKILL);
    int status = wait_child(pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(segops__spool_adopt(s), 1);
    seen = read_all(s, 1000);
    assert_int_equal(seen->count, 50); /* every record the child appended */
    expect_events(seen, 0, "child", 0, 50);
    ack_seen(s, seen);
    segops__spool_losses_t losses;
    segops__spool_take_losses(s, &losses);
    assert_int_equal(losses.corrupt + losses.corrupt_bytes, 0);
    free(seen);
    segops__spool_close(s);
    assert_int_equal(count_entries(dir, "run-"), 0);
    close(ready[0]);
    close(go[0]);
    close(go[1]);
}

static void test_kill_mid_stream_loses_nothing_appended(void **state) {
    (void)state;
    const char *dir = fresh_dir("kill9");
    segops__spool_limits_t l = limits(64 << 10);
    int progress[2];
    assert_int_equal(pipe(progress), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(progress[0]);
        segops__spool_t *s = NULL;
        CHILD_CHECK(segops__spool_open(dir, &l, &s, NULL, 0) == SEGOPS_OK);
        for (uint32_t done = 0;; done += 20) {
            if (done == 40000) pause(); /* the parent kills it long before */
            CHILD_CHECK(append_events(s, "k", done, 20, 1000, false, NULL) == SEGOPS_OK);
            uint32_t total = done + 20;
            if (write(progress[1], &total, sizeof total) != sizeof total) _exit(2);
        }
    }
    close(progress[1]);
    uint32_t acknowledged = 0, total;
    while (acknowledged < 3000 && read(progress[0], &total, sizeof total) == sizeof total)
        acknowledged = total;
    kill(pid, SIGKILL);
    assert_true(WIFSIGNALED(wait_child(pid)));
    while (read(progress[0], &total, sizeof total) == sizeof total) acknowledged = total;
    close(progress[0]);

    segops__spool_t *s = open_spool(dir, &l);
    seen_t *seen = read_all(s, 1000);
    /* Every append that returned is there, in order, and nothing else but
     * (at most) the batch being written at the kill. */
    assert_true(seen->count >= acknowledged && seen->count <= acknowledged + 20);
    expect_events(seen, 0, "k", 0, seen->count);
    segops__spool_losses_t losses;
    segops__spool_take_losses(s, &losses);
    assert_true(losses.corrupt <= 20);
    free(seen);
    segops__spool_close(s);
}

static void test_foreign_entries_are_left_alone(void **state) {
    (void)state;
    const char *dir = fresh_dir("foreign");
    mkdir(dir, 0700);
    char path[1024], target[600];
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    write_file(path, "hello", 5);
    /* A symlink named like a run, to a run elsewhere: never followed. */
    write_dead_run(root, "linked-target", 1, 3, NULL);
    snprintf(target, sizeof target, "%s/linked-target", root);
    snprintf(path, sizeof path, "%s/run-0000000000000002-2-00000000", dir);
    assert_int_equal(symlink(target, path), 0);
    segops__spool_limits_t l = limits(0);
    segops__spool_t *s = open_spool(dir, &l);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 0);
    free(seen);
    segops__spool_close(s);
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/%016x.seg", target, 1);
    assert_int_equal(access(path, F_OK), 0);
    remove_tree(target);
}

static void test_other_users_runs_are_not_adopted(void **state) {
    (void)state;
    if (geteuid() != 0) SEGOPS_SKIP("only root can give files away", SKIP_INSTALLABLE);
    const char *dir = fresh_dir("owner");
    write_dead_run(dir, "run-0000000000000001-1-00000000", 1, 3, NULL);
    write_dead_run(dir, "run-0000000000000002-1-00000000", 1, 3, NULL);
    char path[600];
    snprintf(path, sizeof path, "%s/run-0000000000000001-1-00000000", dir);
    assert_int_equal(chown(path, 65534, 65534), 0); /* a run of another user */
    snprintf(path, sizeof path, "%s/run-0000000000000002-1-00000000/%016x.seg", dir, 1);
    assert_int_equal(chown(path, 65534, 65534), 0); /* a planted segment */
    segops__spool_limits_t l = limits(0);
    segops__spool_t *s = open_spool(dir, &l);
    segops__spool_usage_t u;
    segops__spool_usage(s, &u);
    assert_int_equal(u.adopted_runs, 0); /* one refused, the other holds nothing of ours */
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 0);
    free(seen);
    segops__spool_close(s);
    snprintf(path, sizeof path, "%s/run-0000000000000001-1-00000000/%016x.seg", dir, 1);
    assert_int_equal(access(path, F_OK), 0); /* left alone */
    snprintf(path, sizeof path, "%s/run-0000000000000002-1-00000000/%016x.seg", dir, 1);
    assert_int_equal(access(path, F_OK), 0);
}

static void test_adoption_is_bounded(void **state) {
    (void)state;
    const char *dir = fresh_dir("bounded");
    write_dead_run(dir, "run-0000000000000001-1-00000000", 1, 2, NULL);
    write_dead_run(dir, "run-0000000000000002-1-00000000", 1, 2, NULL);
    write_dead_run(dir, "run-0000000000000003-1-00000000", 1, 2, NULL);
    segops__spool_limits_t l = limits(0);
    l.max_adopted = 2;
    segops__spool_t *s = open_spool(dir, &l);
    segops__spool_usage_t u;
    segops__spool_usage(s, &u);
    assert_int_equal(u.adopted_runs, 2);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 4);
    ack_seen(s, seen);
    free(seen);
    assert_int_equal(segops__spool_adopt(s), 1); /* the third, once room is made */
    seen = read_all(s, 1000);
    assert_int_equal(seen->count, 2);
    ack_seen(s, seen);
    free(seen);
    segops__spool_close(s);
    assert_int_equal(count_entries(dir, "run-"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_read_ack_close_removes_run, note_live,
                                        check_live),
        cmocka_unit_test_setup_teardown(test_hand_out_and_refusal, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_unacked_records_survive_close_and_are_adopted,
                                        note_live, check_live),
        cmocka_unit_test_setup_teardown(test_live_child_is_not_adopted_then_killed_child_is,
                                        note_live, check_live),
        cmocka_unit_test_setup_teardown(test_kill_mid_stream_loses_nothing_appended, note_live,
                                        check_live),
        cmocka_unit_test_setup_teardown(test_foreign_entries_are_left_alone, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_other_users_runs_are_not_adopted, note_live,
                                        check_live),
        cmocka_unit_test_setup_teardown(test_adoption_is_bounded, note_live, check_live),
    };
    return cmocka_run_group_tests(tests, setup_root, teardown_root);
}
