/* The public client: lifecycle, track (validate, encode, enqueue), flush,
 * shutdown and stats, plus the small lock-holding services the worker and the
 * delivery pipeline call back into. */
#include "client.h"

#include <stdio.h>

#include "clock.h"
#include "crypto.h"
#include "deliver.h"
#include "event.h"
#include "log.h"
#include "worker.h"

#define BATCH_PATH "/api/ingestion/track/batch/"
#define SESSION_PATH "/api/auth/session/"

static char *join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = segops__malloc(la + lb + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

static void client_destroy(segops_client_t *c) {
    if (!c) return;
    segops__fork_unregister(c);
    segops__queue_clear(&c->queue);
    segops__lanes_destroy(c->lanes);
    segops__event_pool_destroy(&c->pool);
    segops__transport_free(c->worker_transport);
    segops__transport_free(c->sync_transport);
    segops__token_cache_free(c->tokens);
    segops__secret_free(c->apikey_auth);
    segops__free(c->batch_url);
    segops_options_free(c->cfg);
    pthread_cond_destroy(&c->wake_worker);
    pthread_cond_destroy(&c->progress);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->sync_lock);
    segops__free(c);
}

/* Condition variables time out against CLOCK_MONOTONIC, immune to clock steps. */
static void cond_init_monotonic(pthread_cond_t *cv) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
}

/* Starts the worker (and its transport) unless it runs: at client_new, and in a
 * forked child on first use. Then the lanes open: track's fast path needs a
 * worker to collect what it appends. Called with the lock held, or before any
 * thread. */
static segops_err_t ensure_worker(segops_client_t *c) {
    if (c->worker_started || !c->cfg->batch) return SEGOPS_OK;
    if (!c->worker_transport) {
        segops_err_t err = segops__transport_new(c->cfg, &c->worker_transport);
        if (err != SEGOPS_OK) return err;
    }
    segops_err_t err = segops__worker_start(c);
    if (err == SEGOPS_OK && !c->stopping) segops__lanes_set_open(c->lanes, true);
    return err;
}

segops_err_t segops_client_new(const segops_options_t *opts, segops_client_t **out) {
    if (!out) return SEGOPS_E_INVALID_ARG;
    *out = NULL;
    if (!opts) return SEGOPS_E_INVALID_ARG;
    char why[200];
    segops_err_t err = segops__config_check(opts, why, sizeof why);
    if (err != SEGOPS_OK) {
        segops__log(opts, SEGOPS_LOG_ERROR, "segops_client_new: %s", why);
        return err;
    }
    segops_client_t *c = segops__calloc(1, sizeof *c);
    if (!c) return SEGOPS_E_NOMEM;
    segops__event_pool_init(&c->pool);
    segops__lanes_init(c->lanes);
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->sync_lock, NULL);
    cond_init_monotonic(&c->wake_worker);
    cond_init_monotonic(&c->progress);
    if ((err = segops__config_copy(opts, &c->cfg)) != SEGOPS_OK) goto fail;
    segops__queue_init(&c->queue);
    err = SEGOPS_E_NOMEM;
    if (!(c->batch_url = join(c->cfg->api_url, BATCH_PATH))) goto fail;
    if (segops__config_is_public_key(c->cfg)) {
        char *session_url = join(c->cfg->api_url, SESSION_PATH);
        if (!session_url) goto fail;
        err = segops__token_cache_new(c->cfg, session_url, &c->tokens);
        segops__free(session_url);
        if (err != SEGOPS_OK) goto fail;
    } else if (!(c->apikey_auth = join("ApiKey ", c->cfg->api_key))) {
        goto fail;
    }
    if (c->cfg->batch) {
        if ((err = ensure_worker(c)) != SEGOPS_OK) goto fail;
    } else if ((err = segops__transport_new(c->cfg, &c->sync_transport)) != SEGOPS_OK) {
        goto fail;
    }
    segops__fork_register(c);
    *out = c;
    return SEGOPS_OK;
fail:
    client_destroy(c);
    return err;
}

