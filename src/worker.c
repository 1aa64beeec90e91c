/* The worker thread (see worker.h). */
#include "worker.h"

#include <pthread.h>
#include <signal.h>

#include "clock.h"
#include "log.h"
#include "waiting.h"

struct segops__worker {
    const segops__deliver_ctx_t *ctx;
    segops__admission_t *adm;
    segops__spooler_t *sp;
    pthread_mutex_t lock; /* started, thread, transport */
    bool started;
    pthread_t thread;
    segops__transport_t *transport;
    segops__fork_hook_t fork_hook;
};

static void fork_prepare(void *arg) { pthread_mutex_lock(&((segops__worker_t *)arg)->lock); }
static void fork_parent(void *arg) { pthread_mutex_unlock(&((segops__worker_t *)arg)->lock); }

static void fork_child(void *arg) {
    segops__worker_t *w = arg;
    /* The parent's worker does not exist here. Its curl handles must never be
     * used or cleaned up (that could end the parent's TLS session): close our
     * copies of their descriptors only. */
    if (w->transport) segops__transport_abandon_in_child(w->transport);
    w->transport = NULL;
    w->started = false;
    pthread_mutex_unlock(&w->lock);
}

segops_err_t segops__worker_new(const segops__deliver_ctx_t *ctx, segops__admission_t *adm,
                                segops__spooler_t *sp, segops__worker_t **out) {
    segops__worker_t *w = segops__calloc(1, sizeof *w);
    *out = w;
    if (!w) return SEGOPS_E_NOMEM;
    w->ctx = ctx;
    w->adm = adm;
    w->sp = sp;
    pthread_mutex_init(&w->lock, NULL);
    w->fork_hook = (segops__fork_hook_t){fork_prepare, fork_parent, fork_child, w, NULL, NULL};
    return SEGOPS_OK;
}

void segops__worker_free(segops__worker_t *w) {
    if (!w) return;
    segops__transport_free(w->transport);
    pthread_mutex_destroy(&w->lock);
    segops__free(w);
}

segops__fork_hook_t *segops__worker_fork_hook(segops__worker_t *w) { return &w->fork_hook; }

