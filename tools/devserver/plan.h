/* The rate limits the server can enforce on API calls: a plan's N calls per
 * rolling window (past it a 429 whose Retry-After says when a counted call
 * leaves the window), and a burst limiter that refuses every k-th batch POST
 * (429, Retry-After: 1) whatever the rate. State and arithmetic only: the
 * server calls these with its lock held. */
#ifndef DEVSRV_PLAN_H
#define DEVSRV_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEVSRV__PLAN_DEFAULT_WINDOW_MS 60000u

typedef struct devsrv__plan {
    uint32_t limit;        /* counted calls per window; 0 = no plan limit */
    uint32_t window_ms;    /* never 0 */
    bool ignores_mints;    /* session mints neither count nor get refused */
    bool counts_refused;   /* refused calls count too */
    uint32_t refuse_every; /* burst limiter: every k-th batch POST; 0 = off */
    uint64_t batches_seen; /* batch POSTs the burst limiter saw since it was set */
    int64_t *calls;        /* ring: arrival times (monotonic ms) of counted calls, oldest first */
    size_t head, len, cap;
} devsrv__plan_t;

typedef enum devsrv__verdict {
    DEVSRV__ADMITTED = 0,
    DEVSRV__REFUSED_PLAN, /* the window holds `limit` counted calls */
    DEVSRV__REFUSED_BURST /* the k-th batch POST */
} devsrv__verdict_t;

/* Sets the plan (window_ms 0 = 60 s). Calls already counted stay counted. */
void devsrv__plan_set_limit(devsrv__plan_t *p, uint32_t limit, uint32_t window_ms);
/* Sets k (0 = off) and restarts the count: the k-th batch POST from now is refused. */
void devsrv__plan_set_refuse_every(devsrv__plan_t *p, uint32_t k);

/* Decides one API call (a batch POST, or a session mint when `mint`) arriving at
 * now_ms, and counts it when it counts. For a refusal *retry_after_s gets the
 * whole seconds (rounded up) until a call made then would be admitted. */
devsrv__verdict_t devsrv__plan_admit(devsrv__plan_t *p, bool mint, int64_t now_ms,
                                     uint32_t *retry_after_s);

void devsrv__plan_free(devsrv__plan_t *p);

#endif
