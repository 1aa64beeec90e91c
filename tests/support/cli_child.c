/* Running the segops binary as a child: posix_spawn, temporary files for its
 * output, a polling wait with a deadline. */
#include "cli_child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int temp_fd(void) {
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/segops-cli-child-XXXXXX",
             dir != NULL && dir[0] != '\0' ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

static char *slurp(int fd) {
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    for (;;) {
        if (cap - len < 1024) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        assert_true(n >= 0);
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

void cli_child_start(cli_child_t *c, const char *binary, char *const argv[], char *const envp[],
                     const char *stdin_text) {
    memset(c, 0, sizeof *c);
    int in_fd = -1;
    if (stdin_text != NULL) {
        in_fd = temp_fd();
        size_t len = strlen(stdin_text);
        assert_int_equal(write(in_fd, stdin_text, len), (ssize_t)len);
        assert_int_equal(lseek(in_fd, 0, SEEK_SET), 0);
    }
    c->out_fd = temp_fd();
    c->err_fd = temp_fd();

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in_fd >= 0) {
        posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
        posix_spawn_file_actions_addclose(&fa, in_fd);
    } else {
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    }
    posix_spawn_file_actions_adddup2(&fa, c->out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, c->err_fd, 2);
    posix_spawn_file_actions_addclose(&fa, c->out_fd);
    posix_spawn_file_actions_addclose(&fa, c->err_fd);
    int rc = posix_spawn(&c->pid, binary, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    if (in_fd >= 0) {
        close(in_fd);
    }
    assert_int_equal(rc, 0);
}

static void reaped(cli_child_t *c, int status) {
    c->pid = 0;
    c->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    c->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

bool cli_child_running(cli_child_t *c) {
    if (c->pid == 0) {
        return false;
    }
    int status = 0;
    pid_t w = waitpid(c->pid, &status, WNOHANG);
    assert_true(w >= 0 || errno == EINTR);
    if (w == c->pid) {
        reaped(c, status);
        return false;
    }
    return true;
}

void cli_child_signal(cli_child_t *c, int sig) {
    assert_true(c->pid > 0);
    assert_int_equal(kill(c->pid, sig), 0);
}

void cli_child_wait(cli_child_t *c, int deadline_ms) {
    int64_t deadline = now_ms() + deadline_ms;
    while (cli_child_running(c)) {
        if (now_ms() >= deadline) {
            pid_t pid = c->pid;
            int status = 0;
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            reaped(c, status);
            fail_msg("the segops child %ld did not finish within %d ms", (long)pid, deadline_ms);
        }
        sleep_ms(10);
    }
    c->out = slurp(c->out_fd);
    c->err = slurp(c->err_fd);
    close(c->out_fd);
    close(c->err_fd);
    c->out_fd = c->err_fd = -1;
}

void cli_child_free(cli_child_t *c) {
    free(c->out);
    free(c->err);
    c->out = c->err = NULL;
}

void assert_contains(const char *text, const char *needle) {
    if (strstr(text, needle) == NULL) {
        fail_msg("expected \"%s\" in:\n%s", needle, text);
    }
}
