/* Descriptor bookkeeping for fork() (src/fds.c): what a forked child closes,
 * and how new descriptors are found. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fds.h"

static bool is_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

/* close_all closes what is recorded, and only that; a removed one stays open. */
static void test_close_all_closes_recorded(void **state) {
    (void)state;
    segops__owned_fds_t set;
    segops__owned_fds_init(&set);
    int pair[2], other[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    assert_int_equal(pipe(other), 0);
    assert_true(segops__owned_fds_add(&set, pair[0]));
    assert_true(segops__owned_fds_add(&set, pair[1]));
    assert_true(segops__owned_fds_add(&set, other[0]));
    segops__owned_fds_remove(&set, other[0]);
    assert_true(fcntl(pair[0], F_GETFD) & FD_CLOEXEC); /* recorded ones are close-on-exec */
    segops__owned_fds_close_all(&set);
    assert_false(is_open(pair[0]));
    assert_false(is_open(pair[1]));
    assert_true(is_open(other[0]));
    assert_true(is_open(other[1]));
    segops__owned_fds_close_all(&set); /* forgotten: nothing happens twice */
    assert_true(is_open(other[0]));
    close(other[0]);
    close(other[1]);
}

/* A descriptor closed behind the set's back whose number now names another
 * file is not closed. */
static void test_close_all_skips_reused_number(void **state) {
    (void)state;
    segops__owned_fds_t set;
    segops__owned_fds_init(&set);
    int pair[2], other[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    assert_true(segops__owned_fds_add(&set, pair[0]));
    int number = pair[0];
    close(pair[0]); /* not through the set */
    assert_int_equal(pipe(other), 0);
    int reused = other[0] == number ? other[0] : other[1] == number ? other[1] : -1;
    assert_true(reused >= 0); /* the lowest free numbers: pair[0]'s comes back */
    segops__owned_fds_close_all(&set);
    assert_true(is_open(reused));
    close(pair[1]);
    close(other[0]);
    close(other[1]);
}

static void test_full_set_refuses(void **state) {
    (void)state;
    segops__owned_fds_t set;
    segops__owned_fds_init(&set);
    int fds[SEGOPS__OWNED_FDS + 1];
    for (int i = 0; i <= SEGOPS__OWNED_FDS; i++) {
        fds[i] = dup(0);
        assert_true(fds[i] >= 0);
        assert_int_equal(segops__owned_fds_add(&set, fds[i]), i < SEGOPS__OWNED_FDS);
    }
    assert_false(segops__owned_fds_add(&set, -1));
    segops__owned_fds_close_all(&set);
    for (int i = 0; i < SEGOPS__OWNED_FDS; i++) assert_false(is_open(fds[i]));
    assert_true(is_open(fds[SEGOPS__OWNED_FDS]));
    close(fds[SEGOPS__OWNED_FDS]);
}

/* A snapshot, then new descriptors: exactly those are reported. */
static void test_new_since_snapshot(void **state) {
    (void)state;
    segops__fd_snapshot_t before;
    assert_int_equal(segops__fd_snapshot_take(&before), SEGOPS_OK);
    assert_true(before.count >= 1);
    int none[2];
    assert_int_equal(segops__fd_snapshot_new_since(&before, none, 2), 0);
    int pair[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    int found[3] = {-1, -1, -1};
    assert_int_equal(segops__fd_snapshot_new_since(&before, found, 3), 2);
    assert_true((found[0] == pair[0] && found[1] == pair[1]) ||
                (found[0] == pair[1] && found[1] == pair[0]));
    assert_int_equal(segops__fd_snapshot_new_since(&before, found, 1), 2); /* counts past max */
    segops__fd_snapshot_free(&before);
    close(pair[0]);
    close(pair[1]);
}

/* What makes two descriptors one wake-up channel. */
static void test_one_channel(void **state) {
    (void)state;
    int sockets[2], pipe_ends[2], other_pipe[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sockets), 0);
    assert_int_equal(pipe(pipe_ends), 0);
    assert_int_equal(pipe(other_pipe), 0);
    assert_true(segops__fd_one_channel(sockets[0], sockets[1]));
    assert_true(segops__fd_one_channel(pipe_ends[0], pipe_ends[1]));
    assert_false(segops__fd_one_channel(pipe_ends[0], other_pipe[1])); /* two pipes */
    assert_false(segops__fd_one_channel(pipe_ends[0], sockets[1]));
    assert_false(segops__fd_one_channel(sockets[0], -1)); /* a socket is never alone */
    fcntl(sockets[1], F_SETFL, fcntl(sockets[1], F_GETFL) & ~O_NONBLOCK);
    assert_false(segops__fd_one_channel(sockets[0], sockets[1])); /* curl's are nonblocking */
    assert_false(segops__fd_readable(sockets[0]));
    assert_int_equal(write(sockets[1], "x", 1), 1);
    assert_true(segops__fd_readable(sockets[0]));
    for (int i = 0; i < 2; i++) {
        close(sockets[i]);
        close(pipe_ends[i]);
        close(other_pipe[i]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_all_closes_recorded),
        cmocka_unit_test(test_close_all_skips_reused_number),
        cmocka_unit_test(test_full_set_refuses),
        cmocka_unit_test(test_new_since_snapshot),
        cmocka_unit_test(test_one_channel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
