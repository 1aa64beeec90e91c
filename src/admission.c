/* The queue bounds, lanes, overflow policy and batch walk (see admission.h). */
#include "admission.h"

#include <pthread.h>
#include <stdatomic.h>

#include "clock.h"
#include "event_pool.h"
#include "lane.h"
#include "log.h"
#include "queue.h"

/* Events in the lanes and the queue together, and their bytes, packed in one
 * word so track reserves both with one compare-and-swap and no lock: events in
 * the top 24 bits, bytes in the low 40 (max_queue_events <= 10M, max_queue_bytes
 * <= 4 GiB, config.c). */
#define QUEUED_BYTES_BITS 40

struct segops__admission {
    const segops_options_t *cfg;
    segops__ledger_t *ledger;
    segops__gate_t *gate;
    const segops__admission_store_t *store; /* a spool, or NULL */
    pthread_mutex_t lock;
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
    char pad[64]; /* keeps the hot atomic off the lock's cache line */
    _Atomic uint64_t queued;
    segops__lane_t lanes[SEGOPS__LANES];
};

static uint64_t queued_pack(size_t events, size_t bytes) {
    return (uint64_t)events << QUEUED_BYTES_BITS | (uint64_t)bytes;
}

/* Reserves room for one event of len bytes; returns the events queued with it,
 * or 0 when it does not fit (nothing reserved). Checked before it is added, so
 * a refusal never inflates the count other threads test. */
static size_t reserve(segops__admission_t *adm, size_t len) {
    uint64_t now = atomic_load_explicit(&adm->queued, memory_order_relaxed);
    for (;;) {
        uint64_t after = now + queued_pack(1, len);
        uint64_t events = after >> QUEUED_BYTES_BITS;
        uint64_t bytes = after & ((UINT64_C(1) << QUEUED_BYTES_BITS) - 1);
        if (events > adm->cfg->max_queue_events || bytes > adm->cfg->max_queue_bytes) return 0;
        if (atomic_compare_exchange_weak_explicit(&adm->queued, &now, after, memory_order_relaxed,
                                                  memory_order_relaxed))
            return (size_t)events;
    }
}

static void unreserve(segops__admission_t *adm, size_t n, size_t bytes) {
    atomic_fetch_sub_explicit(&adm->queued, queued_pack(n, bytes), memory_order_relaxed);
}

/* Events join the queue (the lanes' when collected, or one from the slow path)
 * and the ledger accepts them. With a spool they are written to it first, and
 * those it keeps only on disk leave memory at once. Lock held. */
static void admit(segops__admission_t *adm, segops__queue_t *fresh) {
    if (!fresh->count) return;
    size_t on_disk =
        adm->store ? adm->store->persist(adm->store->arg, fresh->head, fresh->count) : 0;
    if (on_disk) { /* the oldest on_disk live on disk only: the worker reads them back */
        size_t bytes = 0;
        for (size_t i = 0; i < on_disk; i++) {
            segops__event_t *event = segops__queue_pop(fresh);
            bytes += event->len;
            segops__event_release(&event, 1);
        }
        unreserve(adm, on_disk, bytes);
        segops__ledger_accept_to_disk(adm->ledger, on_disk, bytes);
        segops__gate_kick(adm->gate, false);
    }
    size_t n = fresh->count, bytes = fresh->bytes;
    segops__queue_splice(&adm->queue, fresh);
    segops__ledger_accept(adm->ledger, n, bytes);
}

static void collect(segops__admission_t *adm) {
    segops__queue_t fresh;
    segops__queue_init(&fresh);
    size_t bytes = 0;
    segops__lanes_collect(adm->lanes, &fresh, &bytes);
    admit(adm, &fresh);
}

/* ---- fork ---- */

static void fork_prepare(void *arg) {
    segops__admission_t *adm = arg;
    pthread_mutex_lock(&adm->lock);
    segops__lanes_lock_all(adm->lanes);
}

static void fork_parent(void *arg) {
    segops__admission_t *adm = arg;
    segops__lanes_unlock_all(adm->lanes);
    pthread_mutex_unlock(&adm->lock);
}

