/* Admission: what track() goes through to join the queue, and how the worker
 * takes batches from it. It owns the lanes (lane.h), the queue bounds
 * (max_queue_events, max_queue_bytes: one atomic word, reserved without a
 * lock), the central queue the lanes are collected into, the overflow policy
 * (refuse, evict the oldest, or block) and the protocol by which the worker
 * walks a batch without the lock while evictions may pop the head. Every event
 * that joins or leaves the queue is told to the ledger under the admission lock,
 * so positions there follow queue order. */
#ifndef SEGOPS_ADMISSION_H
#define SEGOPS_ADMISSION_H

#include "common.h"

#include "event.h"
#include "fork.h"
#include "gate.h"
#include "ledger.h"

typedef struct segops__admission segops__admission_t;

/* What the worker needs to decide whether a batch is due. */
typedef struct segops__queue_state {
    size_t count;  /* events queued (lanes collected) */
    size_t bytes;  /* their encoded size in a request body */
    uint64_t head; /* position of the oldest queued event */
    bool blocked;  /* a track call waits for room (SEGOPS_OVERFLOW_BLOCK) */
} segops__queue_state_t;

segops_err_t segops__admission_new(const segops_options_t *cfg, segops__ledger_t *ledger,
                                   segops__gate_t *gate, segops__admission_t **out);
/* Releases every queued event. No other call may run. NULL-safe. */
void segops__admission_free(segops__admission_t *adm);
/* fork: the child forgets the parent's queued events; lanes stay closed until
 * the child's worker runs. */
segops__fork_hook_t *segops__admission_fork_hook(segops__admission_t *adm);

/* track's fast path: appends the planned event to this thread's lane under that
 * lane's lock only. False when the lanes are closed, the queue is full or memory
 * ran out: then call segops__admission_track. */
bool segops__admission_try_lane(segops__admission_t *adm, const segops__event_plan_t *plan);
/* The slow path, under the admission lock, where the overflow policy applies:
 * SEGOPS_OK, SEGOPS_E_QUEUE_FULL, SEGOPS_E_STATE (closed) or SEGOPS_E_NOMEM.
 * A call that fails has no effect (memory is taken before anything is evicted).
 * On the worker thread or inside a callback, BLOCK refuses at once: only the
 * worker frees room. */
segops_err_t segops__admission_track(segops__admission_t *adm, const segops__event_plan_t *plan);

/* Opens the lanes to the fast path (the worker runs). */
void segops__admission_open(segops__admission_t *adm);
/* Refuses every later track (SEGOPS_E_STATE), collects the lanes and wakes
 * blocked track calls. */
void segops__admission_close(segops__admission_t *adm);
bool segops__admission_closed(segops__admission_t *adm);

/* Collects the lanes; returns the position after the newest queued event. */
uint64_t segops__admission_collect(segops__admission_t *adm);
void segops__admission_state(segops__admission_t *adm, segops__queue_state_t *out);

/* Takes up to max_events (within max_bytes, at least one event) from the head
 * into batch and returns how many; *bytes receives their encoded size. The
 * ledger counts them in flight. 0 when the queue is empty. */
size_t segops__admission_take(segops__admission_t *adm, segops__event_t **batch, size_t max_events,
                              size_t max_bytes, size_t *bytes);
/* Drops every queued event as `how` describes (count filled in): reported, then
 * counted. Returns how many. */
size_t segops__admission_drop_all(segops__admission_t *adm, const segops__drop_t *how);

#endif
