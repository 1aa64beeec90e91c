/* The worker thread blocks every signal, so the host's handlers never run on it. */
#include "testutil.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SigBlk of the thread named `name` in this process, or 0 if none is found. */
static unsigned long long blocked_mask_of(const char *name) {
    DIR *dir = opendir("/proc/self/task");
    assert_non_null(dir);
    unsigned long long mask = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        char path[512], comm[64] = {0}, line[256];
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (!fgets(comm, sizeof comm, f)) comm[0] = '\0';
        fclose(f);
        comm[strcspn(comm, "\n")] = '\0';
        if (strcmp(comm, name) != 0) continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        f = fopen(path, "r");
        assert_non_null(f);
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "SigBlk:", 7) == 0) mask = strtoull(line + 7, NULL, 16);
        fclose(f);
    }
    closedir(dir);
    return mask;
}

static bool blocks(unsigned long long mask, int sig) { return (mask >> (sig - 1)) & 1ULL; }

static void test_worker_blocks_all_signals(void **state) {
    (void)state;
    /* The host's own mask stays as it was: only the worker blocks. */
    sigset_t before, after;
    pthread_sigmask(SIG_SETMASK, NULL, &before);
    devsrv_t *srv = start_server(NULL);
    segops_options_t *opts = make_options(srv, TEST_SK, NULL);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    pthread_sigmask(SIG_SETMASK, NULL, &after);
    assert_int_equal(sigismember(&after, SIGUSR1), sigismember(&before, SIGUSR1));
    assert_int_equal(sigismember(&after, SIGTERM), sigismember(&before, SIGTERM));

    unsigned long long mask = 0; /* the worker names itself as it starts: give it a moment */
    for (int i = 0; i < 200 && !mask; i++, sleep_ms(10)) mask = blocked_mask_of("segops-worker");
    assert_true(mask != 0);
    const int sigs[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGUSR1,  SIGUSR2,  SIGPIPE,
                        SIGALRM, SIGTERM, SIGCHLD, SIGWINCH, SIGRTMIN, SIGRTMAX};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        if (!blocks(mask, sigs[i])) fail_msg("the worker does not block signal %d", sigs[i]);
    assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    assert_int_equal(segops_shutdown(client, 5000), SEGOPS_OK);
    assert_int_equal(devsrv_event_count(srv), 1);
    segops_client_free(client);
    devsrv_stop(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_worker_blocks_all_signals)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
