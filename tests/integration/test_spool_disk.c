/* Bad disks: a spool_dir that cannot be used makes segops_client_new fail with
 * SEGOPS_E_CONFIG and one log line saying why; a disk that fills up during
 * operation never crashes the client or loses an event silently (counted in
 * spool_write_failures, one WARN line, events still delivered from memory).
 *
 * Read-only and full file systems are small tmpfs mounts in this process's own
 * mount namespace (root only); where mounting is not permitted those cases are
 * skipped with a note. */
#include "spooltest.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* segops_client_new on dir must fail with SEGOPS_E_CONFIG, logging exactly one
 * line (ERROR) that names the cause. */
static void expect_config_error(const char *dir, const char *cause) {
    log_recorder_t logs;
    log_recorder_init(&logs);
    segops_options_t *opts = make_options(NULL, TEST_SK, NULL);
    assert_int_equal(segops_options_set_api_url(opts, "http://127.0.0.1:9"), SEGOPS_OK);
    assert_int_equal(segops_options_set_spool_dir(opts, dir), SEGOPS_OK);
    assert_int_equal(segops_options_set_logger(opts, log_recorder_fn, SEGOPS_LOG_DEBUG, &logs),
                     SEGOPS_OK);
    segops_client_t *client = (segops_client_t *)&logs; /* must be reset to NULL */
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_E_CONFIG);
    assert_null(client);
    segops_options_free(opts);
    log_recorder_t seen = log_snapshot(&logs);
    log_recorder_destroy(&logs);
    size_t lines = seen.by_level[0] + seen.by_level[1] + seen.by_level[2] + seen.by_level[3];
    if (lines != 1 || seen.by_level[SEGOPS_LOG_ERROR] != 1)
        fail_msg("%zu log lines (%zu ERROR), want one ERROR line", lines,
                 seen.by_level[SEGOPS_LOG_ERROR]);
    print_message("logged: %s\n", seen.first_error);
    assert_null(strchr(seen.first_error, '\n'));
    assert_null(strstr(seen.first_error, TEST_SK));
    assert_non_null(strstr(seen.first_error, dir));
    if (!strstr(seen.first_error, cause))
        fail_msg("the line does not say \"%s\": %s", cause, seen.first_error);
}

static void test_missing_parent(void **state) {
    (void)state;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/spool", spool_path("no_such_parent"));
    expect_config_error(dir, "parent directory does not exist");
}

static void test_a_file_instead_of_a_directory(void **state) {
    (void)state;
    char file[600], below[700];
    snprintf(file, sizeof file, "%s", spool_path("a_file"));
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    expect_config_error(file, "not a directory");
    snprintf(below, sizeof below, "%s/spool", file); /* a file on the path */
    expect_config_error(below, "not a directory");
}

/* Read-only: a read-only mount as root (permissions do not stop root), a
 * directory without write permission otherwise. */
static void test_read_only_directory(void **state) {
    (void)state;
    char dir[600];
    if (geteuid() != 0) {
        snprintf(dir, sizeof dir, "%s", spool_path("read_only"));
        assert_int_equal(mkdir(dir, 0500), 0);
        expect_config_error(dir, "no permission");
        return;
    }
    const char *mnt = mount_tmpfs("ro_mount", "size=1m");
    if (!mnt) {
        SEGOPS_SKIP("mounting a tmpfs is not permitted here", geteuid() != 0);
    }
    snprintf(dir, sizeof dir, "%s/spool", mnt);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT | MS_RDONLY, "size=1m"), 0);
    expect_config_error(dir, "read-only file system");
    snprintf(dir, sizeof dir, "%s/missing", mnt); /* to be created there */
    expect_config_error(dir, "read-only file system");
    assert_int_equal(umount(mnt), 0);
}

/* As root, the same through a user without permission: a child process (this
 * runs before any test starts a thread) that drops to nobody. */
