/* The worker thread and its senders (see worker.h). */
#include "worker.h"

#include <pthread.h>
#include <signal.h>

#include "clock.h"
#include "log.h"
#include "waiting.h"

/* A batch taken for one request, and what its sender needs to know of it. */
typedef struct batch {
    size_t n; /* 0: none */
    segops__held_by_t held_by;
    uint64_t pos; /* its ledger position (memory batches) */
    bool full, urgent;
    int64_t begun_at;  /* begun with the pacer at this time; 0: the sender begins it */
    int64_t oldest_ms; /* the oldest track time (segops__event_track_ms) among its events (0:
                          unknown) */
    segops__event_t *events[SEGOPS__MAX_EVENTS_PER_REQUEST];
} batch_t;

/* One sender thread: it delivers the batches it is handed, one at a time, on
 * its own transport (connection). */
typedef struct sender_slot {
    segops__worker_t *w;
    pthread_t thread;
    pthread_cond_t handed; /* a batch was handed over or made ready, or quit */
    bool started;
    bool quit;
    segops__transport_t *transport;
    segops__sender_t sender;
    batch_t batch; /* n 0: idle */
} sender_slot_t;

struct segops__worker {
    const segops__deliver_ctx_t *ctx;
    segops__admission_t *adm;
    segops__spooler_t *sp;
    pthread_mutex_t lock; /* started, thread, every slot's state and `ready` */
    bool started;
    pthread_t thread;
    size_t senders; /* max_in_flight */
    size_t busy;    /* slots holding a batch */
    sender_slot_t *slots;
    /* While every sender is busy, the next full (or urgent) batch is taken
     * ahead: the first sender to finish goes on with it at once, so a request
     * never waits for this thread to be scheduled (the way one thread did). */
    batch_t ready;
    segops__fork_hook_t fork_hook;
};

static void stop_senders(segops__worker_t *w);

static void fork_prepare(void *arg) { pthread_mutex_lock(&((segops__worker_t *)arg)->lock); }
static void fork_parent(void *arg) { pthread_mutex_unlock(&((segops__worker_t *)arg)->lock); }

static void fork_child(void *arg) {
    segops__worker_t *w = arg;
    /* The parent's worker and senders do not exist here. Their curl handles
     * must never be used or cleaned up (that could end the parent's TLS
     * session): close our copies of their descriptors only. The parent's
     * batches are the parent's. */
    for (size_t i = 0; i < w->senders; i++) {
        sender_slot_t *slot = &w->slots[i];
        if (slot->transport) segops__transport_abandon_in_child(slot->transport);
        slot->transport = NULL;
        slot->started = slot->quit = false;
        slot->batch.n = 0;
        segops__clock_cond_init(&slot->handed);
    }
    w->ready.n = 0;
    w->busy = 0;
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
    w->senders = ctx->cfg->max_in_flight;
    pthread_mutex_init(&w->lock, NULL);
    w->fork_hook = (segops__fork_hook_t){fork_prepare, fork_parent, fork_child, w, NULL, NULL};
    if (!(w->slots = segops__calloc(w->senders, sizeof *w->slots))) return SEGOPS_E_NOMEM;
    for (size_t i = 0; i < w->senders; i++) {
        w->slots[i].w = w;
        segops__clock_cond_init(&w->slots[i].handed);
    }
    return SEGOPS_OK;
}

void segops__worker_free(segops__worker_t *w) {
    if (!w) return;
    if (w->slots) stop_senders(w); /* started, but the worker thread could not start */
    for (size_t i = 0; w->slots && i < w->senders; i++) {
        segops__transport_free(w->slots[i].transport);
        pthread_cond_destroy(&w->slots[i].handed);
    }
    segops__free(w->slots);
    pthread_mutex_destroy(&w->lock);
    segops__free(w);
}

segops__fork_hook_t *segops__worker_fork_hook(segops__worker_t *w) { return &w->fork_hook; }

/* Tells the sender what its batch is (the request's state lives in it). */
static void load_sender(segops__sender_t *sender, const batch_t *b) {
    sender->held_by = b->held_by;
    sender->pos = b->pos;
    sender->full = b->full;
    sender->urgent = b->urgent;
    sender->begun_at = b->begun_at;
    sender->unsettled = b->n;
    __atomic_store_n(&sender->oldest_ms, b->oldest_ms, __ATOMIC_RELAXED);
}

/* A sender thread: delivers what it is handed, or the batch made ready, until
 * told to quit with nothing left (so a ready batch is never stranded). */