static void *worker_main(void *arg) {
    segops__worker_t *w = arg;
    const segops__deliver_ctx_t *ctx = w->ctx;
    const segops_options_t *cfg = ctx->cfg;
    segops__gate_t *gate = ctx->gate;
    segops__mark_worker_thread();
    pthread_setname_np(pthread_self(), "segops-worker"); /* visible in top, gdb, /proc */
    segops__sender_t sender;
    segops__sender_init(&sender, ctx, w->transport, SEGOPS__HELD_BY_BATCH);
    segops__event_t *batch[SEGOPS__MAX_EVENTS_PER_REQUEST];
    /* The budget leaves room for the {"events":[…]} wrapper around the events. */
    const size_t max_bytes = cfg->max_request_bytes - SEGOPS__BATCH_WRAPPER_BYTES;

    int64_t next_tick = segops__clock_monotonic_ms() + cfg->flush_interval_ms;
    uint64_t tick_upto = 0; /* the interval flush: what was queued at the tick is due */
    /* Events wait at most the pacing interval (or flush_interval_ms, if lower):
     * since the previous request's start, or since the worker first saw them
     * in an idle queue (waiting.h). */
    const int64_t max_wait =
        SEGOPS__MIN((int64_t)SEGOPS__PACER_PARTIAL_INTERVAL_MS, (int64_t)cfg->flush_interval_ms);
    segops__waiting_t waiting = {0};
    for (;;) {
        const uint64_t epoch = segops__gate_epoch(gate); /* before looking: no lost wake-up */
        segops__ledger_report_deferred(ctx->ledger);
        bool stopping = segops__gate_stopping(gate);
        if (stopping && segops__gate_past_deadline(gate)) break;
        segops__queue_state_t st;
        segops__admission_state(w->adm, &st);
        /* With the memory queue empty, the spool's backlog (spilled, or left by
         * earlier runs) goes next, in full requests, until the stop deadline. */
        bool from_disk = !st.count && w->sp && segops__spooler_backlog(w->sp);
        if (!st.count && !from_disk && stopping) {
            if (!st.unwritten) break; /* drained */
            /* The spool thread hands over what it is writing, then kicks us. */
            int64_t soon = segops__clock_monotonic_ms() + SEGOPS__SPOOL_FLUSH_MS;
            int64_t deadline = segops__gate_deadline(gate);
            segops__gate_wait(gate, epoch, deadline ? SEGOPS__MIN(soon, deadline) : soon);
            continue;
        }
        int64_t now = segops__clock_monotonic_ms();
        if (now >= next_tick) {
            tick_upto = st.head + st.count;
            next_tick = now + cfg->flush_interval_ms;
        }
        segops__waiting_seen(&waiting, now, st.count);
        bool waited = now >= segops__waiting_due(&waiting, max_wait);
        /* A request is wanted once batch_size events are queued, at the interval
         * tick, when it is full (500 events or max_request_bytes), and at once for
         * a flush, a stop or a blocked track; the pacer then says when it may go:
         * a partial one at most once per pacing interval, never over the limit. */
        bool full =
            from_disk || st.count >= SEGOPS__MAX_EVENTS_PER_REQUEST || st.bytes >= max_bytes;
        bool urgent = stopping || st.blocked || segops__gate_drain_upto(gate) > st.head;
        bool wanted =
            from_disk || (st.count && (full || urgent || waited || st.count >= cfg->batch_size ||
                                       tick_upto > st.head));
        /* A full request waiting tells the pacer the traffic uses all it allows. */
        if (full) segops__pacer_note_backlog(ctx->pacer, now);
        int64_t at = wanted ? segops__pacer_next_slot(ctx->pacer, now, full, urgent) : next_tick;
        if (!wanted || at > now) {
            int64_t wake = SEGOPS__MIN(at, next_tick);
            if (!wanted) wake = SEGOPS__MIN(wake, segops__waiting_due(&waiting, max_wait));
            int64_t deadline = stopping ? segops__gate_deadline(gate) : 0;
            segops__gate_wait(gate, epoch, deadline ? SEGOPS__MIN(wake, deadline) : wake);
            continue;
        }
        size_t bytes, n;
        if (from_disk) {
            n = segops__spooler_read(w->sp, batch, SEGOPS__ARRAY_LEN(batch), max_bytes, &bytes);
            if (!n) { /* all of it is settling or unreadable now: look again soon */
                if (stopping) break;
                segops__gate_wait(gate, epoch, now + SEGOPS__SPOOL_FLUSH_MS);
                continue;
            }
        } else {
            n = segops__admission_take(w->adm, batch, SEGOPS__ARRAY_LEN(batch), max_bytes, &bytes);
        }
        sender.held_by = from_disk ? SEGOPS__HELD_BY_DISK : SEGOPS__HELD_BY_BATCH;
        if (!from_disk) segops__waiting_took(&waiting, now);
        sender.full = full;
        sender.urgent = urgent;
        if (n) segops__deliver(&sender, batch, n); /* settles every event */
    }
    /* What the stop deadline left in the queue is settled by shutdown, once
     * the spool thread has handed over its last round too. */
    segops__ledger_report_deferred(ctx->ledger);
    segops__sender_release(&sender);
    return NULL;
}

segops_err_t segops__worker_ensure(segops__worker_t *w) {
    pthread_mutex_lock(&w->lock);
    segops_err_t err = SEGOPS_OK;
    if (w->started || segops__admission_closed(w->adm)) goto out;
    if (!w->transport && (err = segops__transport_new(w->ctx->cfg, &w->transport)) != SEGOPS_OK)
        goto out;
    /* The host's signal handlers must never run on our thread: block everything
     * while creating it (the new thread inherits the mask), then restore. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        err = SEGOPS_E_INTERNAL;
        goto out;
    }
    w->started = true;
    segops__admission_open(w->adm);
out:
    pthread_mutex_unlock(&w->lock);
    return err;
}

void segops__worker_join(segops__worker_t *w, int64_t deadline) {
    pthread_mutex_lock(&w->lock);
    bool started = w->started;
    /* A transfer in flight must end at the deadline, not at its own timeout. */
    if (deadline && w->transport) segops__transport_set_deadline(w->transport, deadline);
    pthread_mutex_unlock(&w->lock);
    if (started) pthread_join(w->thread, NULL);
}
