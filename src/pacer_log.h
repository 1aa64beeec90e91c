/* The pacer's request log: the requests answered within the last minute, in the
 * order of their answers (so answer times never decrease), each with the time it
 * started and whether the server accepted it. Not thread-safe: the pacer owns it
 * and calls it under its lock. */
#ifndef SEGOPS_PACER_LOG_H
#define SEGOPS_PACER_LOG_H

#include "common.h"

typedef struct segops__pacer_entry {
    int64_t answered_ms; /* when its answer (or failure) was noted: never before the server
                            counted it, so the window check may rely on it */
    uint32_t took_ms;    /* answered_ms - start: the start is when the server could count it
                            at the earliest, which is what learning relies on */
    bool accepted;       /* 2xx */
} segops__pacer_entry_t;

typedef struct segops__pacer_log {
    segops__pacer_entry_t *ring;
    size_t cap;     /* slots allocated */
    size_t max_cap; /* growth stops here; then the oldest entry is overwritten */
    size_t head;    /* index of the oldest entry */
    size_t count;
} segops__pacer_log_t;

/* Allocates room for `cap` entries (at least 1; never more than max_cap).
 * SEGOPS_OK or SEGOPS_E_NOMEM (log left empty and safe to free). */
segops_err_t segops__pacer_log_init(segops__pacer_log_t *log, size_t cap, size_t max_cap);
void segops__pacer_log_free(segops__pacer_log_t *log);

/* Appends one answered request. answered_ms must not be before the previous
 * entry's (the pacer clamps it). When the ring is full, the oldest entry is
 * overwritten if it was answered at or before forget_before_ms (nobody asks about
 * it any more); otherwise the ring doubles. If it cannot (max_cap reached or no
 * memory), the oldest entry is overwritten anyway: the log then remembers fewer
 * requests than happened, which only a rate above max_cap per minute can cause. */
void segops__pacer_log_add(segops__pacer_log_t *log, int64_t started_ms, int64_t answered_ms,
                           bool accepted, int64_t forget_before_ms);

/* The answer time of the k-th newest entry (k = 1 is the newest), or INT64_MIN
 * when the log holds fewer than k entries. O(1). */
int64_t segops__pacer_log_nth_newest(const segops__pacer_log_t *log, size_t k);

/* How many accepted requests started after started_after_ms. Walks back from
 * the newest entry while answers are later than that time (a request cannot
 * be answered before it starts), so the cost is the number of recent entries. */
size_t segops__pacer_log_count_accepted(const segops__pacer_log_t *log, int64_t started_after_ms);

#endif
