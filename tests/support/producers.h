/* Threads that track at once. Each call's result is counted, never asserted,
 * on the producer thread: cmocka's assertions belong on the main thread, which
 * checks the returned counts. */
#ifndef SEGOPS_TEST_PRODUCERS_H
#define SEGOPS_TEST_PRODUCERS_H

#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>

#define PRODUCERS_MAX 16

typedef struct producer_counts {
    uint64_t ok, queue_full, other; /* other: any result but SEGOPS_OK and QUEUE_FULL */
    segops_err_t first_other;       /* SEGOPS_OK when other is 0 */
} producer_counts_t;

/* One tracking thread: payload {"t":id,"i":n} for n = 0, 1, ... as user and
 * event_type, until `calls` calls were made (0: no limit) or *stop is set (NULL:
 * never), pausing 1 ms after every pause_every-th success (0: never) to leave
 * the worker room. Set the fields above `counts`, then tracking_start. */
typedef struct tracking_thread {
    segops_client_t *client;
    const char *user, *event_type;
    int id;
    uint64_t calls;
    uint64_t pause_every;
    atomic_bool *stop;
    producer_counts_t counts; /* after tracking_join */
    pthread_t thread;
} tracking_thread_t;

/* Starts the thread (asserting it was created); tracking_join waits for it and
 * returns its counts. */
void tracking_start(tracking_thread_t *t);
producer_counts_t tracking_join(tracking_thread_t *t);

/* Runs `threads` (at most PRODUCERS_MAX) threads, each tracking per_thread
 * events of user "u", type "e", payload {"t":thread,"i":i} as fast as it can;
 * joins them and returns the sums. */
producer_counts_t run_producers(segops_client_t *client, int threads, int per_thread);

/* One track call on a thread of its own (a batch=false client blocks in it):
 * user "u", event_type, payload {"i":index}; the thread records the result and
 * how long the call took. Start it with sync_track_run (bounded_thread.h). */
typedef struct sync_track_job {
    segops_client_t *client;
    const char *event_type;
    int index;
    segops_err_t result; /* set SEGOPS_E_INTERNAL before: a job that never ran says so */
    int64_t took_ms;
} sync_track_job_t;

void *sync_track_run(void *arg);

#endif
