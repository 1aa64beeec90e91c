/* Shared helpers for libsegops tests: a local server with test keys, a
 * thread-safe recorder of on_error reports, and the stats conservation check.
 * Worker and server threads only record facts here; tests assert on the main
 * thread. */
#ifndef SEGOPS_TESTUTIL_H
#define SEGOPS_TESTUTIL_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <segops/segops.h>

#include "devserver.h"
#include "skip.h"

/* RUNNING_ON_VALGRIND: non-zero under valgrind, for a test that must do less
 * there (0 where valgrind's header is missing). */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define TEST_SK "sk_test_4f1d8a9c2b7e6d5a"
#define TEST_PK "pk_test_9a8b7c6d5e4f3a2b"
/* HMAC secret of TEST_PK and TEST_SIGNED_PK (hex). */
#define TEST_PK_SECRET "7365676f70732d746573742d686d61632d736563726574"
/* A second public key that insists on signed identities. */
#define TEST_SIGNED_PK "pk_test_signed_5e6f7a8b9c0d"

/* Everything on_error reported, copied. */
#define RECORDER_MAX 256
typedef struct recorder {
    pthread_mutex_t lock;
    size_t reports;
    uint64_t events;        /* sum of event_count */
    uint64_t by_reason[16]; /* events per segops_drop_reason_t */
    segops_error_info_t info[RECORDER_MAX];
    char messages[RECORDER_MAX][256];
} recorder_t;

void recorder_init(recorder_t *r);
void recorder_destroy(recorder_t *r);
/* An on_error callback: pass the recorder as userdata. */
void recorder_on_error(const segops_error_info_t *error, void *userdata);
/* Snapshot under the lock. */
void recorder_snapshot(recorder_t *r, size_t *reports, uint64_t *events);
/* Events the recorder has seen reported (the sum of event_count), under its lock. */
uint64_t events_reported(recorder_t *r);

/* Starts a devserver knowing TEST_SK, TEST_PK and TEST_SIGNED_PK, keeping events in memory.
 * cfg may be NULL for defaults, or carry extra settings (keys are filled in
 * when it names none). */
devsrv_t *start_server(const devsrv_config_t *cfg);

/* Options for a client of srv with TEST_SK and the recorder as on_error. */
segops_options_t *make_options(devsrv_t *srv, const char *key, recorder_t *rec);

/* A TEST_SK client of srv that sends when batch_size events are queued, every
 * interval_ms, or when told (flush, shutdown). */
segops_client_t *quiet_client(devsrv_t *srv, recorder_t *rec, size_t batch_size,
                              uint32_t interval_ms);

/* Snapshots: the client's counters (asserting the call succeeds), the server's
 * counters, and how many reports the recorder has received. */
segops_stats_t stats_of(segops_client_t *client);
devsrv_stats_t server_stats(devsrv_t *srv);
size_t reports_of(recorder_t *rec);

/* Asserts enqueued + recovered == delivered + dropped + pending and dropped == sum of reasons. */
void assert_conservation(segops_client_t *client);

/* The seed of a randomised test: $SEGOPS_TEST_SEED when set (a bad value fails
 * the test), else a fresh one; printed either way, with the line that replays it. */
unsigned test_seed(const char *test);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t now_ms(void);
void sleep_ms(int ms);

#endif
