/* Request pacing: when the next request (a batch POST or a pk_ session mint) may
 * start, so that a client stays within its SegOps plan's API calls per minute and
 * makes every call count.
 *
 * Pure logic over a monotonic clock the caller passes in (now_ms, e.g.
 * segops__clock_monotonic_ms()); nothing here sleeps or does I/O. Every function
 * takes the pacer's own short lock, so any thread may call any of them.
 *
 * The rules, in the order they bind:
 * - A server's wait: after a 429 no request starts before its Retry-After has
 *   passed (except a monthly quota, which is not a rate; see on_429).
 * - The limit: the lower of max_requests_per_minute and the rate learned from the
 *   server's 429s. Never more than that many requests in any rolling 60 s, checked
 *   exactly against a log of the requests of the last minute (a request counts
 *   from its start until 60 s after its answer, so whatever moment the server
 *   counted it at, two requests it counts at most 60 s apart are both in the log).
 *   Requests are also spread at least 60 s / limit apart, so the minute's budget
 *   is not spent in its first seconds while the rest waits; flush and shutdown
 *   sends (urgent) skip the spreading but never the limit.
 * - Partial requests (fewer than 500 events / max_request_bytes) start at most
 *   once per partial interval (default 1,050 ms) after the previous request starts; full
 *   and urgent ones go at once. So a stream fills requests instead of multiplying
 *   them: below 476 events/s a client makes about 57 requests a minute (at most
 *   58 in any 60 s, plus flushes), above it only full ones (1,000 events/s: 120).
 *
 * How a caller uses it:
 *   when a full request of new events waits: note_backlog(p, now);
 *   while (!segops__pacer_try_begin(p, now, full, urgent, &at)) sleep until at
 *       (or until the batch fills up or a flush comes, then ask again);
 *   make the request;
 *   2xx -> note_done(p, started, now, true); 429 -> on_429(...); anything else
 *   (network error, 5xx, 4xx) -> note_done(p, started, now, false).
 * Every begun request must be ended exactly once (note_done or on_429). */
#ifndef SEGOPS_PACER_H
#define SEGOPS_PACER_H

#include "common.h"

#include "config.h"
#include "fork.h"

/* Length of the rolling window SegOps plans count API calls in. */
#define SEGOPS__PACER_WINDOW_MS 60000
/* Default gap between a request and a partial one after it. 1,000 ms would allow
 * 61 requests whose starts span exactly 60 s (a closed window counts them all) and
 * leaves nothing for latency jitter; 1,050 ms makes it 57 a minute, so 61 requests
 * span 63 s, and delays an event at low traffic by at most 1.05 s. */
#define SEGOPS__PACER_PARTIAL_INTERVAL_MS 1050
/* A Retry-After up to this is a burst limiter: wait, keep the pace. */
#define SEGOPS__PACER_BURST_MAX_MS 3000
/* A Retry-After above this is a quota (hours, days), not a per-minute window:
 * a per-minute window never asks for more than 60 s; the second minute absorbs
 * rounding and the clock skew of an HTTP-date Retry-After. */
#define SEGOPS__PACER_WINDOW_MAX_MS 120000
/* A learned rate is raised by 10% (at least 1) after this long without a 429. */
#define SEGOPS__PACER_PROBE_QUIET_MS 120000
/* A momentary bound (a 429 that did not measure the plan, see on_429) doubles
 * after each stretch this long in which it held a backlog back and the server
 * accepted requests and refused none. */
#define SEGOPS__PACER_PROBE_FAST_MS 10000
/* A raise that brought a 429 doubles the quiet stretch before the next one, up to
 * this; a raise that held for a whole stretch halves it again. */
#define SEGOPS__PACER_PROBE_QUIET_MAX_MS 960000
/* Consecutive 429s without Retry-After after which the limit is taken to be a full
 * per-minute window (a burst limiter lets the retry through; a full window keeps
 * refusing) and a rate is learned from the last minute. */
#define SEGOPS__PACER_UNKNOWN_LEARN_STREAK 3