/* Counts a refused track call by its code. Called with the lock held. */
static void count_rejection(segops_client_t *c, segops_err_t err) {
    switch (err) {
    case SEGOPS_E_INVALID_JSON: c->stats.rejected_invalid_json++; break;
    case SEGOPS_E_TOO_LARGE: c->stats.rejected_too_large++; break;
    case SEGOPS_E_QUEUE_FULL: c->stats.rejected_queue_full++; break;
    case SEGOPS_E_STATE: c->stats.rejected_state++; break;
    case SEGOPS_E_NOMEM:
    case SEGOPS_E_INTERNAL: c->stats.rejected_other++; break;
    default: c->stats.rejected_invalid_arg++; break;
    }
}

static segops_err_t reject(segops_client_t *c, segops_err_t err) {
    pthread_mutex_lock(&c->lock);
    count_rejection(c, err);
    pthread_mutex_unlock(&c->lock);
    return err;
}

/* batch = false: send on the calling thread and return the outcome. */
static segops_err_t track_sync(segops_client_t *c, const segops__event_plan_t *plan) {
    pthread_mutex_lock(&c->lock);
    /* A logger or get_user runs inside a send that holds sync_lock: tracking
     * from there would wait on that lock forever. */
    segops_err_t refused = c->stopping || segops__in_callback() ? SEGOPS_E_STATE : SEGOPS_OK;
    segops__event_t *event = NULL;
    if (!refused && !(event = segops__event_pool_alloc(&c->pool, plan->len)))
        refused = SEGOPS_E_NOMEM;
    if (refused) {
        count_rejection(c, refused);
        pthread_mutex_unlock(&c->lock);
        return refused;
    }
    segops__event_encode(plan, event);
    c->stats.enqueued++;
    c->sync_inflight++;
    pthread_mutex_unlock(&c->lock);

    pthread_mutex_lock(&c->sync_lock); /* one transport: sync sends take turns */
    if (!c->sync_transport) {          /* a forked child makes its own */
        segops__transport_t *t;
        segops_err_t err = segops__transport_new(c->cfg, &t);
        if (err != SEGOPS_OK) {
            pthread_mutex_unlock(&c->sync_lock);
            segops__drop_t drop = {.count = 1, .code = err, .reason = SEGOPS_DROP_REJECTED};
            snprintf(drop.message, sizeof drop.message, "could not create a transport");
            size_t bytes = event->len;
            segops__event_release(&event, 1);
            segops__client_settle(c, false, 0, &drop, false, bytes);
            return err;
        }
        pthread_mutex_lock(&c->lock); /* shutdown reads the pointer under the lock */
        c->sync_transport = t;
        int64_t deadline = c->stop_deadline;
        pthread_mutex_unlock(&c->lock);
        if (deadline) segops__transport_set_deadline(t, deadline);
    }
    segops__sender_t sender;
    segops__sender_init(&sender, c, c->sync_transport, false);
    segops__deliver(&sender, &event, 1);
    segops_err_t outcome = sender.outcome;
    segops__sender_release(&sender);
    pthread_mutex_unlock(&c->sync_lock);
    return outcome;
}

/* ---- the queue bounds and the lanes (see client.h, lane.h) ---- */

#define QUEUED_BYTES_BITS 40

static uint64_t queued_pack(size_t events, size_t bytes) {
    return (uint64_t)events << QUEUED_BYTES_BITS | bytes;
}

size_t segops__client_reserve(segops_client_t *c, size_t len) {
    /* Checked before it is added, so a refusal never inflates the count that
     * other threads test (no spurious refusals or evictions). */
    uint64_t now = atomic_load_explicit(&c->queued, memory_order_relaxed);
    for (;;) {
        uint64_t after = now + queued_pack(1, len);
        size_t events = (size_t)(after >> QUEUED_BYTES_BITS);
        size_t bytes = (size_t)(after & ((UINT64_C(1) << QUEUED_BYTES_BITS) - 1));
        if (events > c->cfg->max_queue_events || bytes > c->cfg->max_queue_bytes) return 0;
        if (atomic_compare_exchange_weak_explicit(&c->queued, &now, after, memory_order_relaxed,
                                                  memory_order_relaxed))
            return events;
    }
}

void segops__client_unreserve(segops_client_t *c, size_t n, size_t bytes) {
    atomic_fetch_sub_explicit(&c->queued, queued_pack(n, bytes), memory_order_relaxed);
}

void segops__client_collect(segops_client_t *c) {
    c->stats.enqueued += segops__lanes_collect(c->lanes, &c->queue);
}

/* Evicts the queue's head. Its memory is released at once, unless the worker
 * is walking the queue without the lock and may be reading this event: the
 * worker then releases it after its walk (worker.c). Lock held. */