static void fork_child(void *arg) {
    segops__admission_t *adm = arg;
    /* The parent's queued events are the parent's to deliver: forget them here
     * (releasing is safe: prepare held the locks, so the queue is whole). Events
     * in the parent's batch are unreachable here and left alone. The ledger was
     * reset already (hooks run in reverse), so nothing is counted. */
    segops__lanes_unlock_all(adm->lanes);
    size_t bytes = 0;
    segops__lanes_collect(adm->lanes, &adm->queue, &bytes);
    segops__queue_clear(&adm->queue);
    segops__queue_init(&adm->queue);
    atomic_store(&adm->queued, 0);
    segops__lanes_set_open(adm->lanes, false); /* until this child's worker runs */
    adm->open = false;
    adm->blocked = 0;     /* the parent's waiting threads do not exist here */
    adm->walking = false; /* what its walk left to release stays with the parent */
    segops__clock_cond_init(&adm->room);
    pthread_mutex_unlock(&adm->lock);
}

segops_err_t segops__admission_new(const segops_options_t *cfg, segops__ledger_t *ledger,
                                   segops__gate_t *gate, segops__admission_t **out) {
    segops__admission_t *adm = segops__calloc(1, sizeof *adm);
    *out = adm;
    if (!adm) return SEGOPS_E_NOMEM;
    adm->cfg = cfg;
    adm->ledger = ledger;
    adm->gate = gate;
    pthread_mutex_init(&adm->lock, NULL);
    segops__clock_cond_init(&adm->room);
    segops__queue_init(&adm->queue);
    segops__event_pool_init(&adm->pool);
    segops__lanes_init(adm->lanes);
    adm->fork_hook = (segops__fork_hook_t){fork_prepare, fork_parent, fork_child, adm, NULL, NULL};
    return SEGOPS_OK;
}

void segops__admission_free(segops__admission_t *adm) {
    if (!adm) return;
    segops__queue_clear(&adm->queue);
    segops__lanes_destroy(adm->lanes);
    segops__event_pool_destroy(&adm->pool);
    pthread_cond_destroy(&adm->room);
    pthread_mutex_destroy(&adm->lock);
    segops__free(adm);
}

segops__fork_hook_t *segops__admission_fork_hook(segops__admission_t *adm) {
    return &adm->fork_hook;
}

void segops__admission_set_store(segops__admission_t *adm, const segops__admission_store_t *store) {
    adm->store = store;
}

/* ---- track ---- */

/* Wakes the worker when the queue changes what it waits for: the first event
 * (from then on it waits at most the pacing interval), batch_size events, and
 * a full request's worth (which may go at once, see worker.h). Every other call
 * makes no system call. */
static void wake_if_due(segops__admission_t *adm, size_t queued) {
    if (queued == 1 || queued == adm->cfg->batch_size || queued == SEGOPS__MAX_EVENTS_PER_REQUEST)
        segops__gate_kick(adm->gate, false);
}

bool segops__admission_try_lane(segops__admission_t *adm, const segops__event_plan_t *plan) {
    segops__lane_t *lane = segops__lane_of_this_thread(adm->lanes);
    pthread_mutex_lock(&lane->lock);
    size_t queued = lane->open ? reserve(adm, plan->len) : 0;
    segops__event_t *event = queued ? segops__event_pool_alloc(&lane->pool, plan->len) : NULL;
    if (!event) {
        if (queued) unreserve(adm, 1, plan->len);
        pthread_mutex_unlock(&lane->lock);
        return false;
    }
    segops__event_encode(plan, event);
    segops__queue_push(&lane->queue, event);
    pthread_mutex_unlock(&lane->lock);
    wake_if_due(adm, queued);
    return true;
}

/* Evicts the queue's head. Its memory is released at once, unless the worker
 * is walking the queue without the lock and may be reading this event: the
 * worker then releases it after its walk. Lock held. */
static size_t evict_oldest(segops__admission_t *adm) {
    bool walked = adm->walking && adm->queue.popped < adm->walk_end;
    segops__event_t *event = segops__queue_pop(&adm->queue);
    size_t len = event->len;
    unreserve(adm, 1, len);
    segops__ledger_detach(adm->ledger, 1);
    if (!walked) segops__event_release(&event, 1);
    return len;
}

/* Applies the overflow policy until an event of len bytes fits: returns the
 * events queued with it in *queued, and adds what it evicted to *evicted and
 * *evicted_bytes. Lock held. */