typedef struct segops__pacer segops__pacer_t;

typedef struct segops__pacer_config {
    uint32_t max_per_minute;      /* hard limit; 0 = none (max SEGOPS__MAX_REQUESTS_PER_MINUTE) */
    uint32_t partial_interval_ms; /* 0 = partial requests are not held back */
    uint32_t backoff_base_ms;     /* 429 without Retry-After: first wait ... */
    uint32_t backoff_cap_ms;      /* ... doubling up to this (with equal jitter) */
    uint32_t retry_after_max_ms;  /* longest Retry-After waited for */
    uint64_t seed;                /* jitter seed; any value */
} segops__pacer_config_t;

/* The configuration a client's options ask for: the hard limit, the backoff and
 * Retry-After cap, and a partial interval of min(1,050 ms, flush_interval_ms), so
 * an application that asked for a shorter flush interval still gets it. */
void segops__pacer_config_from_options(const segops_options_t *opts, uint64_t seed,
                                       segops__pacer_config_t *out);

/* Creates a pacer (copies cfg). SEGOPS_OK, SEGOPS_E_INVALID_ARG (NULL, or a hard
 * limit above the maximum) or SEGOPS_E_NOMEM (*out NULL). With a hard limit n the
 * log for n requests is allocated here, so the limit never depends on a later
 * allocation. */
segops_err_t segops__pacer_new(const segops__pacer_config_t *cfg, segops__pacer_t **out);
void segops__pacer_free(segops__pacer_t *p); /* NULL-safe */

/* The earliest time (>= now_ms) at which a request of this kind may start; now_ms
 * when it may start now. full: the request carries 500 events or max_request_bytes
 * (also pass true for a mint and for resending a batch already formed). urgent: a
 * flush or shutdown is waiting for it (skips the partial interval and the
 * spreading, never a server's wait or the limit). Notes nothing: with several
 * senders use try_begin, which checks and counts in one step. */
int64_t segops__pacer_next_slot(segops__pacer_t *p, int64_t now_ms, bool full, bool urgent);

/* next_slot and, when the request may start now, note_request, atomically.
 * Returns true (the request is begun: end it with note_done or on_429) or false
 * with *retry_at set to the time to ask again (retry_at may be NULL). */
bool segops__pacer_try_begin(segops__pacer_t *p, int64_t now_ms, bool full, bool urgent,
                             int64_t *retry_at);

/* Counts a request as started now, whatever next_slot says (for a request that
 * cannot wait; it still counts against the limit). End it with note_done/on_429. */
void segops__pacer_note_request(segops__pacer_t *p, int64_t now_ms);

/* Says the traffic has a full request (500 events or max_request_bytes) of new
 * events waiting at now_ms: it uses whatever the limit allows. Call it whenever
 * that is seen (a batch resent after a failure is not new traffic). A 429 counts
 * as a measure of the plan only after a backlog (see on_429), and a momentary
 * bound that holds one back is raised fast. */
void segops__pacer_note_backlog(segops__pacer_t *p, int64_t now_ms);

/* Ends a begun request: its answer arrived (or it failed) at now_ms. started_ms is
 * the now_ms it was begun with. accepted: a 2xx answer (what the server allowed;
 * ends a run of 429s). Use on_429 instead for a 429. */
void segops__pacer_note_done(segops__pacer_t *p, int64_t started_ms, int64_t now_ms, bool accepted);

/* What a 429's Retry-After says about the limit behind it. */
typedef enum segops__limit_kind {
    SEGOPS__LIMIT_BURST = 0, /* Retry-After <= 3 s: wait it out; the pace stays */
    SEGOPS__LIMIT_WINDOW,    /* 3 s < Retry-After <= 120 s: a per-minute window is full */
    SEGOPS__LIMIT_QUOTA,     /* Retry-After > 120 s: a quota, not a rate; pace unchanged */
    SEGOPS__LIMIT_UNKNOWN    /* no Retry-After: back off exponentially */
} segops__limit_kind_t;

