/* The cost of a durable spool, measured on the internal spool layer (moved out
 * of the unit tests: timings are printed here, never asserted): ROUNDS appends
 * of 20 events, each followed by segops__spool_sync, in a scratch directory.
 *
 *   segops-bench-spool-sync [DIR] [ROUNDS]   (DIR: default /tmp; ROUNDS: 100)
 *
 * Prints key=value lines: append_p50_us, sync_p50_us, sync_p90_us, and the
 * file system it ran on. The numbers are the disk's, not the library's: compare
 * them on one machine (tmpfs syncs in microseconds, a real disk in ms). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"

enum { EVENTS_PER_ROUND = 20, JSON_MAX = 160 };

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int by_value(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Appends events from .. from+EVENTS_PER_ROUND-1, handed out (as a worker
 * that sends them from memory would). */
static segops_err_t append_round(segops__spool_t *s, size_t from) {
    static char json[EVENTS_PER_ROUND][JSON_MAX];
    segops__spool_item_t items[EVENTS_PER_ROUND];
    for (size_t i = 0; i < EVENTS_PER_ROUND; i++) {
        snprintf(json[i], sizeof json[i],
                 "{\"user_id\":\"sync-%zu\",\"event_type\":\"order_placed\",\"occurred_at\":"
                 "\"2026-11-18T11:06:40.123Z\",\"payload\":{\"n\":%zu}}",
                 from + i, from + i);
        items[i] = (segops__spool_item_t){json[i], (uint32_t)strlen(json[i]), 1000};
    }
    size_t done = 0;
    return segops__spool_append(s, items, EVENTS_PER_ROUND, true, NULL, &done);
}

int main(int argc, char **argv) {
    const char *parent = argc > 1 ? argv[1] : "/tmp";
    long rounds = argc > 2 ? strtol(argv[2], NULL, 10) : 100;
    if (rounds < 1 || rounds > 1000000) {
        fprintf(stderr, "usage: segops-bench-spool-sync [DIR] [ROUNDS 1..1000000]\n");
        return 2;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/segops-bench-spool-XXXXXX", parent);
    if (!mkdtemp(dir)) {
        perror(dir);
        return 1;
    }
    segops__spool_limits_t limits = {0};
    limits.durable = true;
    segops__spool_t *s = NULL;
    char why[256] = "";
    if (segops__spool_open(dir, &limits, &s, why, sizeof why) != SEGOPS_OK) {
        fprintf(stderr, "spool_open(%s): %s\n", dir, why);
        rmdir(dir);
        return 1;
    }
    int64_t *append_us = calloc((size_t)rounds, sizeof *append_us);
    int64_t *sync_us = calloc((size_t)rounds, sizeof *sync_us);
    int rc = 0;
    for (long i = 0; i < rounds && append_us && sync_us; i++) {
        int64_t t0 = now_us();
        segops_err_t err = append_round(s, (size_t)i * EVENTS_PER_ROUND);
        int64_t t1 = now_us();
        if (err == SEGOPS_OK) err = segops__spool_sync(s);
        if (err != SEGOPS_OK) {
            fprintf(stderr, "round %ld: error %d\n", i, err);
            rc = 1;
            break;
        }
        append_us[i] = t1 - t0;
        sync_us[i] = now_us() - t1;
    }
    if (!append_us || !sync_us) rc = 1;
    if (rc == 0) {
        qsort(append_us, (size_t)rounds, sizeof *append_us, by_value);
        qsort(sync_us, (size_t)rounds, sizeof *sync_us, by_value);
        printf("spool_dir=%s\nrounds=%ld\nevents_per_round=%d\n", parent, rounds, EVENTS_PER_ROUND);
        printf("append_p50_us=%" PRId64 "\nsync_p50_us=%" PRId64 "\nsync_p90_us=%" PRId64 "\n",
               append_us[rounds / 2], sync_us[rounds / 2], sync_us[rounds * 9 / 10]);
        /* Everything appended was handed out: acking it all lets close remove the run. */
        if (segops__spool_ack_range(s, SEGOPS__SPOOL_OWN_RUN, 1,
                                    (uint64_t)rounds * EVENTS_PER_ROUND) != SEGOPS_OK)
            rc = 1;
    }
    free(append_us);
    free(sync_us);
    segops__spool_close(s);
    if (rmdir(dir) != 0) {
        fprintf(stderr, "%s is not empty after every record was acked\n", dir);
        rc = 1;
    }
    return rc;
}
