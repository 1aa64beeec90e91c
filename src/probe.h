/* The failure probe: while requests fail (network error, 5xx, 429), one
 * request at a time tries the server for every sender of the client, after the
 * backoff its failure asked for. So n requests in flight never hit a failing
 * server harder than one request at a time would (no retry storm); the first
 * answer that is not a failure lets every sender go again.
 *
 * Pure state over a monotonic clock the caller passes in; its short lock is a
 * leaf. Synchronous sends (batch = false) use none. */
#ifndef SEGOPS_PROBE_H
#define SEGOPS_PROBE_H

#include "common.h"

#include "fork.h"

/* How often a sender waiting behind the probe looks whether it answered. */
#define SEGOPS__PROBE_POLL_MS 50

typedef struct segops__probe segops__probe_t;

segops_err_t segops__probe_new(segops__probe_t **out);
void segops__probe_free(segops__probe_t *p); /* NULL-safe */
/* fork: the child forgets the parent's failure and probe. */
segops__fork_hook_t *segops__probe_fork_hook(segops__probe_t *p);

/* Before an attempt: true when it may be made now: no failure is known, or
 * this sender becomes the probe (*probing set: end the attempt with
 * segops__probe_end). False with *retry_at, the time to ask again. */
bool segops__probe_try_begin(segops__probe_t *p, int64_t now_ms, uint64_t flush_generation,
                             bool *probing, int64_t *retry_at);
/* An attempt ended: failed (transient), with the next attempt not before
 * retry_at, or only not before floor_at (<= retry_at) once a flush comes after
 * flush_generation (the gate's, read before the attempt: a flush cuts a
 * backoff down to the floor a 429 or a server's Retry-After set, as the
 * sender's own sleep is cut); or not failed (any other answer). */
void segops__probe_end(segops__probe_t *p, bool probing, bool failed, int64_t retry_at,
                       int64_t floor_at, uint64_t flush_generation);
/* Abandons the probe without an answer (the attempt was never made). */
void segops__probe_abandon(segops__probe_t *p, bool probing);
/* True while the last answer was a failure. */
bool segops__probe_failing(segops__probe_t *p);

#endif
