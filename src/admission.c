/* The queue bounds, lanes, overflow policy and batch walk (see admission.h). */
#include "admission.h"

#include <pthread.h>
#include <stdatomic.h>

#include "clock.h"
#include "event_pool.h"
#include "lane.h"
#include "log.h"
#include "queue.h"
#include "residence.h"

/* Events in the lanes and the queue together, and their bytes, packed in one
 * word so track reserves both with one compare-and-swap and no lock: events in
 * the top 24 bits, bytes in the low 40 (max_queue_events <= 10M, max_queue_bytes
 * <= 4 GiB, config.c). */
#define QUEUED_BYTES_BITS 40

/* With a spool and a full memory queue: events accepted for the disk only and
 * not written yet, at most (see make_room). */
#define OVER_BOUND_MAX 64

struct segops__admission {
    const segops_options_t *cfg;
    segops__ledger_t *ledger;
    segops__gate_t *gate;
    const segops__admission_store_t *store; /* a spool, or NULL */
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
 * and the ledger accepts them; with a spool they wait for the spool thread
 * first. Lock held. */
static void admit(segops__admission_t *adm, segops__queue_t *fresh) {
    if (!fresh->count) return;
    size_t n = fresh->count, bytes = fresh->bytes;
    if (adm->store) {
        segops__queue_splice(&adm->unwritten, fresh);
        segops__ledger_accept_unwritten(adm->ledger, n, bytes);
        return;
    }
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
    segops__queue_clear(&adm->unwritten);
    segops__queue_init(&adm->unwritten);
    atomic_store(&adm->queued, 0);
    atomic_store(&adm->unwritten_count, 0);
    adm->store = NULL; /* the child never touches the parent's spool: memory only */
    adm->nforgotten = 0;
    adm->spool_refusing = false;
    adm->over_bound_pending = 0;
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
    segops__queue_init(&adm->unwritten);
    segops__event_pool_init(&adm->pool);
    segops__lanes_init(adm->lanes);
    adm->fork_hook = (segops__fork_hook_t){fork_prepare, fork_parent, fork_child, adm, NULL, NULL};
    return SEGOPS_OK;
}

void segops__admission_free(segops__admission_t *adm) {
    if (!adm) return;
    segops__queue_clear(&adm->queue);
    segops__queue_clear(&adm->unwritten);
    segops__free(adm->forgotten);
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
        segops__gate_kick(adm->gate);
}

/* With a spool: counts one more event not yet written, if the bound allows
 * (false: the caller waits on the slow path), and wakes the spool thread each
 * quarter of the bound so it writes before the bound is near. */
static bool reserve_unwritten(segops__admission_t *adm, bool *wake) {
    if (!adm->store) return true;
    size_t before = atomic_fetch_add_explicit(&adm->unwritten_count, 1, memory_order_relaxed);
    if (before >= SEGOPS__SPOOL_MAX_UNWRITTEN) {
        atomic_fetch_sub_explicit(&adm->unwritten_count, 1, memory_order_relaxed);
        return false;
    }
    *wake = (before + 1) % (SEGOPS__SPOOL_MAX_UNWRITTEN / 4) == 0;
    return true;
}

bool segops__admission_try_lane(segops__admission_t *adm, const segops__event_plan_t *plan) {
    segops__lane_t *lane = segops__lane_of_this_thread(adm->lanes);
    pthread_mutex_lock(&lane->lock);
    bool wake_spool = false;
    bool room = lane->open && reserve_unwritten(adm, &wake_spool);
    size_t queued = room ? reserve(adm, plan->len) : 0;
    segops__event_t *event = queued ? segops__event_pool_alloc(&lane->pool, plan->len) : NULL;
    if (!event) {
        if (queued) unreserve(adm, 1, plan->len);
        if (room && adm->store) atomic_fetch_sub(&adm->unwritten_count, 1);
        pthread_mutex_unlock(&lane->lock);
        return false;
    }
    segops__event_encode(plan, event);
    segops__residence_admit(event);
    segops__queue_push(&lane->queue, event);
    pthread_mutex_unlock(&lane->lock);
    wake_if_due(adm, queued);
    if (wake_spool) adm->store->wake(adm->store->arg);
    return true;
}

/* Room for the note of one more evicted record, made before the eviction:
 * a record whose note was lost would stay owed on disk and be delivered after
 * its event was reported dropped. False when memory ran out: evict nothing. */
static bool forget_room(segops__admission_t *adm) {
    if (adm->nforgotten < adm->forgotten_cap) return true;
    size_t cap = adm->forgotten_cap ? adm->forgotten_cap * 2 : 256;
    uint64_t *grown = segops__realloc(adm->forgotten, cap * sizeof *grown);
    if (!grown) return false;
    adm->forgotten = grown;
    adm->forgotten_cap = cap;
    return true;
}

/* The record of an evicted event is acknowledged by the spool thread (no I/O
 * here); forget_room made room for the note. */
static void forget_record(segops__admission_t *adm, uint64_t pos) {
    if (pos) adm->forgotten[adm->nforgotten++] = pos;
}

/* Evicts the queue's head, settling it (its record too, by the spool thread).
 * Its memory is released at once, unless the worker is walking the queue
 * without the lock and may be reading this event: the worker then releases it
 * after its walk. Lock held. */
static size_t evict_oldest(segops__admission_t *adm) {
    bool walked = adm->walking && adm->queue.popped < adm->walk_end;
    segops__event_t *event = segops__queue_pop(&adm->queue);
    size_t len = event->len;
    unreserve(adm, 1, len);
    segops__ledger_detach(adm->ledger, 1);
    forget_record(adm, segops__residence_settle(event)); /* settled: one outcome only */
    if (!walked) segops__event_release(&event, 1);
    return len;
}

/* Applies the overflow policy until an event of len bytes fits: returns the
 * events queued with it in *queued, and adds what it evicted to *evicted and
 * *evicted_bytes. Lock held. */
static segops_err_t make_room(segops__admission_t *adm, segops__event_t *event, size_t *queued,
                              size_t *evicted, size_t *evicted_bytes) {
    const segops_options_t *cfg = adm->cfg;
    const size_t len = event->len;
    /* Only the worker frees room: it must never wait for it, nor a callback
     * (the spool thread reports through on_error: it must not wait either). */
    bool may_wait = !segops__on_worker_thread() && !segops__in_callback();
    bool may_block = cfg->overflow == SEGOPS_OVERFLOW_BLOCK && may_wait;
    int64_t until = 0;
    bool counted = false, wake_spool = false; /* in unwritten_count */
    segops_err_t err = SEGOPS_OK;
    for (;;) {
        if (adm->closed) {
            err = SEGOPS_E_STATE;
            break;
        }
        if (adm->store && !counted && !(counted = reserve_unwritten(adm, &wake_spool))) {
            /* The spool thread is behind by the bound: whatever the policy,
             * wait for it (it writes, it does not wait for the network). */
            if (!may_wait) {
                err = SEGOPS_E_QUEUE_FULL;
                break;
            }
            if (!until) {
                until = segops__clock_monotonic_ms() + cfg->block_timeout_ms;
                adm->blocked++;
            }
            adm->store->wake(adm->store->arg);
            if (!segops__clock_cond_wait(&adm->room, &adm->lock, until) &&
                !(counted = reserve_unwritten(adm, &wake_spool))) {
                err = adm->closed ? SEGOPS_E_STATE : SEGOPS_E_QUEUE_FULL;
                break;
            }
            continue;
        }
        if ((*queued = reserve(adm, len))) break;
        if (adm->store && !adm->spool_refusing) {
            /* With a spool a full memory queue is no reason to refuse: the
             * spool thread keeps the event on disk only. Only a few wait for
             * it at once, so a spool that turns out full (they stay in
             * memory) overshoots the memory bound by that few at most. */
            if (adm->over_bound_pending < SEGOPS__MIN(OVER_BOUND_MAX, cfg->max_queue_events)) {
                event->over_bound = true;
                adm->over_bound_pending++;
                break;
            }
            if (may_wait) {
                if (!until) {
                    until = segops__clock_monotonic_ms() + cfg->block_timeout_ms;
                    adm->blocked++;
                }
                adm->store->wake(adm->store->arg);
                if (!segops__clock_cond_wait(&adm->room, &adm->lock, until)) {
                    err = adm->closed ? SEGOPS_E_STATE : SEGOPS_E_QUEUE_FULL;
                    break;
                }
                continue;
            }
        }
        if (cfg->overflow == SEGOPS_OVERFLOW_DROP_OLDEST) {
            collect(adm);                             /* the oldest may still be in a lane */
            if ((*queued = reserve(adm, len))) break; /* the worker took some */
            if (adm->queue.head) {
                if (adm->store && !forget_room(adm)) { /* refused: nothing more evicted */
                    err = SEGOPS_E_NOMEM;
                    break;
                }
                *evicted_bytes += evict_oldest(adm);
                ++*evicted;
                continue;
            }
            if (!adm->store) continue; /* lanes refilled meanwhile */
            /* With a spool the room is held by events the spool thread has not
             * written yet: wait for it below, as BLOCK does. */
            may_block = may_wait;
        }
        if (!may_block) {
            err = SEGOPS_E_QUEUE_FULL;
            break;
        }
        if (!until) {
            until = segops__clock_monotonic_ms() + cfg->block_timeout_ms;
            adm->blocked++; /* makes the queue urgent */
        }
        segops__gate_kick(adm->gate);
        if (!segops__clock_cond_wait(&adm->room, &adm->lock, until) &&
            !(*queued = reserve(adm, len))) {
            err = adm->closed ? SEGOPS_E_STATE : SEGOPS_E_QUEUE_FULL;
            break;
        }
        if (*queued) break;
    }
    if (until) adm->blocked--;
    if (err != SEGOPS_OK && counted) atomic_fetch_sub(&adm->unwritten_count, 1);
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
        segops__gate_kick(adm->gate); /* the worker reports it */
}

segops_err_t segops__admission_track(segops__admission_t *adm, const segops__event_plan_t *plan) {
    size_t queued = 0, evicted = 0, evicted_bytes = 0;
    pthread_mutex_lock(&adm->lock);
    /* Memory first: a call that fails must not have evicted anything. */
    segops__event_t *event = adm->closed ? NULL : segops__event_pool_alloc(&adm->pool, plan->len);
    segops_err_t err = adm->closed ? SEGOPS_E_STATE : event ? SEGOPS_OK : SEGOPS_E_NOMEM;
    if (event) {
        segops__event_encode(plan, event);
        segops__residence_admit(event);
    }
    if (err == SEGOPS_OK) err = make_room(adm, event, &queued, &evicted, &evicted_bytes);
    if (err != SEGOPS_OK) {
        pthread_mutex_unlock(&adm->lock);
        if (event) segops__event_release(&event, 1);
        settle_evicted(adm, evicted, evicted_bytes);
        return err;
    }
    collect(adm);                   /* this thread's earlier events go first */
    bool spill = event->over_bound; /* the event is the spool thread's once unlocked */
    segops__queue_t fresh;
    segops__queue_init(&fresh);
    segops__queue_push(&fresh, event);
    admit(adm, &fresh);
    pthread_mutex_unlock(&adm->lock);
    if (queued) wake_if_due(adm, queued);
    if (spill) adm->store->wake(adm->store->arg); /* memory is full: write it soon */
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
    out->unwritten = atomic_load(&adm->unwritten_count);
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
        for (size_t i = 0; i < n; i++) segops__residence_take(batch[i]);
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
    /* Left unwritten (the spool thread stopped first): memory only. */
    size_t unwritten = adm->unwritten.count;
    for (segops__event_t *e = adm->unwritten.head; e; e = e->next)
        if (e->over_bound) { /* counted in memory like the rest from here */
            atomic_fetch_add(&adm->queued, queued_pack(1, e->len));
            e->over_bound = false;
            adm->over_bound_pending--;
        }
    atomic_fetch_sub(&adm->unwritten_count, unwritten);
    segops__queue_splice(&adm->queue, &adm->unwritten);
    segops__ledger_written(adm->ledger, unwritten, 0);
    size_t parked = 0, dropped = 0, dropped_bytes = 0, bytes = adm->queue.bytes;
    for (segops__event_t *e = adm->queue.head; e; e = e->next) {
        if (segops__residence_park(e)) {
            parked++; /* on disk: the next client sends it */
            continue;
        }
        segops__residence_settle(e); /* no record: reported like any memory-only event */
        dropped++;
        dropped_bytes += e->len;
    }
    unreserve(adm, parked + dropped, bytes);
    segops__ledger_park(adm->ledger, SEGOPS__HELD_BY_QUEUE, parked);
    if (dropped) segops__ledger_detach(adm->ledger, dropped);
    segops__queue_clear(&adm->queue);
    pthread_mutex_unlock(&adm->lock);
    if (dropped) {
        segops__drop_t drop = *how;
        drop.count = dropped;
        segops__ledger_settle(adm->ledger, SEGOPS__HELD_BY_DETACHED, 0, &drop, dropped_bytes);
    }
    return dropped;
}

/* ---- the spool thread's side ---- */

size_t segops__admission_unwritten(segops__admission_t *adm, segops__queue_t *out,
                                   uint64_t *forgotten, size_t max) {
    segops__queue_init(out);
    pthread_mutex_lock(&adm->lock);
    collect(adm);
    segops__queue_splice(out, &adm->unwritten);
    out->pushed = out->count; /* positions belong to the queue, not to this batch */
    size_t n = SEGOPS__MIN(max, adm->nforgotten);
    adm->nforgotten -= n;
    if (n) memcpy(forgotten, adm->forgotten + adm->nforgotten, n * sizeof *forgotten);
    pthread_mutex_unlock(&adm->lock);
    return n;
}

void segops__admission_written(segops__admission_t *adm, segops__queue_t *batch, bool refusing) {
    size_t n = batch->count, to_queue = 0, to_disk = 0, freed = 0, freed_bytes = 0, over = 0;
    segops__queue_t joined;
    segops__queue_init(&joined);
    segops__event_t *event;
    while ((event = segops__queue_pop(batch))) {
        over += event->over_bound;
        if (event->residence == SEGOPS__RES_ON_DISK) {
            if (!event->over_bound) { /* its room in memory is free */
                freed++;
                freed_bytes += event->len;
            }
            segops__event_release(&event, 1);
            to_disk++;
            continue;
        }
        if (event->over_bound) /* the spool refused it: memory holds it past the bound */
            atomic_fetch_add_explicit(&adm->queued, queued_pack(1, event->len),
                                      memory_order_relaxed);
        event->over_bound = false;
        segops__queue_push(&joined, event);
        to_queue++;
    }
    pthread_mutex_lock(&adm->lock);
    unreserve(adm, freed, freed_bytes);
    segops__queue_splice(&adm->queue, &joined);
    segops__ledger_written(adm->ledger, to_queue, to_disk);
    adm->spool_refusing = refusing;
    adm->over_bound_pending -= over;
    atomic_fetch_sub_explicit(&adm->unwritten_count, n, memory_order_relaxed);
    pthread_cond_broadcast(&adm->room); /* room to write, and maybe in memory */
    pthread_mutex_unlock(&adm->lock);
    if (n) segops__gate_kick(adm->gate); /* the worker has new work */
}

int64_t segops__admission_oldest_tracked_ms(segops__admission_t *adm) {
    pthread_mutex_lock(&adm->lock);
    int64_t oldest = adm->queue.head ? segops__event_track_ms(adm->queue.head) : 0;
    /* With a spool, what the spool thread has not written yet waits too. */
    int64_t unwritten = adm->unwritten.head ? segops__event_track_ms(adm->unwritten.head) : 0;
    if (unwritten && (!oldest || unwritten < oldest)) oldest = unwritten;
    pthread_mutex_unlock(&adm->lock);
    return oldest;
}