static void evict_oldest(segops_client_t *c) {
    bool walked = c->worker_walking && c->queue.popped < c->walk_end;
    segops__event_t *event = segops__queue_pop(&c->queue);
    segops__client_unreserve(c, 1, event->len);
    c->evicting++; /* pending until reported (report_evicted) */
    if (!walked) segops__event_release(&event, 1);
}

/* Reserves room for one event of len bytes under the overflow policy and sets
 * *queued (see segops__client_reserve). Lock held; may wait (BLOCK). Counts
 * evicted events in *evicted, for the caller to report after unlock. */
static segops_err_t make_room(segops_client_t *c, size_t len, size_t *queued, size_t *evicted) {
    const segops_options_t *cfg = c->cfg;
    struct timespec deadline;
    bool blocking = false, timed_out = false;
    segops_err_t err = SEGOPS_OK;
    for (;;) {
        if (blocking && c->stopping) {
            err = SEGOPS_E_STATE;
            break;
        }
        if ((*queued = segops__client_reserve(c, len))) break;
        if (cfg->overflow == SEGOPS_OVERFLOW_DROP_OLDEST) {
            segops__client_collect(c); /* the oldest may still be in a lane */
            if ((*queued = segops__client_reserve(c, len))) break; /* the worker took some */
            if (!c->queue.head) continue; /* lanes refilled meanwhile: collect again */
            evict_oldest(c);
            ++*evicted;
        } else if (cfg->overflow == SEGOPS_OVERFLOW_BLOCK && !timed_out) {
            if (!blocking) {
                deadline =
                    segops__clock_deadline_ts(segops__clock_monotonic_ms() + cfg->block_timeout_ms);
                c->blocked_tracks++; /* makes the queue due below batch_size (byte bound) */
                blocking = true;
            }
            pthread_cond_signal(&c->wake_worker);
            timed_out = pthread_cond_timedwait(&c->progress, &c->lock, &deadline) != 0;
        } else {
            err = SEGOPS_E_QUEUE_FULL;
            break;
        }
    }
    if (blocking) c->blocked_tracks--;
    return err;
}

/* Reports evicted events, then counts them as dropped: a flush waiting on them
 * returns only after their report, as for every other drop. */
static void report_evicted(segops_client_t *c, size_t count) {
    if (!count) return;
    segops_error_info_t info = {SEGOPS_E_QUEUE_FULL, 0, count,
                                "the queue was full; the oldest events were dropped",
                                SEGOPS_DROP_QUEUE_OVERFLOW};
    segops__report(c->cfg, &info);
    pthread_mutex_lock(&c->lock);
    c->evicting -= count;
    c->stats.dropped_queue_overflow += count;
    pthread_cond_broadcast(&c->progress);
    pthread_mutex_unlock(&c->lock);
}

/* A full batch is queued: wake the worker, unless it naps after a send (it
 * wakes itself then). Under the lock, so the worker cannot miss it between
 * collecting the lanes and waiting. */
static void wake_for_batch(segops_client_t *c) {
    pthread_mutex_lock(&c->lock);
    if (!c->worker_napping) pthread_cond_signal(&c->wake_worker);
    pthread_mutex_unlock(&c->lock);
}

/* track's fast path: append to this thread's lane, under that lane's lock only.
 * False when the lane is closed, the queue is full or memory ran out: the
 * caller then takes the client lock and the overflow policy decides. */
static bool track_in_lane(segops_client_t *c, const segops__event_plan_t *plan) {
    segops__lane_t *lane = segops__lane_of_this_thread(c->lanes);
    pthread_mutex_lock(&lane->lock);
    size_t queued = lane->open ? segops__client_reserve(c, plan->len) : 0;
    segops__event_t *event = queued ? segops__event_pool_alloc(&lane->pool, plan->len) : NULL;
    if (!event) {
        if (queued) segops__client_unreserve(c, 1, plan->len);
        pthread_mutex_unlock(&lane->lock);
        return false;
    }
    segops__event_encode(plan, event);
    segops__queue_push(&lane->queue, event);
    pthread_mutex_unlock(&lane->lock);
    if (queued == c->cfg->batch_size) wake_for_batch(c);
    return true;
}

