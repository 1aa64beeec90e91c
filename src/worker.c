/* The worker loop. A batch is due when batch_size events are queued, when the
 * flush interval ticks, on segops_flush, while shutting down, and while a track
 * call waits for room (SEGOPS_OVERFLOW_BLOCK); a due batch takes up to 500
 * events (and max_request_bytes) at once, so a backlog drains in few requests. */
#include "worker.h"

#include <signal.h>

#include "clock.h"
#include "deliver.h"
#include "log.h"

/* After a send the worker naps this long before it lets producers wake it at
 * batch_size (Kafka's linger.ms): under a steady stream no track call pays a
 * wake-up syscall, and requests carry what arrived meanwhile, not 20 events
 * each (SegOps plans limit API calls per minute). At low rates nothing changes. */
#define NAP_AFTER_SEND_MS 2

static bool batch_due(const segops_client_t *c) {
    return c->queue.count > 0 &&
           (c->queue.count >= c->cfg->batch_size || c->drain_upto > c->queue.popped ||
            c->stopping || c->blocked_tracks > 0);
}

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

/* At the shutdown deadline: drop what is still queued, as one report. */
static void drop_leftovers(segops_client_t *c) {
    segops__client_collect(c);
    segops__client_unreserve(c, c->queue.count, c->queue.bytes);
    size_t n = segops__queue_clear(&c->queue);
    if (!n) return;
    c->stats.dropped_shutdown += n;
    pthread_cond_broadcast(&c->progress);
    pthread_mutex_unlock(&c->lock);
    segops_error_info_t info = {SEGOPS_E_TIMEOUT, 0, n, "not delivered by the shutdown deadline",
                                SEGOPS_DROP_SHUTDOWN};
    segops__report(c->cfg, &info);
    pthread_mutex_lock(&c->lock);
}

static void *worker_main(void *arg) {
    segops_client_t *c = arg;
    pthread_setname_np(pthread_self(), "segops-worker"); /* visible in top, gdb, /proc */
    segops__sender_t sender;
    segops__sender_init(&sender, c, c->worker_transport, true);
    segops__event_t *batch[SEGOPS__MAX_EVENTS_PER_REQUEST];

    pthread_mutex_lock(&c->lock);
    int64_t next_tick = segops__clock_monotonic_ms() + c->cfg->flush_interval_ms;
    int64_t nap_until = 0;
    for (;;) {
        segops__client_collect(c); /* what producers appended to their lanes */
        int64_t now = segops__clock_monotonic_ms();
        if (c->stopping && c->stop_deadline && now >= c->stop_deadline) break;
        if (now >= next_tick) { /* the interval flush: everything queued now is due */
            c->drain_upto = SEGOPS__MAX(c->drain_upto, c->queue.pushed);
            next_tick = now + c->cfg->flush_interval_ms;
        }
        if (!batch_due(c)) {
            if (c->stopping) break; /* drained */
            int64_t wake = next_tick;
            if (c->stopping && c->stop_deadline) wake = SEGOPS__MIN(wake, c->stop_deadline);
            c->worker_napping = now < nap_until;
            if (c->worker_napping) wake = SEGOPS__MIN(wake, nap_until);
            struct timespec ts = segops__clock_deadline_ts(wake);
            pthread_cond_timedwait(&c->wake_worker, &c->lock, &ts);
            c->worker_napping = false;
            continue;
        }
        /* Walk the batch without the lock, so producers never wait behind a
         * 500-event walk; only the worker and DROP_OLDEST evictions remove from
         * the head, and an eviction meanwhile (popped moved) means walk again. */
        segops__event_t *head = c->queue.head;
        size_t available = c->queue.count;
        uint64_t popped = c->queue.popped;
        c->worker_walking = true;
        c->walk_end = popped + available;
        pthread_mutex_unlock(&c->lock);
        size_t bytes;
        /* The budget leaves room for the {"events":[…]} wrapper around the events. */
        size_t n =
            segops__queue_peek(head, available, batch, SEGOPS__ARRAY_LEN(batch),
                               c->cfg->max_request_bytes - SEGOPS__BATCH_WRAPPER_BYTES, &bytes);
        pthread_mutex_lock(&c->lock);
        c->worker_walking = false;
        if (c->queue.popped != popped) {
            release_evicted_during_walk(head, SEGOPS__MIN(c->queue.popped - popped, available));
            continue;
        }
        segops__queue_detach(&c->queue, batch, n, bytes);
        segops__client_unreserve(c, n, bytes - n); /* bytes counted a comma per event */
        c->inflight = n;
        c->inflight_first = c->queue.popped - n;
        c->inflight_bytes = bytes - n;
        if (c->blocked_tracks) pthread_cond_broadcast(&c->progress); /* there is room now */
        pthread_mutex_unlock(&c->lock);
        segops__deliver(&sender, batch, n); /* settles every event, under short locks */
        pthread_mutex_lock(&c->lock);
        nap_until = segops__clock_monotonic_ms() + NAP_AFTER_SEND_MS;
    }
    drop_leftovers(c);
    pthread_mutex_unlock(&c->lock);
    segops__sender_release(&sender);
    return NULL;
}

segops_err_t segops__worker_start(segops_client_t *c) {
    /* The host's signal handlers must never run on our thread: block everything
     * while creating it (the new thread inherits the mask), then restore. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&c->worker, NULL, worker_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) return SEGOPS_E_INTERNAL;
    c->worker_started = true;
    return SEGOPS_OK;
}
