/* segops__spool_usage (client stats, the worker's look for a backlog) never
 * waits for the spool's lock, which calls hold across file I/O (a write, an
 * fdatasync): it reports what the last call that held the lock left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "spooltest.h" /* remove_tree */

#define HANG_BOUND_MS 20000 /* a hang detector, not a timing threshold */

static char root[] = "/tmp/segops-spool-usage-XXXXXX";

typedef struct probe {
    segops__spool_t *spool;
    segops__spool_usage_t usage;
    atomic_bool done;
} probe_t;

static void *read_usage(void *arg) {
    probe_t *p = arg;
    segops__spool_usage(p->spool, &p->usage);
    atomic_store(&p->done, true);
    return NULL;
}

static bool count_record(void *ctx, const segops__spool_rec_t *rec) {
    (void)rec;
    (*(int *)ctx)++;
    return true;
}

static void test_usage_does_not_wait_for_the_lock(void **state) {
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/spool", root);
    segops__spool_limits_t limits = {0};
    segops__spool_t *s = NULL;
    char why[256] = "";
    assert_int_equal(segops__spool_open(dir, &limits, &s, why, sizeof why), SEGOPS_OK);
    const char *json = "{\"n\":1}";
    segops__spool_item_t items[3] = {{json, 7, 1}, {json, 7, 1}, {json, 7, 1}};
    size_t done = 0;
    assert_int_equal(segops__spool_append(s, items, 3, false, NULL, &done), SEGOPS_OK);
    assert_int_equal(done, 3);

    /* The lock held, as by a call blocked in an fdatasync. */
    segops__spool_fork_prepare(s);
    probe_t p = {.spool = s};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, read_usage, &p), 0);
    for (int waited = 0; !atomic_load(&p.done) && waited < HANG_BOUND_MS; waited++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    bool returned = atomic_load(&p.done);
    segops__spool_fork_parent(s);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_true(returned);
    /* What the append left: three records of 32 + 7 bytes, not handed out. */
    assert_int_equal(p.usage.disk_bytes, 3 * (32 + 7));
    assert_int_equal(p.usage.adopted_runs, 0);
    assert_false(p.usage.own_caught_up);

    int read = 0;
    assert_int_equal(segops__spool_read(s, 1, SIZE_MAX, count_record, &read, NULL), SEGOPS_OK);
    assert_int_equal(read, 3);
    segops__spool_usage_t after;
    segops__spool_usage(s, &after);
    assert_true(after.own_caught_up);
    segops__spool_close(s);
}

static int setup(void **state) {
    (void)state;
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    remove_tree(root);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_does_not_wait_for_the_lock),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
