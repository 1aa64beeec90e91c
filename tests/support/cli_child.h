/* The segops command-line tool run as a child process: started with an exact
 * argv and environment, stdin from a text, stdout and stderr captured, waited
 * for with a deadline or killed. Assertions run on the test's main thread. */
#ifndef SEGOPS_TEST_CLI_CHILD_H
#define SEGOPS_TEST_CLI_CHILD_H

#include "testutil.h"

#include <stdbool.h>
#include <sys/types.h>

typedef struct cli_child {
    pid_t pid;  /* 0 once waited for */
    int out_fd; /* unlinked temporary files */
    int err_fd;
    int exit_code; /* after cli_child_wait: the exit status, -1 when a signal ended it */
    int signal;    /* after cli_child_wait: that signal, 0 when it exited */
    char *out;     /* after cli_child_wait: everything it wrote (NUL-terminated) */
    char *err;
} cli_child_t;

/* Starts `binary` with argv (argv[0] first, NULL-terminated) and exactly envp
 * (NULL-terminated). stdin is stdin_text, or /dev/null when NULL. */
void cli_child_start(cli_child_t *c, const char *binary, char *const argv[], char *const envp[],
                     const char *stdin_text);

/* True while the child has not ended (reaps it when it has; cli_child_wait
 * then collects its output). */
bool cli_child_running(cli_child_t *c);

/* Sends sig to the running child. */
void cli_child_signal(cli_child_t *c, int sig);

/* Waits for the child to end and collects its status and output. A child
 * still running after deadline_ms is killed and fails the test (a hang
 * detector, never a speed threshold). */
void cli_child_wait(cli_child_t *c, int deadline_ms);

/* Frees the output. */
void cli_child_free(cli_child_t *c);

/* Fails unless needle is in text. */
void assert_contains(const char *text, const char *needle);

/* The built segops binary, for the support code: a CLI test program defines it
 * as SEGOPS_CLI_PATH (tests/CMakeLists.txt). */
extern const char *const cli_binary;

#endif
