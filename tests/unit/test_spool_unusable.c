/* Unusable spool directories: bad paths, no permission, read-only and full, no memory. */
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

static segops_err_t try_open(const char *dir, char *why, size_t len) {
    segops__spool_t *s = NULL;
    segops__spool_limits_t l = limits(0);
    why[0] = '\0';
    segops_err_t err = segops__spool_open(dir, &l, &s, why, len);
    if (err == SEGOPS_OK)
        segops__spool_close(s);
    else
        assert_null(s);
    return err;
}

static void test_unusable_directories(void **state) {
    (void)state;
    char why[256], path[600];
    snprintf(path, sizeof path, "%s/no/such/parent", root);
    assert_int_equal(try_open(path, why, sizeof why), SEGOPS_E_CONFIG);
    assert_non_null(strstr(why, "parent directory does not exist"));
    assert_null(strchr(why, '\n'));

    snprintf(path, sizeof path, "%s/a-file", root);
    write_file(path, "x", 1);
    assert_int_equal(try_open(path, why, sizeof why), SEGOPS_E_CONFIG);
    assert_non_null(strstr(why, "not a directory"));
    snprintf(path, sizeof path, "%s/a-file/sub", root);
    assert_int_equal(try_open(path, why, sizeof why), SEGOPS_E_CONFIG);
    assert_non_null(strstr(why, "not a directory"));

    /* The last component is created. */
    const char *made = fresh_dir("made");
    assert_int_equal(try_open(made, why, sizeof why), SEGOPS_OK);
    struct stat st;
    assert_int_equal(stat(made, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    segops__spool_t *s = (segops__spool_t *)&st;
    segops__spool_limits_t l = limits(0);
    assert_int_equal(segops__spool_open("", &l, &s, why, sizeof why), SEGOPS_E_INVALID_ARG);
    assert_null(s);
}

static void test_no_permission(void **state) {
    (void)state;
    const char *dir = fresh_dir("readonly-perm");
    assert_int_equal(mkdir(dir, 0555), 0);
    assert_int_equal(chmod(dir, 0555), 0);
    /* root ignores permission bits: check as an unprivileged user in a child. */
    int out[2];
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
        char why[256] = "";
        segops__spool_t *s = NULL;
        segops__spool_limits_t l = limits(0);
        segops_err_t err = segops__spool_open(dir, &l, &s, why, sizeof why);
        CHILD_CHECK(write(out[1], why, sizeof why) == sizeof why);
        _exit(err == SEGOPS_E_CONFIG && !s ? 0 : 1);
    }
    char why[256];
    assert_int_equal(read(out[0], why, sizeof why), sizeof why);
    int status = wait_child(pid);
    close(out[0]);
    close(out[1]);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
        SEGOPS_SKIP("cannot become nobody", SKIP_MACHINE_CANNOT);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(why, "no permission"));
}

static void test_read_only_file_system(void **state) {
    (void)state;
    const char *mnt = mount_tmpfs("rofs", "size=1m");
    if (!mnt) {
        SEGOPS_SKIP("mounting a tmpfs is not permitted here", geteuid() != 0);
    }
    char spool[600], why[256];
    snprintf(spool, sizeof spool, "%s/spool", mnt);
    assert_int_equal(mkdir(spool, 0700), 0);
    assert_int_equal(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT | MS_RDONLY, "size=1m"), 0);
    assert_int_equal(try_open(spool, why, sizeof why), SEGOPS_E_CONFIG);
    assert_non_null(strstr(why, "read-only file system"));
    /* The spool directory itself missing on a read-only file system. */
    snprintf(spool, sizeof spool, "%s/missing", mnt);
    assert_int_equal(try_open(spool, why, sizeof why), SEGOPS_E_CONFIG);
    assert_non_null(strstr(why, "read-only file system"));
    umount(mnt);
}