static void *sender_main(void *arg) {
    sender_slot_t *slot = arg;
    segops__worker_t *w = slot->w;
    segops__mark_worker_thread(); /* frees room for blocked tracks: must never block on it */
    pthread_setname_np(pthread_self(), "segops-sender");
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!slot->batch.n && !w->ready.n && !slot->quit)
            pthread_cond_wait(&slot->handed, &w->lock);
        if (!slot->batch.n && w->ready.n) { /* go on with the batch taken ahead */
            slot->batch = w->ready;
            w->ready.n = 0;
            w->busy++;
            segops__gate_kick(w->ctx->gate); /* the worker may take the next */
        }
        if (!slot->batch.n) break;
        load_sender(&slot->sender, &slot->batch);
        pthread_mutex_unlock(&w->lock);
        segops__deliver(&slot->sender, slot->batch.events, slot->batch.n); /* settles them */
        pthread_mutex_lock(&w->lock);
        slot->batch.n = 0;
        w->busy--;
        /* The worker may be waiting for a free sender. */
        segops__gate_kick(w->ctx->gate);
    }
    pthread_mutex_unlock(&w->lock);
    segops__sender_release(&slot->sender);
    return NULL;
}

/* Starts a thread with every signal blocked in it: the host's signal handlers
 * must never run on our threads. */
static bool start_thread(pthread_t *thread, void *(*fn)(void *), void *arg) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(thread, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0;
}

/* Starts the sender threads that are not running (the first use in this
 * process) and returns how many run. Lock held. */
static size_t start_senders_locked(segops__worker_t *w) {
    size_t running = 0;
    for (size_t i = 0; i < w->senders; i++) {
        sender_slot_t *slot = &w->slots[i];
        if (!slot->started && slot->transport) {
            segops__sender_release(&slot->sender); /* a forked child's copy of the parent's */
            segops__sender_init(&slot->sender, w->ctx, slot->transport, SEGOPS__HELD_BY_BATCH);
            slot->quit = false;
            slot->started = start_thread(&slot->thread, sender_main, slot);
        }
        running += slot->started;
    }
    return running;
}

/* Tells every sender to quit once its request is settled, and joins them. */
static void stop_senders(segops__worker_t *w) {
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->senders; i++) {
        w->slots[i].quit = true;
        pthread_cond_signal(&w->slots[i].handed);
    }
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < w->senders; i++) {
        if (!w->slots[i].started) continue;
        pthread_join(w->slots[i].thread, NULL);
        w->slots[i].started = false;
    }
}

/* The idle sender to hand the next batch to (the lowest, so one request at a
 * time keeps reusing one connection), or NULL. Lock held. */
static sender_slot_t *idle_sender(segops__worker_t *w) {
    for (size_t i = 0; i < w->senders; i++)
        if (w->slots[i].started && !w->slots[i].batch.n) return &w->slots[i];
    return NULL;
}

static int64_t oldest_tracked(segops__event_t *const *events, size_t n) {
    int64_t oldest = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t tracked_ms = segops__event_track_ms(events[i]);
        if (tracked_ms && (!oldest || tracked_ms < oldest)) oldest = tracked_ms;
    }
    return oldest;
}