static segops_err_t make_room(segops__admission_t *adm, const segops__event_t *event,
                              size_t *queued, bool *spilled, size_t *evicted,
                              size_t *evicted_bytes) {
    const segops_options_t *cfg = adm->cfg;
    const size_t len = event->len;
    bool spill_tried = false;
    /* Only the worker frees room: it must never wait for it, nor a callback. */
    bool may_block = cfg->overflow == SEGOPS_OVERFLOW_BLOCK && !segops__on_worker_thread() &&
                     !segops__in_callback();
    int64_t until = 0;
    segops_err_t err = SEGOPS_OK;
    for (;;) {
        if (adm->closed) {
            err = SEGOPS_E_STATE;
            break;
        }
        if ((*queued = reserve(adm, len))) break;
        if (adm->store && !spill_tried) {
            /* With a spool a full memory queue is no reason to refuse: the event
             * goes to disk only, after the lanes' events (this thread's order). */
            spill_tried = true;
            collect(adm);
            if ((*queued = reserve(adm, len))) break;
            if ((*spilled = adm->store->spill(adm->store->arg, event) == SEGOPS_OK)) break;
            continue; /* the spool is full or failing: the overflow policy decides */
        }
        if (cfg->overflow == SEGOPS_OVERFLOW_DROP_OLDEST) {
            collect(adm);                             /* the oldest may still be in a lane */
            if ((*queued = reserve(adm, len))) break; /* the worker took some */
            if (!adm->queue.head) continue;           /* lanes refilled meanwhile */
            *evicted_bytes += evict_oldest(adm);
            ++*evicted;
            continue;
        }
        if (!may_block) {
            err = SEGOPS_E_QUEUE_FULL;
            break;
        }
        if (!until) {
            until = segops__clock_monotonic_ms() + cfg->block_timeout_ms;
            adm->blocked++; /* makes the queue urgent */
        }
        segops__gate_kick(adm->gate, true);
        if (!segops__clock_cond_wait(&adm->room, &adm->lock, until) &&
            !(*queued = reserve(adm, len))) {
            err = adm->closed ? SEGOPS_E_STATE : SEGOPS_E_QUEUE_FULL;
            break;
        }
        if (*queued) break;
    }
    if (until) adm->blocked--;
    return err;
}

/* Reports evicted events, then counts them (deferred inside a callback). */
static void settle_evicted(segops__admission_t *adm, size_t count, size_t bytes) {
    if (!count) return;
    segops__drop_t drop = {.count = count,
                           .code = SEGOPS_E_QUEUE_FULL,
                           .reason = SEGOPS_DROP_QUEUE_OVERFLOW,
                           .message = "the queue was full; the oldest events were dropped"};
    if (segops__ledger_settle(adm->ledger, SEGOPS__HELD_BY_DETACHED, 0, &drop, bytes))
        segops__gate_kick(adm->gate, true); /* the worker reports it */
}

segops_err_t segops__admission_track(segops__admission_t *adm, const segops__event_plan_t *plan) {
    size_t queued = 0, evicted = 0, evicted_bytes = 0;
    pthread_mutex_lock(&adm->lock);
    /* Memory first: a call that fails must not have evicted anything. */
    segops__event_t *event = adm->closed ? NULL : segops__event_pool_alloc(&adm->pool, plan->len);
    segops_err_t err = adm->closed ? SEGOPS_E_STATE : event ? SEGOPS_OK : SEGOPS_E_NOMEM;
    bool spilled = false;
    if (event) segops__event_encode(plan, event);
    if (err == SEGOPS_OK) err = make_room(adm, event, &queued, &spilled, &evicted, &evicted_bytes);
    if (err != SEGOPS_OK || spilled) {
        pthread_mutex_unlock(&adm->lock);
        if (spilled) { /* on disk only: the worker reads it back */
            segops__ledger_accept_to_disk(adm->ledger, 1, event->len);
            segops__gate_kick(adm->gate, false);
        }
        if (event) segops__event_release(&event, 1);
        settle_evicted(adm, evicted, evicted_bytes);
        return err;
    }
    collect(adm); /* this thread's earlier events go first */
    segops__queue_t fresh;
    segops__queue_init(&fresh);
    segops__queue_push(&fresh, event);
    admit(adm, &fresh);
    pthread_mutex_unlock(&adm->lock);
    wake_if_due(adm, queued);
    settle_evicted(adm, evicted, evicted_bytes);
    return SEGOPS_OK;
}

/* ---- lifecycle ---- */

void segops__admission_open(segops__admission_t *adm) {
    pthread_mutex_lock(&adm->lock);
    if (!adm->closed) {
        adm->open = true;
        segops__lanes_set_open(adm->lanes, true);
    }
    pthread_mutex_unlock(&adm->lock);
}

void segops__admission_close(segops__admission_t *adm) {
    pthread_mutex_lock(&adm->lock);
    adm->closed = true;
    adm->open = false;
    /* Closed lanes send track here, which refuses it now; what the lanes hold
     * joins the queue before the worker can see the stop. */
    segops__lanes_set_open(adm->lanes, false);
    collect(adm);
    pthread_cond_broadcast(&adm->room);
    pthread_mutex_unlock(&adm->lock);
}

