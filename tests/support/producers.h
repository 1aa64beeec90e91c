/* Threads that track at once. Each call's result is counted, never asserted,
 * on the producer thread: cmocka's assertions belong on the main thread, which
 * checks the returned counts. */
#ifndef SEGOPS_TEST_PRODUCERS_H
#define SEGOPS_TEST_PRODUCERS_H

#include "testutil.h"

#define PRODUCERS_MAX 16

typedef struct producer_counts {
    uint64_t ok, queue_full, other; /* other: any result but SEGOPS_OK and QUEUE_FULL */
    segops_err_t first_other;       /* SEGOPS_OK when other is 0 */
} producer_counts_t;

/* Runs `threads` (at most PRODUCERS_MAX) threads, each tracking per_thread
 * events of user "u", type "e", payload {"t":thread,"i":i} as fast as it can;
 * joins them and returns the sums. */
producer_counts_t run_producers(segops_client_t *client, int threads, int per_thread);

#endif