segops_err_t segops_track_event(segops_client_t *c, const segops_event_t *ev) {
    if (!c) return SEGOPS_E_INVALID_ARG;
    segops__event_plan_t plan;
    segops_err_t err =
        segops__event_prepare(ev, c->cfg->max_event_bytes, segops__clock_realtime_ms(), &plan);
    if (err != SEGOPS_OK) return reject(c, err);
    if (!c->cfg->batch) return track_sync(c, &plan);
    if (track_in_lane(c, &plan)) return SEGOPS_OK;

    size_t queued = 0, evicted = 0;
    segops__event_t *event = NULL;
    pthread_mutex_lock(&c->lock);
    err = c->stopping ? SEGOPS_E_STATE : ensure_worker(c);
    if (err == SEGOPS_OK) err = make_room(c, plan.len, &queued, &evicted);
    if (err == SEGOPS_OK && !(event = segops__event_pool_alloc(&c->pool, plan.len))) {
        segops__client_unreserve(c, 1, plan.len);
        err = SEGOPS_E_NOMEM;
    }
    if (err != SEGOPS_OK) {
        count_rejection(c, err);
        pthread_mutex_unlock(&c->lock);
        report_evicted(c, evicted);
        return err;
    }
    segops__event_encode(&plan, event);
    segops__client_collect(c); /* this thread's earlier events go first */
    segops__queue_push(&c->queue, event);
    c->stats.enqueued++;
    /* Wake the worker only when the queue reaches a batch, not per event, and
     * after unlocking: a worker woken under the lock would block on it at once. */
    bool wake = queued == c->cfg->batch_size && !c->worker_napping;
    pthread_mutex_unlock(&c->lock);
    if (wake) pthread_cond_signal(&c->wake_worker);
    report_evicted(c, evicted);
    return SEGOPS_OK;
}

segops_err_t segops_track(segops_client_t *c, const char *user_id, const char *event_type,
                          const char *payload_json) {
    segops_event_t ev = {user_id, event_type, payload_json, NULL, NULL};
    return segops_track_event(c, &ev);
}

segops_err_t segops_identify(segops_client_t *c, const char *user_id, const char *traits_json) {
    return segops_track(c, user_id, "context_identified", traits_json);
}

/* The queue position of the oldest event not yet settled. Lock held. */
static uint64_t oldest_unsettled(const segops_client_t *c) {
    return c->inflight ? c->inflight_first : c->queue.popped;
}

/* Waits (lock held) until every event before `target` is settled or the
 * monotonic deadline (0 = none) passes. */
static segops_err_t wait_settled(segops_client_t *c, uint64_t target, int64_t deadline) {
    struct timespec ts = segops__clock_deadline_ts(deadline);
    /* Evicted events may be older than target; they settle once reported. */
    while (oldest_unsettled(c) < target || c->evicting) {
        if (!deadline)
            pthread_cond_wait(&c->progress, &c->lock);
        else if (pthread_cond_timedwait(&c->progress, &c->lock, &ts) != 0 &&
                 (oldest_unsettled(c) < target || c->evicting))
            return SEGOPS_E_TIMEOUT;
    }
    return SEGOPS_OK;
}

static int64_t deadline_after(int timeout_ms) {
    return timeout_ms < 0 ? 0 : segops__clock_monotonic_ms() + timeout_ms;
}

segops_err_t segops_flush(segops_client_t *c, int timeout_ms) {
    if (!c) return SEGOPS_E_INVALID_ARG;
    if (segops__in_callback()) return SEGOPS_E_STATE;
    int64_t deadline = deadline_after(timeout_ms);
    pthread_mutex_lock(&c->lock);
    if (c->stopping) {
        pthread_mutex_unlock(&c->lock);
        return SEGOPS_E_STATE;
    }
    segops_err_t started = ensure_worker(c);
    if (started != SEGOPS_OK) {
        pthread_mutex_unlock(&c->lock);
        return started;
    }
    segops__client_collect(c);
    uint64_t target = c->queue.pushed;
    if (target > c->drain_upto) {
        c->drain_upto = target;
        c->wake_generation++;
        pthread_cond_broadcast(&c->wake_worker);
    }
    segops_err_t err = wait_settled(c, target, deadline);
    pthread_mutex_unlock(&c->lock);
    return err;
}

