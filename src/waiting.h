/* Since when the events a worker has not taken yet may have waited, as the
 * worker sees them: a partial request is wanted once they have waited the
 * pacing interval. Pure bookkeeping over the caller's monotonic clock; not
 * thread-safe (one worker owns one). */
#ifndef SEGOPS_WAITING_H
#define SEGOPS_WAITING_H

#include "common.h"

#include "deadline.h"

typedef struct segops__waiting {
    bool any;      /* some events wait (zero-initialised: none) */
    int64_t since; /* since when, at the earliest they may have arrived */
} segops__waiting_t;

/* The worker looked at now_ms and saw `queued` events not yet taken. */
void segops__waiting_seen(segops__waiting_t *w, int64_t now_ms, size_t queued);

/* The worker took a batch at now_ms, its request starting then: whatever it
 * left, and whatever arrives until it next looks (after the request, however
 * long that takes), has waited since then at most. So the pacing interval of
 * the next partial request counts from this request's start, not its end. */
void segops__waiting_took(segops__waiting_t *w, int64_t now_ms);

/* When the oldest of them will have waited max_wait_ms; none when none wait. */
segops__deadline_t segops__waiting_due(const segops__waiting_t *w, int64_t max_wait_ms);

#endif
