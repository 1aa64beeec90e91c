/* Spools side by side: two in one process, concurrent threads, a forked child. */
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

static void test_two_spools_in_one_process_never_share(void **state) {
    (void)state;
    /* flock belongs to the open file description: a second client in the same
     * process must find the first one's run locked (POSIX locks would not). */
    const char *dir = fresh_dir("twolive");
    segops__spool_limits_t l = limits(0);
    segops__spool_t *a = open_spool(dir, &l);
    assert_int_equal(append_events(a, "a", 0, 10, 1000, false, NULL), SEGOPS_OK);
    segops__spool_t *b = open_spool(dir, &l);
    assert_int_equal(append_events(b, "b", 0, 3, 1000, false, NULL), SEGOPS_OK);
    assert_int_equal(segops__spool_adopt(b), 0);
    seen_t *seen = read_all(b, 1000);
    assert_int_equal(seen->count, 3);
    expect_events(seen, 0, "b", 0, 3);
    free(seen);
    seen = read_all(a, 1000);
    assert_int_equal(seen->count, 10);
    expect_events(seen, 0, "a", 0, 10);
    free(seen);
    /* Once a is gone (closed with its records unsettled), b adopts them. */
    segops__spool_close(a);
    assert_int_equal(segops__spool_adopt(b), 1);
    seen = read_all(b, 1000);
    assert_int_equal(seen->count, 10);
    expect_events(seen, 0, "a", 0, 10);
    free(seen);
    segops__spool_close(b);
}

typedef struct writer {
    segops__spool_t *spool;
    segops_err_t err; /* the first failure, read after join */
} writer_t;

static void *write_batches(void *arg) {
    writer_t *w = arg;
    for (size_t i = 0; i < 2000 && w->err == SEGOPS_OK; i += 10)
        w->err = append_events(w->spool, "t", i, 10, 1000, false, NULL);
    return NULL;
}

static void test_concurrent_append_read_ack(void **state) {
    (void)state;
    const char *dir = fresh_dir("threads");
    segops__spool_limits_t l = limits(8192);
    segops__spool_t *s = open_spool(dir, &l);
    writer_t w = {s, SEGOPS_OK};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, write_batches, &w), 0);
    seen_t *seen = calloc(1, sizeof *seen);
    size_t acked = 0;
    while (seen->count < 2000) {
        size_t count;
        assert_int_equal(segops__spool_read(s, 1000, 64, take, seen, &count), SEGOPS_OK);
        for (; acked < seen->count; acked++)
            assert_int_equal(segops__spool_ack(s, seen->pos[acked]), SEGOPS_OK);
        if (!count) sched_yield();
    }
    pthread_join(thread, NULL);
    assert_int_equal(w.err, SEGOPS_OK);
    expect_events(seen, 0, "t", 0, 2000);
    free(seen);
    segops__spool_close(s);
    assert_int_equal(count_entries(dir, "run-"), 0);
}

static void test_fork_child_never_touches_parent_files(void **state) {
    (void)state;
    const char *dir = fresh_dir("fork");
    segops__spool_limits_t l = limits(0);
    segops__spool_t *s = open_spool(dir, &l);
    assert_int_equal(append_events(s, "p", 0, 5, 1000, false, NULL), SEGOPS_OK);
    char run[600];
    assert_true(find_run(dir, NULL, run, sizeof run));
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    segops__spool_fork_prepare(s);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        segops__spool_fork_child(s);
        close(ready[0]);
        close(go[1]);
        CHILD_CHECK(append_events(s, "c", 0, 1, 1000, false, NULL) == SEGOPS_E_STATE);
        seen_t *dummy = calloc(1, sizeof *dummy);
        CHILD_CHECK(segops__spool_read(s, 1000, 10, take, dummy, NULL) == SEGOPS_E_STATE);
        /* The parent's lock is still held while the child lives. */
        int fd = open(run, O_RDONLY | O_DIRECTORY);
        CHILD_CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK);
        close(fd);
        char c = 'r';
        CHILD_CHECK(write(ready[1], &c, 1) == 1);
        CHILD_CHECK(read(go[0], &c, 1) == 1);
        segops__spool_close(s); /* frees memory only */
        _exit(0);
    }
    segops__spool_fork_parent(s);
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    /* The parent's files are intact and it goes on as before. */
    assert_int_equal(append_events(s, "p", 5, 5, 1000, false, NULL), SEGOPS_OK);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 10);
    expect_events(seen, 0, "p", 0, 10);
    ack_seen(s, seen);
    free(seen);
    /* While the child still lives, the parent's close releases the run: the
     * child holds no descriptor of it. */
    assert_int_equal(append_events(s, "p", 10, 2, 1000, false, NULL), SEGOPS_OK);
    segops__spool_close(s);
    segops__spool_t *other = open_spool(dir, &l);
    seen = read_all(other, 1000);
    assert_int_equal(seen->count, 2);
    expect_events(seen, 0, "p", 10, 2);
    free(seen);
    segops__spool_close(other);
    assert_int_equal(write(go[1], &c, 1), 1);
    int status = wait_child(pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(ready[0]);
    close(go[0]);
    close(go[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_spools_in_one_process_never_share, note_live,
                                        check_live),
        cmocka_unit_test_setup_teardown(test_concurrent_append_read_ack, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_fork_child_never_touches_parent_files, note_live,
                                        check_live),
    };
    return cmocka_run_group_tests(tests, setup_root, teardown_root);
}