segops_err_t segops_shutdown(segops_client_t *c, int timeout_ms) {
    if (!c) return SEGOPS_E_INVALID_ARG;
    if (segops__in_callback()) return SEGOPS_E_STATE;
    pthread_mutex_lock(&c->lock);
    if (c->stopping) { /* idempotent: a second caller waits for the first to finish */
        while (!c->stopped) pthread_cond_wait(&c->progress, &c->lock);
        pthread_mutex_unlock(&c->lock);
        return SEGOPS_OK;
    }
    c->stopping = true;
    /* Closed lanes send track to the lock, which refuses it now; what the lanes
     * hold joins the queue, all before the worker can see `stopping`. */
    segops__lanes_set_open(c->lanes, false);
    segops__client_collect(c);
    c->stop_deadline = deadline_after(timeout_ms);
    c->drain_upto = c->queue.pushed;
    c->wake_generation++;
    uint64_t dropped_before = c->stats.dropped_shutdown;
    segops__transport_t *sync_transport = c->sync_transport;
    pthread_cond_broadcast(&c->wake_worker);
    pthread_cond_broadcast(&c->progress);
    pthread_mutex_unlock(&c->lock);

    /* A transfer in flight must end at the deadline, not at its own timeout. */
    if (c->stop_deadline) {
        if (c->worker_transport)
            segops__transport_set_deadline(c->worker_transport, c->stop_deadline);
        if (sync_transport) segops__transport_set_deadline(sync_transport, c->stop_deadline);
    }
    if (c->worker_started) pthread_join(c->worker, NULL);

    pthread_mutex_lock(&c->lock);
    /* Every send a track call began (batch = false) and every eviction being
     * reported settles before shutdown returns; the deadline bounds the sends. */
    while (c->sync_inflight || c->evicting) pthread_cond_wait(&c->progress, &c->lock);
    c->stopped = true;
    bool dropped = c->stats.dropped_shutdown > dropped_before;
    pthread_cond_broadcast(&c->progress);
    pthread_mutex_unlock(&c->lock);
    return dropped ? SEGOPS_E_TIMEOUT : SEGOPS_OK;
}

void segops_client_free(segops_client_t *c) {
    if (!c || segops__in_callback()) return;
    segops_shutdown(c, -1);
    client_destroy(c);
}

segops_err_t segops_client_stats(segops_client_t *c, segops_stats_t *out) {
    if (!c || !out) return SEGOPS_E_INVALID_ARG;
    pthread_mutex_lock(&c->lock);
    segops__client_collect(c); /* every accepted event is counted, once */
    *out = c->stats;
    out->pending = c->queue.count + c->inflight + c->sync_inflight + c->evicting;
    out->pending_bytes = c->queue.bytes + c->inflight_bytes;
    out->token_mints = c->tokens ? segops__token_mints(c->tokens) : 0;
    pthread_mutex_unlock(&c->lock);
    out->dropped = out->dropped_queue_overflow + out->dropped_too_large + out->dropped_rejected +
                   out->dropped_retries_exhausted + out->dropped_shutdown + out->dropped_skipped;
    return SEGOPS_OK;
}

/* ---- services for the worker and the delivery pipeline ---- */

void segops__client_note_request(segops_client_t *c, size_t body_bytes, bool is_retry,
                                 long new_connections) {
    pthread_mutex_lock(&c->lock);
    c->stats.requests++;
    if (new_connections > 0) c->stats.connections += (uint64_t)new_connections;
    c->stats.bytes_sent += body_bytes;
    if (is_retry) c->stats.retries++;
    pthread_mutex_unlock(&c->lock);
}

static void count_drop(segops_stats_t *st, segops_drop_reason_t reason, uint64_t n) {
    switch (reason) {
    case SEGOPS_DROP_QUEUE_OVERFLOW: st->dropped_queue_overflow += n; break;
    case SEGOPS_DROP_TOO_LARGE: st->dropped_too_large += n; break;
    case SEGOPS_DROP_RETRIES_EXHAUSTED: st->dropped_retries_exhausted += n; break;
    case SEGOPS_DROP_SHUTDOWN: st->dropped_shutdown += n; break;
    case SEGOPS_DROP_SKIPPED: st->dropped_skipped += n; break;
    case SEGOPS_DROP_REJECTED:
    case SEGOPS_DROP_NONE:
    default: st->dropped_rejected += n; break;
    }
}

