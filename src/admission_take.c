/* What leaves admission's queue (see admission.h): the worker's batches
 * (taken with a walk outside the lock), the spool thread's write rounds
 * (unwritten, then written), and what the shutdown deadline left (drop_all). */
#include "admission.h"

#include "admission_state.h"

#include "residence.h"

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

size_t segops__admission_take_at(segops__admission_t *adm, segops__event_t **batch,
                                 size_t max_events, size_t max_bytes, size_t *bytes,
                                 uint64_t *first) {
    pthread_mutex_lock(&adm->lock);
    for (;;) {
        segops__admission_collect_locked(adm);
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
        segops__admission_unreserve(adm, n, *bytes);
        *first = segops__ledger_take(adm->ledger, n, *bytes);
        if (adm->blocked) pthread_cond_broadcast(&adm->room); /* there is room now */
        pthread_mutex_unlock(&adm->lock);
        return n;
    }
}

size_t segops__admission_drop_all(segops__admission_t *adm, const segops__drop_t *how) {
    pthread_mutex_lock(&adm->lock);
    segops__admission_collect_locked(adm);
    /* Left unwritten (the spool thread stopped first): memory only. */
    size_t unwritten = adm->unwritten.count;
    for (segops__event_t *e = adm->unwritten.head; e; e = e->next)
        if (e->over_bound) { /* counted in memory like the rest from here */
            atomic_fetch_add(&adm->queued, segops__admission_pack(1, e->len));
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
    segops__admission_unreserve(adm, parked + dropped, bytes);
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
    segops__admission_collect_locked(adm);
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
            atomic_fetch_add_explicit(&adm->queued, segops__admission_pack(1, event->len),
                                      memory_order_relaxed);
        event->over_bound = false;
        segops__queue_push(&joined, event);
        to_queue++;
    }
    pthread_mutex_lock(&adm->lock);
    segops__admission_unreserve(adm, freed, freed_bytes);
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