bool segops__admission_closed(segops__admission_t *adm) {
    pthread_mutex_lock(&adm->lock);
    bool closed = adm->closed;
    pthread_mutex_unlock(&adm->lock);
    return closed;
}

uint64_t segops__admission_collect(segops__admission_t *adm) {
    pthread_mutex_lock(&adm->lock);
    collect(adm);
    uint64_t pushed = adm->queue.pushed;
    pthread_mutex_unlock(&adm->lock);
    return pushed;
}

void segops__admission_state(segops__admission_t *adm, segops__queue_state_t *out) {
    pthread_mutex_lock(&adm->lock);
    collect(adm);
    out->count = adm->queue.count;
    out->bytes = adm->queue.bytes + adm->queue.count; /* a comma each, as a request has */
    out->head = adm->queue.popped;
    out->blocked = adm->blocked > 0;
    pthread_mutex_unlock(&adm->lock);
}

/* ---- the worker's side ---- */

/* Evictions during a walk took `count` of the walked events from the head the
 * walk began at and left their memory to us. Links between walked events are
 * never rewritten (queue_pop keeps them), so they are the first `count` events
 * from that head. */
static void release_evicted_during_walk(segops__event_t *head, uint64_t count) {
    for (uint64_t i = 0; i < count; i++) {
        segops__event_t *next = head->next;
        segops__event_release(&head, 1);
        head = next;
    }
}

size_t segops__admission_take(segops__admission_t *adm, segops__event_t **batch, size_t max_events,
                              size_t max_bytes, size_t *bytes) {
    uint64_t first;
    return segops__admission_take_at(adm, batch, max_events, max_bytes, bytes, &first);
}

size_t segops__admission_take_at(segops__admission_t *adm, segops__event_t **batch,
                                 size_t max_events, size_t max_bytes, size_t *bytes,
                                 uint64_t *first) {
    pthread_mutex_lock(&adm->lock);
    for (;;) {
        collect(adm);
        if (!adm->queue.count) {
            pthread_mutex_unlock(&adm->lock);
            *bytes = 0;
            return 0;
        }
        /* Walk without the lock, so producers never wait behind a 500-event
         * walk; only this walk and evictions remove from the head, and an
         * eviction meanwhile (popped moved) means walk again. */
        segops__event_t *head = adm->queue.head;
        size_t available = adm->queue.count;
        uint64_t popped = adm->queue.popped;
        adm->walking = true;
        adm->walk_end = popped + available;
        pthread_mutex_unlock(&adm->lock);
        size_t walked_bytes;
        size_t n = segops__queue_peek(head, available, batch, max_events, max_bytes, &walked_bytes);
        pthread_mutex_lock(&adm->lock);
        adm->walking = false;
        if (adm->queue.popped != popped) {
            release_evicted_during_walk(head, SEGOPS__MIN(adm->queue.popped - popped, available));
            continue;
        }
        segops__queue_detach(&adm->queue, batch, n, walked_bytes);
        *bytes = walked_bytes - n; /* peek counted a comma per event */
        unreserve(adm, n, *bytes);
        *first = segops__ledger_take(adm->ledger, n, *bytes);
        if (adm->blocked) pthread_cond_broadcast(&adm->room); /* there is room now */
        pthread_mutex_unlock(&adm->lock);
        return n;
    }
}

size_t segops__admission_drop_all(segops__admission_t *adm, const segops__drop_t *how) {
    pthread_mutex_lock(&adm->lock);
    collect(adm);
    size_t n = adm->queue.count, bytes = adm->queue.bytes;
    unreserve(adm, n, bytes);
    if (how)
        segops__ledger_detach(adm->ledger, n);
    else /* on disk: the next client sends them */
        segops__ledger_park(adm->ledger, SEGOPS__HELD_BY_QUEUE, n);
    segops__queue_clear(&adm->queue);
    pthread_mutex_unlock(&adm->lock);
    if (n && how) {
        segops__drop_t drop = *how;
        drop.count = n;
        segops__ledger_settle(adm->ledger, SEGOPS__HELD_BY_DETACHED, 0, &drop, bytes);
    }
    return n;
}

int64_t segops__admission_oldest_tracked_ms(segops__admission_t *adm) {
    pthread_mutex_lock(&adm->lock);
    int64_t oldest = adm->queue.head ? adm->queue.head->tracked_ms : 0;
    pthread_mutex_unlock(&adm->lock);
    return oldest;
}
