/* What operators watch, cheap and always on (the stats fields after
 * dropped_expired): requests in flight, the oldest undelivered event's age,
 * and the delivery delay and request round trip as p50/p99 over a recent
 * window. Fixed memory: a window is a ring of bucket numbers and a histogram
 * of them, so recording allocates nothing and a percentile reads ~170 counters.
 *
 * Buckets are about 12% wide (8 per power of two, 1 ms .. 2^20 ms); a
 * percentile reports its bucket's upper edge, so it is never below the true
 * value and at most 12.5% above it. Any thread may call any function. */
#ifndef SEGOPS_METRICS_H
#define SEGOPS_METRICS_H

#include "common.h"

#include "event.h"
#include "fork.h"

/* Window sizes: the last requests (round trips) and the last delivered events
 * (delays; up to a few full requests). */
#define SEGOPS__METRICS_RTT_WINDOW 1024
#define SEGOPS__METRICS_DELAY_WINDOW 4096

typedef struct segops__metrics segops__metrics_t;

segops_err_t segops__metrics_new(segops__metrics_t **out);
void segops__metrics_free(segops__metrics_t *m); /* NULL-safe */

/* A batch POST begins / got its answer (or failed) after rtt_ms. */
void segops__metrics_request_begin(segops__metrics_t *m);
void segops__metrics_request_end(segops__metrics_t *m, int64_t rtt_ms);
/* events[0..n) were delivered at wall-clock now_ms (events read from a spool,
 * segops__event_track_ms 0, have no known track time and are left out). */
void segops__metrics_delivered(segops__metrics_t *m, segops__event_t *const *events, size_t n,
                               int64_t now_ms);

/* Fills requests_in_flight and the four percentiles of out. */
void segops__metrics_snapshot(segops__metrics_t *m, segops_stats_t *out);

/* fork: the child has no requests in flight (its windows stay). A leaf lock. */
segops__fork_hook_t *segops__metrics_fork_hook(segops__metrics_t *m);

#endif