static void *worker_main(void *arg) {
    segops__worker_t *w = arg;
    const segops__deliver_ctx_t *ctx = w->ctx;
    const segops_options_t *cfg = ctx->cfg;
    segops__gate_t *gate = ctx->gate;
    segops__mark_worker_thread();
    pthread_setname_np(pthread_self(), "segops-worker"); /* visible in top, gdb, /proc */
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
            segops__gate_wait(
                gate, epoch,
                segops__deadline_after(segops__clock_monotonic_ms(), SEGOPS__SPOOL_FLUSH_MS));
            continue;
        }
        int64_t now = segops__clock_monotonic_ms();
        if (now >= next_tick) {
            tick_upto = st.head + st.count;
            next_tick = now + cfg->flush_interval_ms;
        }
        segops__waiting_seen(&waiting, now, st.count);
        bool waited = segops__deadline_expired(segops__waiting_due(&waiting, max_wait), now);
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
        /* A full request waiting tells the pacer the traffic uses all it allows
         * (whether or not a sender is free for it now). */
        if (full) segops__pacer_note_backlog(ctx->pacer, now);
        /* Adaptive, not blind: a second request goes only for a full request's
         * worth or an urgent one, and never while a failing one probes for all
         * (a finishing sender kicks the gate). With every sender busy, one full
         * batch is taken ahead. */
        pthread_mutex_lock(&w->lock);
        sender_slot_t *slot = idle_sender(w);
        bool busy = w->busy > 0, ready = w->ready.n > 0;
        pthread_mutex_unlock(&w->lock);
        bool failing = ctx->probe && segops__probe_failing(ctx->probe);
        /* A batch taken ahead goes first: the idle sender about to adopt it
         * owns its slot, which must not be filled meanwhile. Only a full one
         * is taken ahead (memory holds at most one request's more). */
        bool held = ready || (busy && (!(full || urgent) || failing)) || (!slot && !full);
        int64_t at =
            wanted && !held ? segops__pacer_next_slot(ctx->pacer, now, full, urgent) : next_tick;
        if (!wanted || held || (slot && at > now)) {
            segops__deadline_t wake =
                segops__deadline_at(slot ? SEGOPS__MIN(at, next_tick) : next_tick);
            if (!wanted)
                wake = segops__deadline_earliest(wake, segops__waiting_due(&waiting, max_wait));
            segops__gate_wait(gate, epoch, wake); /* or at the stop deadline */
            continue;
        }
        batch_t *b = slot ? &slot->batch : &w->ready; /* ours until its n is set */
        size_t bytes, n;
        uint64_t first = 0;
        if (from_disk) {
            n = segops__spooler_read(w->sp, b->events, SEGOPS__ARRAY_LEN(b->events), max_bytes,
                                     &bytes);
            if (!n) { /* all of it is settling or unreadable now: look again soon */
                if (stopping && !busy) break;
                segops__gate_wait(gate, epoch, segops__deadline_after(now, SEGOPS__SPOOL_FLUSH_MS));
                continue;
            }
        } else {
            n = segops__admission_take_at(w->adm, b->events, SEGOPS__ARRAY_LEN(b->events),
                                          max_bytes, &bytes, &first);
        }
        /* The next partial request's interval counts from this take (a
         * request handed to a sender starts now; one taken ahead is full). */
        if (!from_disk) segops__waiting_took(&waiting, now);
        if (!n) continue;
        b->held_by = from_disk ? SEGOPS__HELD_BY_DISK : SEGOPS__HELD_BY_BATCH;
        b->pos = first;
        b->full = full;
        b->urgent = urgent;
        b->oldest_ms = oldest_tracked(b->events, n);
        /* Begun here, so the next look already counts it against the plan; one
         * taken ahead is begun by its sender when it goes. */
        b->begun_at =
            slot && !failing && segops__pacer_try_begin(ctx->pacer, now, full, urgent, NULL) ? now
                                                                                             : 0;
        pthread_mutex_lock(&w->lock);
        b->n = n;
        if (slot) {
            w->busy++;
            pthread_cond_signal(&slot->handed);
        } else { /* a sender may have finished since we looked */
            for (size_t i = 0; i < w->senders; i++) pthread_cond_signal(&w->slots[i].handed);
        }
        pthread_mutex_unlock(&w->lock);
    }
    /* Every request in flight ends (delivered, or at the stop deadline). What
     * the stop deadline left in the queue is settled by shutdown, once the
     * spool thread has handed over its last round too. */
    stop_senders(w);
    segops__ledger_report_deferred(ctx->ledger);
    return NULL;
}

segops_err_t segops__worker_ensure(segops__worker_t *w) {
    pthread_mutex_lock(&w->lock);
    segops_err_t err = SEGOPS_OK;
    if (w->started || segops__admission_closed(w->adm)) goto out;
    for (size_t i = 0; i < w->senders; i++)
        if (!w->slots[i].transport &&
            (err = segops__transport_new(w->ctx->cfg, &w->slots[i].transport)) != SEGOPS_OK)
            goto out;
    /* With fewer threads than asked for, fewer requests go at once. */
    if (!start_senders_locked(w) || !start_thread(&w->thread, worker_main, w)) {
        err = SEGOPS_E_INTERNAL;
        goto out;
    }
    w->started = true;
    segops__admission_open(w->adm);
out:
    pthread_mutex_unlock(&w->lock);
    return err;
}

void segops__worker_join(segops__worker_t *w, segops__deadline_t deadline) {
    pthread_mutex_lock(&w->lock);
    bool started = w->started;
    /* Every transfer in flight must end at the deadline, not at its own timeout. */
    for (size_t i = 0; !segops__deadline_is_none(deadline) && i < w->senders; i++)
        if (w->slots[i].transport) segops__transport_set_deadline(w->slots[i].transport, deadline);
    pthread_mutex_unlock(&w->lock);
    if (started) pthread_join(w->thread, NULL);
}

int64_t segops__worker_oldest_in_flight_ms(segops__worker_t *w) {
    pthread_mutex_lock(&w->lock);
    int64_t oldest = w->ready.n ? w->ready.oldest_ms : 0;
    for (size_t i = 0; i < w->senders; i++) {
        int64_t t = __atomic_load_n(&w->slots[i].sender.oldest_ms, __ATOMIC_RELAXED);
        if (t && (!oldest || t < oldest)) oldest = t;
    }
    pthread_mutex_unlock(&w->lock);
    return oldest;
}
