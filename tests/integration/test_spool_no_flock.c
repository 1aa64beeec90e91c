/* Issue 19, a README promise: a spool_dir on a file system without flock makes
 * segops_client_new fail with SEGOPS_E_CONFIG and a one-line reason.
 *
 * No such file system can be mounted here (no NFS server, no root for a
 * FUSE or a mount without locks), so this program stands in for one: it
 * defines flock() itself, which the statically linked library calls instead of
 * libc's, and fails it with the errno such a file system gives (ENOLCK over
 * NFS without a lock manager, EOPNOTSUPP elsewhere) while `no_locks` is set. */
#define _GNU_SOURCE 1
#include "spooltest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

static int no_locks; /* the errno flock fails with; 0: the real flock */
static int flock_calls;

int flock(int fd, int operation) {
    __atomic_add_fetch(&flock_calls, 1, __ATOMIC_SEQ_CST);
    int err = __atomic_load_n(&no_locks, __ATOMIC_SEQ_CST);
    if (err) {
        errno = err;
        return -1;
    }
    return (int)syscall(SYS_flock, fd, operation);
}

static void check_refused(int err, const char *name) {
    fixture_t f;
    fixture_start(&f, NULL);
    const char *dir = spool_path(name);
    segops_options_t *opts = spool_options(&f, 20, dir);
    __atomic_store_n(&flock_calls, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&no_locks, err, __ATOMIC_SEQ_CST);
    segops_client_t *client = NULL;
    segops_err_t got = segops_client_new(opts, &client);
    __atomic_store_n(&no_locks, 0, __ATOMIC_SEQ_CST);
    const char *why = segops_last_error();
    printf("segops_client_new: %s: %s\n", segops_strerror(got), why);
    assert_true(__atomic_load_n(&flock_calls, __ATOMIC_SEQ_CST) > 0); /* the stand-in was used */
    assert_int_equal(got, SEGOPS_E_CONFIG);
    assert_null(client);
    assert_non_null(strstr(why, "does not support file locks (flock)"));
    assert_null(strchr(why, '\n'));
    assert_null(strstr(why, TEST_SK));
    assert_int_equal(spool_runs(dir, NULL, 0), 0); /* nothing left behind */

    /* The same options on a file system with locks make a working client. */
    assert_int_equal(segops_client_new(opts, &f.client), SEGOPS_OK);
    segops_options_free(opts);
    track_and_flush(&f, NULL, 3, HANG_MS);
    assert_server_holds(f.srv, 0, 3, 1);
    fixture_finish(&f);
}

static void no_flock_enolck_is_a_config_error(void **state) {
    (void)state;
    check_refused(ENOLCK, "enolck");
}

static void no_flock_eopnotsupp_is_a_config_error(void **state) {
    (void)state;
    check_refused(EOPNOTSUPP, "eopnotsupp");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_flock_enolck_is_a_config_error),
        cmocka_unit_test(no_flock_eopnotsupp_is_a_config_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
