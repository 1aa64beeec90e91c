/* The admission module's own state, shared by its three files and included
 * by no other: admission.c (the bounds, the lanes' fast path, the lifecycle),
 * admission_overflow.c (track's slow path: the overflow policy and blocked
 * waits) and admission_take.c (what leaves the queue: the worker's batches,
 * the spool thread's rounds, the shutdown's leftovers). Every field is under
 * `lock` unless it says otherwise; the lock order is stated once, in client.c. */
#ifndef SEGOPS_ADMISSION_STATE_H
#define SEGOPS_ADMISSION_STATE_H

#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

#include "event_pool.h"
#include "fork.h"
#include "gate.h"
#include "lane.h"
#include "ledger.h"
#include "queue.h"

/* admission.h's types, named by tag: including admission.h here would make
 * the include circle admission -> admission_state -> admission. */
typedef struct segops__admission segops__admission_t;
struct segops__admission_store;

/* Events in the lanes and the queue together, and their bytes, packed in one
 * word so track reserves both with one compare-and-swap and no lock: events in
 * the top 24 bits, bytes in the low 40 (max_queue_events <= 10M, max_queue_bytes
 * <= 4 GiB, config.c). */
#define SEGOPS__QUEUED_BYTES_BITS 40

struct segops__admission {
    const segops_options_t *cfg;
    segops__ledger_t *ledger;
    segops__gate_t *gate;
    const struct segops__admission_store *store; /* a spool, or NULL */
    pthread_mutex_t lock;
    /* With a spool: accepted events the spool thread has not taken yet, and
     * the records of evicted events it must acknowledge. */
    segops__queue_t unwritten;
    uint64_t *forgotten;
    size_t nforgotten, forgotten_cap;
    bool spool_refusing;       /* the last write was refused: no events past the bound */
    size_t over_bound_pending; /* accepted past the memory bound, not written yet */
    pthread_cond_t room;       /* the worker took events, or admission closed */
    segops__queue_t queue;     /* what the worker takes from; the lanes join it */
    segops__event_pool_t pool; /* memory of events queued on the slow path */
    bool open;                 /* the lanes take track's fast path */
    bool closed;               /* shutdown began: track refuses */
    size_t blocked;            /* track calls waiting for room (BLOCK) */
    bool walking;              /* the worker reads queued events without the lock ... */
    uint64_t walk_end;         /* ... up to this position: evicting one of those leaves
                                  its memory for the worker to release after its walk */
    segops__fork_hook_t fork_hook;
    char pad[64]; /* keeps the hot atomics off the lock's cache line */
    _Atomic uint64_t queued;
    _Atomic size_t unwritten_count; /* lanes and unwritten and the spool thread's batch */
    segops__lane_t lanes[SEGOPS__LANES];
};

/* ---- admission.c, for the other two files ---- */
/* The `queued` word of `events` events and `bytes` bytes. */
uint64_t segops__admission_pack(size_t events, size_t bytes);
/* Reserves room for one event of len bytes: the events queued with it, or 0
 * when it does not fit (nothing reserved). No lock needed. */
size_t segops__admission_reserve(segops__admission_t *adm, size_t len);
void segops__admission_unreserve(segops__admission_t *adm, size_t n, size_t bytes);
/* With a spool: counts one more unwritten event if the bound allows (false:
 * wait on the slow path); *wake: time to wake the spool thread. */
bool segops__admission_reserve_unwritten(segops__admission_t *adm, bool *wake);
/* Lock held: fresh events join the queue (with a spool, unwritten first). */
void segops__admission_admit(segops__admission_t *adm, segops__queue_t *fresh);
/* Lock held: the lanes' events are admitted. */
void segops__admission_collect_locked(segops__admission_t *adm);
/* Kicks the worker when `queued` events changes what it waits for. */
void segops__admission_wake_if_due(segops__admission_t *adm, size_t queued);

#endif