typedef struct segops__pacer_429 {
    segops__limit_kind_t kind;
    uint32_t wait_ms;    /* wait this long before resending this request (capped at
                            retry_after_max_ms; next_slot waits as long, except for
                            a quota, which leaves other requests alone) */
    uint32_t streak;     /* consecutive 429s, this one included */
    bool pace_changed;   /* the limit differs from the one last reported (by on_429 or
                            take_change): log one INFO line, e.g. "pacing to %u
                            requests/min after a 429 (Retry-After %u s)" */
    uint32_t per_minute; /* the limit now (0 = none), for that line and the stats */
} segops__pacer_429_t;

/* Ends a begun request that the server refused with 429 at now_ms.
 * retry_after_ms: the server's Retry-After in ms, parsed WITHOUT the
 * retry_after_max_ms cap (a capped quota would look like a window), or -1 when
 * absent or unparsable.
 * - BURST: wait; nothing learned (a server refusing one request in five with
 *   Retry-After: 1 costs those waits and nothing else).
 * - WINDOW (the first 429 of a run): the server's window holds its limit and its
 *   oldest request leaves it in Retry-After, so all it counts lie within the last
 *   60 s - Retry-After; the accepted requests that started in that span (a lower
 *   bound of the server's count) become the limit, kept until a quiet stretch
 *   lets it probe upward (+10% per SEGOPS__PACER_PROBE_QUIET_MS without a 429;
 *   the learned limit disappears once it passes the maximum). That count
 *   measures the plan only when a backlog waited in the span (note_backlog):
 *   otherwise it measures the client's own little traffic, and the limit is a
 *   momentary bound: the client's rate over the part of the span it has been
 *   running, doubled every SEGOPS__PACER_PROBE_FAST_MS while it holds a backlog
 *   back and the server accepts. A second lesson, or a refused raise, makes it
 *   a measured one.
 * - QUOTA: capped wait for this request only, nothing learned (the caller keeps
 *   its budget rule: RETRIES_EXHAUSTED when the wait does not fit).
 * - UNKNOWN: exponential backoff by streak (backoff_base_ms doubling to
 *   backoff_cap_ms, equal jitter); the third consecutive one learns the accepted
 *   requests of the last 60 s as the limit (measured or momentary, as above).
 * A 429 other than a quota that teaches nothing still undoes the raises made
 * since the last lesson, and doubles the stretch before the next raise (up to
 * SEGOPS__PACER_PROBE_QUIET_MAX_MS): against a small limit a 10% raise overshoots
 * so little that the Retry-After is short. It never goes below the lesson, so a
 * burst limiter cannot ratchet the limit down. */
segops__pacer_429_t segops__pacer_on_429(segops__pacer_t *p, int64_t now_ms,
                                         int64_t retry_after_ms);

/* True once after the limit changed since the last on_429 or take_change (a probe
 * raised it, or it disappeared), with *per_minute set to it (0 = none): log one
 * INFO line. per_minute may be NULL. */
bool segops__pacer_take_change(segops__pacer_t *p, int64_t now_ms, uint32_t *per_minute);

/* The limit the pacer applies now (stats pace_per_minute): the lower of the hard
 * and the learned one, 0 = none. */
uint32_t segops__pacer_current_per_minute(segops__pacer_t *p, int64_t now_ms);
/* 429s received (stats rate_limited). */
uint64_t segops__pacer_rate_limited(segops__pacer_t *p);

/* fork(): prepare takes the lock, parent releases it; child (the only thread in
 * the new process, holding the lock) forgets the parent's requests in flight
 * (counted as answered now: they still count against the shared plan) and its
 * 429 count, keeps the log, the learned limit and any server wait, and releases
 * the lock. */
void segops__pacer_fork_prepare(segops__pacer_t *p);
void segops__pacer_fork_parent(segops__pacer_t *p);
void segops__pacer_fork_child(segops__pacer_t *p, int64_t now_ms);
/* The three steps above as a fork.h hook (the pacer's lock is a leaf). */
segops__fork_hook_t *segops__pacer_fork_hook(segops__pacer_t *p);

#endif
