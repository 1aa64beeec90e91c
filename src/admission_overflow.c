/* track's slow path (see admission.h): under the admission lock, the
 * overflow policy (refuse, evict the oldest, or block up to block_timeout_ms)
 * and, with a spool, the waits for the spool thread. */
#include "admission.h"

#include "admission_state.h"

#include "clock.h"
#include "log.h"
#include "residence.h"

/* With a spool and a full memory queue: events accepted for the disk only and
 * not written yet, at most (see make_room). */
#define OVER_BOUND_MAX 64

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
    segops__admission_unreserve(adm, 1, len);
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
    /* Set at the first wait: block_timeout_ms bounds all of this call's waits. */
    segops__deadline_t until = segops__deadline_none();
    bool blocking = false;                    /* counted in adm->blocked */
    bool counted = false, wake_spool = false; /* in unwritten_count */
    segops_err_t err = SEGOPS_OK;
    for (;;) {
        if (adm->closed) {
            err = SEGOPS_E_STATE;
            break;
        }
        if (adm->store && !counted &&
            !(counted = segops__admission_reserve_unwritten(adm, &wake_spool))) {
            /* The spool thread is behind by the bound: whatever the policy,
             * wait for it (it writes, it does not wait for the network). */
            if (!may_wait) {
                err = SEGOPS_E_QUEUE_FULL;
                break;
            }
            if (!blocking) {
                blocking = true;
                until = segops__deadline_after(segops__clock_monotonic_ms(), cfg->block_timeout_ms);
                adm->blocked++;
            }
            adm->store->wake(adm->store->arg);
            if (!segops__clock_cond_wait(&adm->room, &adm->lock, until) &&
                !(counted = segops__admission_reserve_unwritten(adm, &wake_spool))) {
                err = adm->closed ? SEGOPS_E_STATE : SEGOPS_E_QUEUE_FULL;
                break;
            }
            continue;
        }
        if ((*queued = segops__admission_reserve(adm, len))) break;
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
                if (!blocking) {
                    blocking = true;
                    until =
                        segops__deadline_after(segops__clock_monotonic_ms(), cfg->block_timeout_ms);
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
            segops__admission_collect_locked(adm); /* the oldest may still be in a lane */
            if ((*queued = segops__admission_reserve(adm, len))) break; /* the worker took some */
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
        if (!blocking) {
            blocking = true;
            until = segops__deadline_after(segops__clock_monotonic_ms(), cfg->block_timeout_ms);
            adm->blocked++; /* makes the queue urgent */
        }
        segops__gate_kick(adm->gate);
        if (!segops__clock_cond_wait(&adm->room, &adm->lock, until) &&
            !(*queued = segops__admission_reserve(adm, len))) {
            err = adm->closed ? SEGOPS_E_STATE : SEGOPS_E_QUEUE_FULL;
            break;
        }
        if (*queued) break;
    }
    if (blocking) adm->blocked--;
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
    segops__admission_collect_locked(adm); /* this thread's earlier events go first */
    bool spill = event->over_bound;        /* the event is the spool thread's once unlocked */
    segops__queue_t fresh;
    segops__queue_init(&fresh);
    segops__queue_push(&fresh, event);
    segops__admission_admit(adm, &fresh);
    pthread_mutex_unlock(&adm->lock);
    if (queued) segops__admission_wake_if_due(adm, queued);
    if (spill) adm->store->wake(adm->store->arg); /* memory is full: write it soon */
    settle_evicted(adm, evicted, evicted_bytes);
    return SEGOPS_OK;
}