void segops__client_settle(segops_client_t *c, bool from_queue, size_t delivered,
                           const segops__drop_t *drop, bool report, size_t bytes) {
    /* Report before counting: whoever waits for these events to settle (flush)
     * then also sees their report. */
    if (drop && report) {
        segops_error_info_t info = {drop->code, drop->http_status, drop->count, drop->message,
                                    drop->reason};
        segops__report(c->cfg, &info);
    }
    size_t n = delivered + (drop ? drop->count : 0);
    pthread_mutex_lock(&c->lock);
    c->stats.delivered += delivered;
    if (drop) count_drop(&c->stats, drop->reason, drop->count);
    if (from_queue) {
        c->inflight -= n;
        c->inflight_first += n;
        c->inflight_bytes -= SEGOPS__MIN(bytes, c->inflight_bytes);
    } else {
        c->sync_inflight -= n;
    }
    pthread_cond_broadcast(&c->progress);
    pthread_mutex_unlock(&c->lock);
}

/* ---- fork (see fork.h) ---- */

void segops__client_fork_prepare(segops_client_t *c) {
    pthread_mutex_lock(&c->lock);
    segops__lanes_lock_all(c->lanes);
    if (c->tokens) segops__token_fork_prepare(c->tokens);
}

void segops__client_fork_parent(segops_client_t *c) {
    if (c->tokens) segops__token_fork_parent(c->tokens);
    segops__lanes_unlock_all(c->lanes);
    pthread_mutex_unlock(&c->lock);
}

void segops__client_fork_child(segops_client_t *c) {
    /* The parent's queued events are the parent's to deliver: forget them here
     * (releasing is safe: the prepare step held the lock, so the queue is whole).
     * In-flight events belong to the parent's worker, which does not exist in
     * the child; their copies are unreachable and left alone. */
    segops__lanes_unlock_all(c->lanes);
    segops__client_collect(c);
    segops__queue_clear(&c->queue);
    segops__queue_init(&c->queue);
    atomic_store(&c->queued, 0);
    segops__lanes_set_open(c->lanes, false); /* until this child's worker runs */
    memset(&c->stats, 0, sizeof c->stats);
    c->inflight = c->inflight_bytes = c->sync_inflight = c->evicting = 0;
    c->inflight_first = c->drain_upto = c->wake_generation = 0;
    c->blocked_tracks = 0; /* the parent's waiting threads do not exist here */
    c->worker_napping = false;
    c->worker_walking = false; /* what it left to release stays with the parent */
    /* Never use or clean up the parent's curl handles here: that could end the
     * parent's TLS session. Only the child's copies of their descriptors are
     * closed. The child makes its own transports on first use. */
    segops__transport_abandon_in_child(c->worker_transport);
    segops__transport_abandon_in_child(c->sync_transport);
    c->worker_transport = NULL;
    c->sync_transport = NULL;
    c->worker_started = false;
    if (c->stopping) c->stopped = true;      /* no worker will finish a shutdown here */
    pthread_mutex_init(&c->sync_lock, NULL); /* a parent thread may have held it mid-send */
    cond_init_monotonic(&c->wake_worker);
    cond_init_monotonic(&c->progress);
    if (c->tokens) segops__token_fork_child(c->tokens);
    pthread_mutex_unlock(&c->lock);
}

bool segops__client_past_deadline(segops_client_t *c) {
    pthread_mutex_lock(&c->lock);
    bool past = c->stop_deadline && segops__clock_monotonic_ms() >= c->stop_deadline;
    pthread_mutex_unlock(&c->lock);
    return past;
}

uint64_t segops__client_generation(segops_client_t *c) {
    pthread_mutex_lock(&c->lock);
    uint64_t generation = c->wake_generation;
    pthread_mutex_unlock(&c->lock);
    return generation;
}

bool segops__client_sleep(segops_client_t *c, int64_t until, bool flush_cuts, uint64_t generation) {
    pthread_mutex_lock(&c->lock);
    bool ok = true;
    for (;;) {
        int64_t now = segops__clock_monotonic_ms();
        if (c->stop_deadline && now >= c->stop_deadline) {
            ok = false;
            break;
        }
        if (now >= until || (flush_cuts && c->wake_generation != generation)) break;
        int64_t wake = c->stop_deadline ? SEGOPS__MIN(until, c->stop_deadline) : until;
        struct timespec ts = segops__clock_deadline_ts(wake);
        pthread_cond_timedwait(&c->wake_worker, &c->lock, &ts);
    }
    pthread_mutex_unlock(&c->lock);
    return ok;
}