static void test_no_permission_for_another_user(void **state) {
    (void)state;
    if (geteuid() != 0) {
        SEGOPS_SKIP("needs root to become another user", SKIP_INSTALLABLE);
    }
    char dir[600];
    snprintf(dir, sizeof dir, "%s", spool_path("root_only"));
    assert_int_equal(mkdir(dir, 0755), 0);
    char parent[600];
    snprintf(parent, sizeof parent, "%s", dir);
    *strrchr(parent, '/') = '\0';
    assert_int_equal(chmod(parent, 0711), 0); /* nobody may pass through the scratch dir */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
        segops_options_t *opts = NULL;
        segops_client_t *client = NULL;
        if (segops_options_new(&opts) != SEGOPS_OK ||
            segops_options_set_api_url(opts, "http://127.0.0.1:9") != SEGOPS_OK ||
            segops_options_set_api_key(opts, TEST_SK) != SEGOPS_OK ||
            segops_options_set_spool_dir(opts, dir) != SEGOPS_OK)
            _exit(4);
        segops_err_t err = segops_client_new(opts, &client);
        _exit(err == SEGOPS_E_CONFIG && !client ? 0 : 5);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(chmod(parent, 0700), 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
        SEGOPS_SKIP("cannot become nobody", SKIP_MACHINE_CANNOT);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Fills what is left of the file system at dir with a file of its own, so
 * that no write there can succeed. */
static void fill_up(const char *filler) {
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    static char block[4096];
    memset(block, 'f', sizeof block);
    while (write(fd, block, sizeof block) > 0) {
    }
    while (write(fd, block, 1) > 0) {
    }
    close(fd);
}

/* Events until the client has tried to write them all (spooled or failed). */
static segops_stats_t track_until_tried(segops_client_t *client, int first, int n) {
    for (int i = first; i < first + n; i++) {
        assert_int_equal(track_one_padded(client, i), SEGOPS_OK);
        if (i % 100 == 99) sleep_ms(5); /* let the spool thread write */
    }
    int64_t end = now_ms() + 10 * HANG_MS;
    segops_stats_t st = stats_of(client);
    while (st.spooled + st.spool_write_failures < st.enqueued && now_ms() < end) {
        sleep_ms(5);
        st = stats_of(client);
    }
    return st;
}

/* Another program fills the disk while the client runs, the server up: every
 * event is still accepted, and those that cannot be written stay in memory,
 * counted in spool_write_failures and said in one WARN line; all are delivered
 * once. Once space is freed, the spool writes again. */
static void test_disk_full_during_operation(void **state) {
    (void)state;
    const char *mnt = mount_tmpfs("full", "size=256k");
    if (!mnt) {
        SEGOPS_SKIP("mounting a tmpfs is not permitted here", geteuid() != 0);
    }
    char mount_point[512], dir[600], filler[600];
    snprintf(mount_point, sizeof mount_point, "%s", mnt);
    snprintf(dir, sizeof dir, "%s/spool", mount_point);
    snprintf(filler, sizeof filler, "%s/filler", mount_point);
    fixture_t f;
    fixture_start(&f, NULL);
    log_recorder_t logs;
    log_recorder_init(&logs);
    segops_options_t *opts = spool_options(&f, 20, dir);
    assert_int_equal(segops_options_set_logger(opts, log_recorder_fn, SEGOPS_LOG_DEBUG, &logs),
                     SEGOPS_OK);
    fixture_client(&f, opts);
    segops_stats_t st = track_until_tried(f.client, 0, 100);
    assert_int_equal(st.spooled, 100);
    fill_up(filler);
    st = track_until_tried(f.client, 100, 1000);
    print_message("disk full: spooled %llu, write failures %llu\n", (unsigned long long)st.spooled,
                  (unsigned long long)st.spool_write_failures);
    /* The spool's open segment may still have room in its last tmpfs page: a
     * few records can fit after the filler took every free page. */
    uint64_t slack = st.spooled - 100;
    assert_true(st.spooled >= 100 && slack <= 8);
    assert_int_equal(st.spool_write_failures, 1000 - slack);
    assert_int_equal(st.enqueued, 1100);
    assert_int_equal(st.dropped, 0);
    assert_conservation(f.client);
    log_recorder_t seen = log_snapshot(&logs);
    /* One line per streak of failures: one streak, or one more for each
     * record that still fitted in the slack and ended a streak. */
    assert_true(seen.spool_warns >= 1 && seen.spool_warns <= 1 + slack);
    const int warns = seen.spool_warns;
    print_message("warned: %s\n", seen.spool_text[0]);
    assert_non_null(strstr(seen.spool_text[0], "No space left on device"));
    assert_null(strchr(seen.spool_text[0], '\n'));
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    assert_numbered_once(f.srv, 0, 0, 1100);

    assert_int_equal(unlink(filler), 0); /* space again: the streak ends */
    st = track_until_tried(f.client, 1100, 200);
    assert_int_equal(st.spooled, 300 + slack);
    assert_int_equal(st.spool_write_failures, 1000 - slack);
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    st = stats_of(f.client);
    assert_int_equal(st.delivered, 1300);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(reports_of(&f.rec), 0);
    assert_numbered_once(f.srv, 0, 0, 1300);
    assert_int_equal(log_snapshot(&logs).spool_warns, warns); /* none once space came back */
    fixture_finish(&f);
    log_recorder_destroy(&logs);
    assert_int_equal(spool_runs(dir, NULL, 0), 0);
    assert_int_equal(umount(mount_point), 0);
}

/* The disk full and the memory queue full too, with the server down: a track
 * that fits nowhere is refused with SEGOPS_E_QUEUE_FULL (counted); every event
 * accepted is delivered once the server is back. */
static void test_disk_and_memory_full_refuse_with_a_code(void **state) {
    (void)state;
    const char *mnt = mount_tmpfs("full2", "size=128k");
    if (!mnt) {
        SEGOPS_SKIP("mounting a tmpfs is not permitted here", geteuid() != 0);
    }
    char mount_point[512], dir[600];
    snprintf(mount_point, sizeof mount_point, "%s", mnt);
    snprintf(dir, sizeof dir, "%s/spool", mount_point);
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = spool_options(&f, 100, dir);
    assert_int_equal(segops_options_set_max_queue_events(opts, 300), SEGOPS_OK);

    fixture_client(&f, opts);
    assert_int_equal(devsrv_pause(f.srv), 0);
    int accepted = 0, refused = 0;
    tally_t want = {.n = 3000};
    want.copies = calloc(3000, sizeof *want.copies);
    assert_non_null(want.copies);
    for (int i = 0; i < 3000; i++) {
        segops_err_t err = track_one_padded(f.client, i);
        if (err == SEGOPS_OK) {
            accepted++;
            want.copies[i] = 1;
        } else {
            assert_int_equal(err, SEGOPS_E_QUEUE_FULL);
            refused++;
        }
    }
    segops_stats_t st = stats_of(f.client);
    print_message("accepted %d, refused %d\n", accepted, refused);
    assert_true(refused > 0);
    assert_int_equal(st.rejected_queue_full, refused);
    assert_int_equal(st.enqueued, accepted);
    assert_conservation(f.client);
    assert_int_equal(devsrv_resume(f.srv), 0);
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    st = stats_of(f.client);
    assert_int_equal(st.delivered, accepted);
    assert_int_equal(st.dropped, 0);
    tally_t got;
    tally_server(f.srv, 0, 3000, &got);
    assert_int_equal(got.others, 0);
    assert_memory_equal(got.copies, want.copies, 3000 * sizeof *got.copies);
    tally_free(&got);
    tally_free(&want);
    fixture_finish(&f);
    assert_int_equal(umount(mount_point), 0);
}

int main(void) {
    enter_mount_namespace();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_permission_for_another_user), /* first: no thread yet */
        cmocka_unit_test(test_missing_parent),
        cmocka_unit_test(test_a_file_instead_of_a_directory),
        cmocka_unit_test(test_read_only_directory),
        cmocka_unit_test(test_disk_full_during_operation),
        cmocka_unit_test(test_disk_and_memory_full_refuse_with_a_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
