/* A client that exits with or without segops_shutdown, for test_exit_warning
 * (a helper program, not a test):
 *
 *   exit_child URL COUNT END [EXIT_FLUSH_MS]
 *
 * Tracks COUNT events "item_viewed" of user "child" (each must be accepted),
 * then ends as END says:
 *   exit      exit(0) without segops_shutdown;
 *   shutdown  segops_shutdown(10 s) and segops_client_free, then exit(0);
 *   fork      fork a child that exits at once (exit(0): its atexit handlers
 *             run), wait for it to exit, then exit(0) without segops_shutdown.
 * EXIT_FLUSH_MS sets segops_options_set_exit_flush_ms.
 * Exit codes other than 0 name what failed. It writes nothing itself, so all
 * of its stderr is the library's. */
#define _GNU_SOURCE 1
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) return 2;
    const char *url = argv[1], *end = argv[3];
    long count = atol(argv[2]);
    segops_options_t *opts = NULL;
    if (segops_options_new(&opts) != SEGOPS_OK) return 3;
    /* Events stay queued until the test's server answers (or never does). */
    if (segops_options_set_api_url(opts, url) != SEGOPS_OK ||
        segops_options_set_api_key(opts, TEST_SK) != SEGOPS_OK ||
        segops_options_set_batch_size(opts, 500) != SEGOPS_OK)
        return 4;
    if (argc == 5 && segops_options_set_exit_flush_ms(opts, (uint32_t)atol(argv[4])) != SEGOPS_OK)
        return 11;
    segops_client_t *client = NULL;
    if (segops_client_new(opts, &client) != SEGOPS_OK) return 5;
    segops_options_free(opts);
    for (long i = 0; i < count; i++)
        if (segops_track(client, "child", "item_viewed", "{}") != SEGOPS_OK) return 6;
    if (strcmp(end, "shutdown") == 0) {
        if (segops_shutdown(client, 10000) != SEGOPS_OK) return 7;
        segops_client_free(client);
    } else if (strcmp(end, "fork") == 0) {
        pid_t pid = fork();
        if (pid < 0) return 8;
        if (pid == 0) exit(0);
        /* Its exit code is not checked: under valgrind a forked child reports
         * the parent worker's memory as lost and exits 1 (see scripts/test.sh). */
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 9;
    } else if (strcmp(end, "exit") != 0) {
        return 10;
    }
    exit(0);
}
