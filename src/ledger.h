/* The ledger: every counter of a client and where each accepted event is
 * (queued, in a worker batch, detached from the queue, or in a synchronous
 * send), so that at every snapshot enqueued == delivered + dropped + pending.
 *
 * Accepted (batch mode) events get queue positions in the order they join the
 * queue; they leave it in that order, either in the worker's batch (take) or
 * detached by an eviction or the shutdown deadline (detach). A flush waits for
 * every position before its target to settle.
 *
 * settle() is the one place where events end: it reports a drop through
 * on_error first and counts it after, so whoever waits for those events also
 * sees their report. A report raised on a thread that is already inside a
 * segops callback is deferred (kept pending) and delivered later by the worker
 * or shutdown: a callback that tracks can never nest reports without bound.
 *
 * Locks: see the lock order in client.c; the ledger takes no other lock while
 * it holds its own. */
#ifndef SEGOPS_LEDGER_H
#define SEGOPS_LEDGER_H

#include "common.h"

#include "config.h"
#include "deadline.h"
#include "fork.h"

typedef struct segops__ledger segops__ledger_t;

/* Where the events being settled were. */
typedef enum segops__held_by {
    SEGOPS__HELD_BY_BATCH,    /* the worker's in-flight batch: drops are reported */
    SEGOPS__HELD_BY_DETACHED, /* evicted or left at the deadline: drops are reported */
    SEGOPS__HELD_BY_SYNC,     /* a synchronous send: the caller gets the outcome, no report */
    SEGOPS__HELD_BY_DISK,     /* only in the spool (spilled, or picked up from earlier runs) */
    SEGOPS__HELD_BY_QUEUE     /* still queued (park only: they leave the queue in order) */
} segops__held_by_t;

/* One group of dropped events. */
typedef struct segops__drop {
    size_t count;
    segops_err_t code;
    int http_status;
    segops_drop_reason_t reason;
    char message[SEGOPS__DETAIL_LEN];
} segops__drop_t;

segops_err_t segops__ledger_new(const segops_options_t *cfg, segops__ledger_t **out);
void segops__ledger_free(segops__ledger_t *l);
/* fork: the child starts with zero counters and nothing pending. */
segops__fork_hook_t *segops__ledger_fork_hook(segops__ledger_t *l);

/* ---- events entering ---- */
/* n events of `bytes` joined the queue (their positions follow the last ones). */
void segops__ledger_accept(segops__ledger_t *l, size_t n, size_t bytes);
/* One event of `bytes` begins a synchronous send. */
void segops__ledger_accept_sync(segops__ledger_t *l, size_t bytes);
/* With a spool: n events of `bytes` accepted and waiting for the spool thread
 * to write them, without queue positions yet. */
void segops__ledger_accept_unwritten(segops__ledger_t *l, size_t n, size_t bytes);
/* The spool thread wrote (or failed to write) unwritten events: to_queue of
 * them joined the queue (their positions follow the last ones), to_disk live
 * in the spool only (pending without positions, read back later). */
void segops__ledger_written(segops__ledger_t *l, size_t to_queue, size_t to_disk);
/* n events found in spool files that earlier clients left: recovered, pending. */
void segops__ledger_recover(segops__ledger_t *l, size_t n, size_t bytes);
/* A refused call, counted by its code (rejected_* counters). Returns err. */
segops_err_t segops__ledger_reject(segops__ledger_t *l, segops_err_t err);

/* ---- events leaving the queue (admission lock held, in queue order) ---- */
/* n events leave the queue in one request (at most SEGOPS__MAX_IN_FLIGHT + 1 at a
 * time): returns the position of the first, which the sender passes to
 * settle_at/park_at, since requests in flight settle in any order. */
uint64_t segops__ledger_take(segops__ledger_t *l, size_t n, size_t bytes);
void segops__ledger_detach(segops__ledger_t *l, size_t n);
/* The position after the last accepted event: the target of a flush. */
uint64_t segops__ledger_accepted(segops__ledger_t *l);

/* ---- events ending ---- */
/* Settles `delivered` events plus drop->count (drop may be NULL), `bytes` of
 * encoded events in all: reports the drop (unless held by a synchronous send,
 * or deferred, see above), then counts them and wakes waiters. Returns true
 * when the report was deferred: the caller then wakes the worker. */
bool segops__ledger_settle(segops__ledger_t *l, segops__held_by_t held_by, size_t delivered,
                           const segops__drop_t *drop, size_t bytes);
/* settle for the events of a request from position pos (what take returned,
 * advanced by what was settled before: a request's events settle in order).
 * pos is ignored unless held_by is SEGOPS__HELD_BY_BATCH; SEGOPS__LEDGER_ANY_POS
 * settles the oldest request's. */
#define SEGOPS__LEDGER_ANY_POS UINT64_MAX
bool segops__ledger_settle_at(segops__ledger_t *l, segops__held_by_t held_by, uint64_t pos,
                              size_t delivered, const segops__drop_t *drop, size_t bytes);
/* With a spool, at the stop: n events held as `held_by` stay pending, on disk
 * for the next client; nothing waits for them any more. */
void segops__ledger_park(segops__ledger_t *l, segops__held_by_t held_by, size_t n);
void segops__ledger_park_at(segops__ledger_t *l, segops__held_by_t held_by, uint64_t pos, size_t n);
/* Events left for the next client (parked, or only on disk). */
uint64_t segops__ledger_left_in_spool(segops__ledger_t *l);

/* Delivers the deferred reports, then counts them. Call with no lock held, not
 * from inside a callback (the worker's loop, shutdown). */
void segops__ledger_report_deferred(segops__ledger_t *l);

/* ---- waiting ---- */
/* Until every event before position `target` is settled or `deadline`
 * passes: SEGOPS_OK or SEGOPS_E_TIMEOUT. */
segops_err_t segops__ledger_wait_settled(segops__ledger_t *l, uint64_t target,
                                         segops__deadline_t deadline);
/* Until no synchronous send and no detached event is left (reporting deferred
 * ones itself). For shutdown, after the worker stopped. */
void segops__ledger_wait_quiet(segops__ledger_t *l);

/* ---- counters ---- */
/* Counts one batch POST attempt and the connections it opened. */
void segops__ledger_note_request(segops__ledger_t *l, size_t body_bytes, bool is_retry,
                                 long new_connections);
/* A consistent snapshot of every counter (token_mints is the caller's). */
void segops__ledger_snapshot(segops__ledger_t *l, segops_stats_t *out);
/* Events dropped at the shutdown deadline so far. */
uint64_t segops__ledger_dropped_shutdown(segops__ledger_t *l);

#endif
