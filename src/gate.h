/* The gate: every wake-up, flush request and deadline of one client in one
 * place, in the manner of nng's aio (one carrier of deadline and cancel).
 *
 * - Wake-ups: the worker waits on an epoch (an event count). Anything that may
 *   make work due bumps it (a full batch, a flush, a stop, a waiting track, a
 *   deferred report), so a wake-up that arrives between the worker's check and
 *   its wait is never lost.
 * - Flushes: a flush raises drain_upto (queue position) and bumps the flush
 *   generation, which cuts every backoff that began before it.
 * - Stop: the first shutdown sets the stop deadline; every caller waits for the
 *   finish with its own deadline. The worker's wait and every sleep end at
 *   the stop deadline too (segops__deadline_earliest with the caller's own):
 *   expiry is decided here, not by each caller.
 * Deadlines are segops__deadline_t (deadline.h) throughout.
 * Its lock is a leaf: no other lock is taken while it is held. */
#ifndef SEGOPS_GATE_H
#define SEGOPS_GATE_H

#include "common.h"

#include "deadline.h"
#include "fork.h"

typedef struct segops__gate segops__gate_t;

segops_err_t segops__gate_new(segops__gate_t **out);
void segops__gate_free(segops__gate_t *g);
/* prepare/parent/child steps for fork.h (the child gets a fresh gate, keeping
 * whether the client was stopping). */
segops__fork_hook_t *segops__gate_fork_hook(segops__gate_t *g);

/* ---- the worker's wake-ups ---- */
uint64_t segops__gate_epoch(segops__gate_t *g);
/* Bumps the epoch and wakes the worker. */
void segops__gate_kick(segops__gate_t *g);
/* The worker's idle wait: returns at once if the epoch moved past `epoch`,
 * else when it moves (kicked), at `until`, or at the stop deadline. */
void segops__gate_wait(segops__gate_t *g, uint64_t epoch, segops__deadline_t until);

/* ---- flushes ---- */
/* Asks for every queued event before position `upto` to be sent now, and cuts
 * every backoff in progress (those not floored by a server's Retry-After). */
void segops__gate_request_drain(segops__gate_t *g, uint64_t upto);
uint64_t segops__gate_drain_upto(segops__gate_t *g);
/* The flush generation now: a sender reads it before an attempt, so a flush
 * that arrives during the attempt still cuts the backoff after it. */
uint64_t segops__gate_generation(segops__gate_t *g);

/* ---- stop ---- */
/* Begins the stop with `deadline`. True for the first caller, which then
 * drives the shutdown; false when one was already begun. */
bool segops__gate_stop(segops__gate_t *g, segops__deadline_t deadline);
bool segops__gate_stopping(segops__gate_t *g);
/* True once the stop deadline passed (never before a stop). */
bool segops__gate_past_deadline(segops__gate_t *g);
/* The first caller records the shutdown's result; waiters wake. */
void segops__gate_finish(segops__gate_t *g, segops_err_t result);
/* Waits until the shutdown finished (true, *result set to its result) or
 * `deadline` passes (false). */
bool segops__gate_await_finish(segops__gate_t *g, segops__deadline_t deadline,
                               segops_err_t *result);

/* ---- backoff ---- */
/* Sleeps until `until`. Returns false at once when the stop deadline passes
 * first. When flush_cuts is set, a flush or stop after `generation` cuts the
 * sleep short (true). */
bool segops__gate_sleep(segops__gate_t *g, segops__deadline_t until, bool flush_cuts,
                        uint64_t generation);

#endif