static void test_disk_full(void **state) {
    (void)state;
    const char *mnt = mount_tmpfs("full", "size=64k");
    if (!mnt) {
        SEGOPS_SKIP("mounting a tmpfs is not permitted here", geteuid() != 0);
    }
    char spool[600], run[600];
    snprintf(spool, sizeof spool, "%s/spool", mnt);
    segops__spool_limits_t l = limits(16384);
    segops__spool_t *s = open_spool(spool, &l);
    assert_true(find_run(spool, NULL, run, sizeof run));
    size_t total = 0, appended = 0;
    segops_err_t err = SEGOPS_OK;
    for (int round = 0; round < 1000 && err == SEGOPS_OK; round++) {
        err = append_events(s, "f", total, 50, 1000, false, &appended);
        total += appended;
    }
    assert_int_equal(err, SEGOPS_E_IO);
    char line[256];
    segops__spool_describe_error(s, line, sizeof line);
    assert_non_null(strstr(line, "No space left on device"));
    assert_null(strchr(line, '\n'));
    /* No half-written record is left behind, and the accounting matches the files. */
    segops__spool_usage_t u;
    segops__spool_usage(s, &u);
    assert_int_equal(u.disk_bytes, seg_bytes(run));
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, total);
    expect_events(seen, 0, "f", 0, total);
    segops__spool_losses_t losses;
    segops__spool_take_losses(s, &losses);
    assert_int_equal(losses.corrupt_bytes, 0);
    /* Once space is freed, appends work again. */
    ack_seen(s, seen);
    free(seen);
    assert_int_equal(append_events(s, "f", total, 5, 1000, false, &appended), SEGOPS_OK);
    seen = read_all(s, 1000);
    expect_events(seen, 0, "f", total, 5);
    ack_seen(s, seen);
    free(seen);
    segops__spool_close(s);
    umount(mnt);
}

/* Open, append, read and settle with the Nth allocation failing, for every N:
 * each failure surfaces as SEGOPS_E_NOMEM (or is absorbed) and leaks nothing. */
static void test_allocation_failures(void **state) {
    (void)state;
    segops__spool_limits_t l = limits(1024);
    bool finished = false;
    for (long n = 0; n < 500 && !finished; n++) {
        const char *dir = fresh_dir("nomem");
        write_dead_run(dir, "run-0000000000000001-1-00000000", 1, 5, NULL);
        long live = segops__alloc_test_live();
        uint64_t attempts = segops__alloc_test_count();
        segops__alloc_test_set_fail_after(n);
        segops__spool_t *s = NULL;
        char why[256];
        segops_err_t err = segops__spool_open(dir, &l, &s, why, sizeof why);
        if (err == SEGOPS_OK) {
            err = append_events(s, "n", 0, 30, 1000, false, NULL);
            assert_true(err == SEGOPS_OK || err == SEGOPS_E_NOMEM);
            seen_t *seen = calloc(1, sizeof *seen);
            err = segops__spool_read(s, 1000, SIZE_MAX, take, seen, NULL);
            assert_true(err == SEGOPS_OK || err == SEGOPS_E_NOMEM);
            for (size_t i = seen->count; i-- > 0;) { /* in reverse: ranges allocate */
                err = segops__spool_ack(s, seen->pos[i]);
                assert_true(err == SEGOPS_OK || err == SEGOPS_E_NOMEM);
            }
            free(seen);
            segops__spool_close(s);
        } else {
            assert_int_equal(err, SEGOPS_E_NOMEM);
            assert_null(s);
        }
        finished = segops__alloc_test_count() - attempts <= (uint64_t)n;
        segops__alloc_test_set_fail_after(-1);
        assert_int_equal(segops__alloc_test_live(), live);
        if (finished) print_message("allocation failure points tried: %ld\n", n);
    }
    assert_true(finished);
}

int main(void) {
    /* A private mount namespace (root only) makes tmpfs mounts possible
     * without anything leaking to the rest of the machine. */
    (void)enter_mount_namespace(); /* mount_tmpfs returns NULL without it */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unusable_directories, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_no_permission, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_read_only_file_system, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_disk_full, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_allocation_failures, note_live, check_live),
    };
    return cmocka_run_group_tests(tests, setup_root, teardown_root);
}
