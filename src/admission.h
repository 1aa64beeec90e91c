/* Admission: what track() goes through to join the queue, and how the worker
 * takes batches from it. It owns the lanes (lane.h), the queue bounds
 * (max_queue_events, max_queue_bytes: one atomic word, reserved without a
 * lock), the central queue the lanes are collected into, the overflow policy
 * (refuse, evict the oldest, or block) and the protocol by which the worker
 * walks a batch without the lock while evictions may pop the head. Every event
 * that joins or leaves the queue is told to the ledger under the admission lock,
 * so positions there follow queue order; every change of an event's residence
 * goes through residence.h. Its files: admission.c (bounds, fast path,
 * lifecycle), admission_overflow.c (the slow path), admission_take.c (what
 * leaves the queue); their shared state is admission_state.h. */
#ifndef SEGOPS_ADMISSION_H
#define SEGOPS_ADMISSION_H

#include "common.h"

#include "event.h"
#include "fork.h"
#include "gate.h"
#include "ledger.h"
#include "queue.h"

typedef struct segops__admission segops__admission_t;

/* What the worker needs to decide whether a batch is due. */
typedef struct segops__queue_state {
    size_t count;     /* events queued (lanes collected) */
    size_t bytes;     /* their encoded size in a request body */
    uint64_t head;    /* position of the oldest queued event */
    bool blocked;     /* a track call waits for room (SEGOPS_OVERFLOW_BLOCK) */
    size_t unwritten; /* with a spool: accepted, not yet offered to the worker */
} segops__queue_state_t;

/* What a spool adds to admission (spooler.h registers it; none: memory only).
 * With a spool, accepted events wait in `unwritten` until the spool thread has
 * written them (segops__admission_unwritten, then _written); only then does
 * the worker see them. Nothing here does file I/O or logging: the spool thread
 * does, holding no admission lock. */
typedef struct segops__admission_store {
    /* Wakes the spool thread early: many events wait to be written. Called
     * with no lock held. */
    void (*wake)(void *arg);
    void *arg;
} segops__admission_store_t;

/* With a spool, at most this many accepted events are not yet in the spool
 * files at any moment: past it, track waits for the spool thread (up to
 * block_timeout_ms, whatever the overflow policy), then refuses with
 * SEGOPS_E_QUEUE_FULL. This bounds the crash window by work, not by time. */
#define SEGOPS__SPOOL_MAX_UNWRITTEN 4096

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
 * worker frees room. With a spool, a full memory queue is no reason to refuse
 * while the spool takes writes: the event waits for the spool thread, which
 * keeps it on disk only. No file I/O, no logging, no callback. */
segops_err_t segops__admission_track(segops__admission_t *adm, const segops__event_plan_t *plan);

/* Registers the spool (store must outlive admission). Before any track. */
void segops__admission_set_store(segops__admission_t *adm, const segops__admission_store_t *store);

/* Opens the lanes to the fast path (the worker runs). */
void segops__admission_open(segops__admission_t *adm);
/* Refuses every later track (SEGOPS_E_STATE), collects the lanes and wakes
 * blocked track calls. */
void segops__admission_close(segops__admission_t *adm);
bool segops__admission_closed(segops__admission_t *adm);

/* Collects the lanes (with a spool, into unwritten); returns the position
 * after the newest event in the queue. */
uint64_t segops__admission_collect(segops__admission_t *adm);
void segops__admission_state(segops__admission_t *adm, segops__queue_state_t *out);

/* Takes up to max_events (within max_bytes, at least one event) from the head
 * into batch and returns how many; *bytes receives their encoded size and
 * *first the ledger position of the first (see segops__ledger_settle_at). The
 * ledger counts them in flight. 0 when the queue is empty. Only one thread
 * takes at a time (the walk). */
size_t segops__admission_take_at(segops__admission_t *adm, segops__event_t **batch,
                                 size_t max_events, size_t max_bytes, size_t *bytes,
                                 uint64_t *first);
/* The oldest track time (segops__event_track_ms) of the queue's head and of
 * the first event waiting for the spool thread (collected lanes), 0 when empty. */
int64_t segops__admission_oldest_tracked_ms(segops__admission_t *adm);
/* At the shutdown deadline, once the worker and the spool thread stopped:
 * every event left is parked if it has a spool record (pending, on disk for
 * the next client) and otherwise dropped as `how` describes (reported, then
 * counted). Returns how many were dropped. */
size_t segops__admission_drop_all(segops__admission_t *adm, const segops__drop_t *how);

/* ---- the spool thread's side ---- */
/* Collects the lanes and moves every event waiting to be written into *out
 * (initialised here), oldest first; the spool thread owns them until it hands
 * them back. Also moves up to max records of evicted events into forgotten
 * (their acknowledgements are due) and returns how many. */
size_t segops__admission_unwritten(segops__admission_t *adm, segops__queue_t *out,
                                   uint64_t *forgotten, size_t max);
/* Hands back what segops__admission_unwritten gave, each event now SPOOLED or
 * MEMORY (it joins the queue, in order) or ON_DISK (released: the worker reads
 * its record back). refusing: the spool refused some (full or failing), so
 * events past the memory bound are refused by the overflow policy instead of
 * waiting for it. */
void segops__admission_written(segops__admission_t *adm, segops__queue_t *batch, bool refusing);

#endif
