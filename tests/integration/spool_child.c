/* A client with a spool in a process of its own, for the spool tests (a helper
 * program, not a test):
 *
 *   spool_child URL SPOOL_DIR FIRST COUNT RATE END [MAX_QUEUE_EVENTS [MAX_IN_FLIGHT]]
 *
 * Tracks events "item_viewed" of user "child" with payloads {"i":FIRST},
 * {"i":FIRST+1}, ... (COUNT of them; COUNT < 0: until killed), RATE per second
 * in 1 ms ticks without catching up after a late tick (RATE 0: as fast as it
 * can). After each accepted event it writes how many were accepted so far, one
 * line on stdout, so the test knows what was acknowledged when it kills it.
 * END "hang": sleep until killed; END N: segops_shutdown(N ms), then exit 0
 * when nothing was dropped or refused. Any other exit code names what failed.
 * SPOOL_CHILD_FSYNC_MS in the environment sets spool_fsync_ms. */
#define _GNU_SOURCE 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static void say_count(long accepted) {
    char line[32];
    int len = snprintf(line, sizeof line, "%ld\n", accepted);
    if (write(STDOUT_FILENO, line, (size_t)len) != len) _exit(20);
}

/* Sleeps to the next 1 ms tick; a late tick is not made up for. */
static void next_tick(struct timespec *tick) {
    tick->tv_nsec += 1000000;
    if (tick->tv_nsec >= 1000000000) {
        tick->tv_sec++;
        tick->tv_nsec -= 1000000000;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > tick->tv_sec || (now.tv_sec == tick->tv_sec && now.tv_nsec > tick->tv_nsec))
        *tick = now;
    else
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, tick, NULL);
}

int main(int argc, char **argv) {
    if (argc < 7 || argc > 9) {
        fputs("usage: spool_child URL SPOOL_DIR FIRST COUNT RATE END [MAX_QUEUE_EVENTS "
              "[MAX_IN_FLIGHT]]\n",
              stderr);
        return 2;
    }
    const char *url = argv[1], *dir = argv[2], *end = argv[6];
    long first = atol(argv[3]), count = atol(argv[4]), rate = atol(argv[5]);
    segops_options_t *opts = NULL;
    if (segops_options_new(&opts) != SEGOPS_OK) return 3;
    if (segops_options_set_api_url(opts, url) != SEGOPS_OK ||
        segops_options_set_api_key(opts, TEST_SK) != SEGOPS_OK ||
        segops_options_set_spool_dir(opts, dir) != SEGOPS_OK ||
        segops_options_set_batch_size(opts, 100) != SEGOPS_OK ||
        segops_options_set_retry_backoff_ms(opts, 10, 40) != SEGOPS_OK)
        return 4;
    const char *fsync_ms = getenv("SPOOL_CHILD_FSYNC_MS"); /* spool_fsync_ms, when set */
    if (fsync_ms && segops_options_set_spool_fsync_ms(opts, (uint32_t)atol(fsync_ms)) != SEGOPS_OK)
        return 4;
    if (argc >= 8 && segops_options_set_max_queue_events(opts, (size_t)atol(argv[7])) != SEGOPS_OK)
        return 5;
    if (argc == 9 && segops_options_set_max_in_flight(opts, (uint32_t)atol(argv[8])) != SEGOPS_OK)
        return 5;
    segops_client_t *client = NULL;
    if (segops_client_new(opts, &client) != SEGOPS_OK) return 6;
    segops_options_free(opts);

    long per_tick = rate > 0 ? (rate + 999) / 1000 : 0;
    struct timespec tick;
    clock_gettime(CLOCK_MONOTONIC, &tick);
    char payload[48];
    for (long i = 0; count < 0 || i < count; i++) {
        if (per_tick && i % per_tick == 0) next_tick(&tick);
        snprintf(payload, sizeof payload, "{\"i\":%ld}", first + i);
        if (segops_track(client, "child", "item_viewed", payload) != SEGOPS_OK) return 7;
        say_count(i + 1);
    }
    if (!strcmp(end, "hang"))
        for (;;) pause();
    segops_err_t err = segops_shutdown(client, atoi(end));
    segops_stats_t st;
    segops_client_stats(client, &st);
    segops_client_free(client);
    if (err != SEGOPS_OK && err != SEGOPS_E_TIMEOUT) return 8;
    if (st.dropped || st.rejected_queue_full) return 9;
    return 0;
}
