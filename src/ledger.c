/* Counters, positions and the one settle (see ledger.h). */
#include "ledger.h"

#include <pthread.h>
#include <stdio.h>

#include "clock.h"
#include "log.h"

/* Drop reasons have small fixed numbers (segops.h); deferred reports are kept
 * per reason. */
#define REASONS 16

typedef struct deferred {
    size_t count;
    segops__drop_t first; /* code, status and message of the first deferred group */
} deferred_t;

struct segops__ledger {
    const segops_options_t *cfg;
    pthread_mutex_t lock;
    pthread_cond_t progress; /* events settled */
    segops_stats_t stats;    /* every counter but dropped (a sum) and token_mints */
    uint64_t accepted;       /* queue positions handed out */
    uint64_t left;           /* positions that left the queue */
    /* The requests in flight: each one's unsettled events from `first` on
     * (they settle in order within a request, in any order across them). One
     * per sender, and one more for the full batch the worker takes ahead while
     * every sender is busy. */
    struct {
        uint64_t first;
        size_t count;
    } batches[SEGOPS__MAX_IN_FLIGHT + 1];
    size_t detached; /* left the queue outside a batch, not settled yet */
    size_t sync_inflight;
    size_t unwritten; /* accepted, waiting for the spool thread (no position yet) */
    size_t on_disk;   /* pending only in the spool: a flush waits for them too */
    size_t parked;    /* left in the spool at the stop: nothing waits for them */
    size_t deferred_total;
    deferred_t deferred[REASONS];
    segops__fork_hook_t fork_hook;
};

static void fork_prepare(void *arg) { pthread_mutex_lock(&((segops__ledger_t *)arg)->lock); }
static void fork_parent(void *arg) { pthread_mutex_unlock(&((segops__ledger_t *)arg)->lock); }

static void fork_child(void *arg) {
    segops__ledger_t *l = arg;
    /* The parent's events stay the parent's: the child counts its own. */
    memset(&l->stats, 0, sizeof l->stats);
    l->accepted = l->left = 0;
    memset(l->batches, 0, sizeof l->batches);
    l->detached = l->sync_inflight = l->deferred_total = 0;
    l->on_disk = l->parked = l->unwritten = 0;
    memset(l->deferred, 0, sizeof l->deferred);
    segops__clock_cond_init(&l->progress);
    pthread_mutex_unlock(&l->lock);
}

segops_err_t segops__ledger_new(const segops_options_t *cfg, segops__ledger_t **out) {
    segops__ledger_t *l = segops__calloc(1, sizeof *l);
    *out = l;
    if (!l) return SEGOPS_E_NOMEM;
    l->cfg = cfg;
    pthread_mutex_init(&l->lock, NULL);
    segops__clock_cond_init(&l->progress);
    l->fork_hook = (segops__fork_hook_t){fork_prepare, fork_parent, fork_child, l, NULL, NULL};
    return SEGOPS_OK;
}

void segops__ledger_free(segops__ledger_t *l) {
    if (!l) return;
    pthread_cond_destroy(&l->progress);
    pthread_mutex_destroy(&l->lock);
    segops__free(l);
}

segops__fork_hook_t *segops__ledger_fork_hook(segops__ledger_t *l) { return &l->fork_hook; }

void segops__ledger_accept(segops__ledger_t *l, size_t n, size_t bytes) {
    if (!n) return;
    pthread_mutex_lock(&l->lock);
    l->stats.enqueued += n;
    l->stats.pending += n;
    l->stats.pending_bytes += bytes;
    l->accepted += n;
    pthread_mutex_unlock(&l->lock);
}

void segops__ledger_accept_sync(segops__ledger_t *l, size_t bytes) {
    pthread_mutex_lock(&l->lock);
    l->stats.enqueued++;
    l->stats.pending++;
    l->stats.pending_bytes += bytes;
    l->sync_inflight++;
    pthread_mutex_unlock(&l->lock);
}

void segops__ledger_accept_unwritten(segops__ledger_t *l, size_t n, size_t bytes) {
    if (!n) return;
    pthread_mutex_lock(&l->lock);
    l->stats.enqueued += n;
    l->stats.pending += n;
    l->stats.pending_bytes += bytes;
    l->unwritten += n;
    pthread_mutex_unlock(&l->lock);
}

void segops__ledger_written(segops__ledger_t *l, size_t to_queue, size_t to_disk) {
    if (!to_queue && !to_disk) return;
    pthread_mutex_lock(&l->lock);
    l->unwritten -= to_queue + to_disk;
    l->accepted += to_queue;
    l->on_disk += to_disk;
    pthread_mutex_unlock(&l->lock);
}

void segops__ledger_recover(segops__ledger_t *l, size_t n, size_t bytes) {
    pthread_mutex_lock(&l->lock);
    l->stats.recovered += n;
    l->stats.pending += n;
    l->stats.pending_bytes += bytes;
    l->on_disk += n;
    pthread_mutex_unlock(&l->lock);
}

/* The request in flight whose unsettled events begin at pos (the oldest one
 * for SEGOPS__LEDGER_ANY_POS). Lock held. */
static size_t batch_at(const segops__ledger_t *l, uint64_t pos) {
    size_t found = 0;
    for (size_t i = 0; i < SEGOPS__ARRAY_LEN(l->batches); i++) {
        if (!l->batches[i].count) continue;
        if (l->batches[i].first == pos) return i;
        if (!l->batches[found].count || l->batches[i].first < l->batches[found].first) found = i;
    }
    return found;
}

/* Takes n events out of what `held_by` counts (pos: see settle_at). Lock held. */
static void release_hold(segops__ledger_t *l, segops__held_by_t held_by, uint64_t pos, size_t n) {
    switch (held_by) {
    case SEGOPS__HELD_BY_BATCH: {
        size_t i = batch_at(l, pos);
        l->batches[i].count -= SEGOPS__MIN(n, l->batches[i].count);
        l->batches[i].first += n;
        break;
    }
    case SEGOPS__HELD_BY_DETACHED: l->detached -= n; break;
    case SEGOPS__HELD_BY_SYNC: l->sync_inflight -= n; break;
    case SEGOPS__HELD_BY_DISK: l->on_disk -= n; break;
    case SEGOPS__HELD_BY_QUEUE: l->left += n; break;
    }
}

void segops__ledger_park(segops__ledger_t *l, segops__held_by_t held_by, size_t n) {
    segops__ledger_park_at(l, held_by, SEGOPS__LEDGER_ANY_POS, n);
}

void segops__ledger_park_at(segops__ledger_t *l, segops__held_by_t held_by, uint64_t pos,
                            size_t n) {
    if (!n) return;
    pthread_mutex_lock(&l->lock);
    release_hold(l, held_by, pos, n);
    l->parked += n;
    pthread_cond_broadcast(&l->progress);
    pthread_mutex_unlock(&l->lock);
}

uint64_t segops__ledger_left_in_spool(segops__ledger_t *l) {
    pthread_mutex_lock(&l->lock);
    uint64_t n = (uint64_t)l->parked + l->on_disk;
    pthread_mutex_unlock(&l->lock);
    return n;
}

segops_err_t segops__ledger_reject(segops__ledger_t *l, segops_err_t err) {
    pthread_mutex_lock(&l->lock);
    segops_stats_t *st = &l->stats;
    switch (err) {
    case SEGOPS_E_INVALID_JSON: st->rejected_invalid_json++; break;
    case SEGOPS_E_TOO_LARGE: st->rejected_too_large++; break;
    case SEGOPS_E_QUEUE_FULL: st->rejected_queue_full++; break;
    case SEGOPS_E_STATE: st->rejected_state++; break;
    case SEGOPS_E_NOMEM:
    case SEGOPS_E_INTERNAL: st->rejected_other++; break;
    default: st->rejected_invalid_arg++; break;
    }
    pthread_mutex_unlock(&l->lock);
    return err;
}

uint64_t segops__ledger_take(segops__ledger_t *l, size_t n, size_t bytes) {
    SEGOPS__UNUSED(bytes);
    pthread_mutex_lock(&l->lock);
    uint64_t first = l->left;
    for (size_t i = 0; i < SEGOPS__ARRAY_LEN(l->batches); i++) {
        if (l->batches[i].count) continue;
        l->batches[i].first = first;
        l->batches[i].count = n;
        break;
    }
    l->left += n;
    pthread_mutex_unlock(&l->lock);
    return first;
}

void segops__ledger_detach(segops__ledger_t *l, size_t n) {
    pthread_mutex_lock(&l->lock);
    l->left += n;
    l->detached += n;
    pthread_mutex_unlock(&l->lock);
}

uint64_t segops__ledger_accepted(segops__ledger_t *l) {
    pthread_mutex_lock(&l->lock);
    uint64_t accepted = l->accepted;
    pthread_mutex_unlock(&l->lock);
    return accepted;
}

static void count_drop(segops_stats_t *st, segops_drop_reason_t reason, uint64_t n) {
    switch (reason) {
    case SEGOPS_DROP_QUEUE_OVERFLOW: st->dropped_queue_overflow += n; break;
    case SEGOPS_DROP_TOO_LARGE: st->dropped_too_large += n; break;
    case SEGOPS_DROP_RETRIES_EXHAUSTED: st->dropped_retries_exhausted += n; break;
    case SEGOPS_DROP_SHUTDOWN: st->dropped_shutdown += n; break;
    case SEGOPS_DROP_SKIPPED: st->dropped_skipped += n; break;
    case SEGOPS_DROP_SPOOL_CORRUPT: st->dropped_spool_corrupt += n; break;
    case SEGOPS_DROP_EXPIRED: st->dropped_expired += n; break;
    case SEGOPS_DROP_REJECTED:
    case SEGOPS_DROP_NONE:
    default: st->dropped_rejected += n; break;
    }
}

/* Counts settled events and wakes waiters. Lock held. */
static void count_settled(segops__ledger_t *l, segops__held_by_t held_by, uint64_t pos,
                          size_t delivered, const segops__drop_t *drop, size_t bytes) {
    size_t dropped = drop ? drop->count : 0, n = delivered + dropped;
    l->stats.delivered += delivered;
    if (dropped) count_drop(&l->stats, drop->reason, dropped);
    l->stats.pending -= n;
    l->stats.pending_bytes -= SEGOPS__MIN((uint64_t)bytes, l->stats.pending_bytes);
    release_hold(l, held_by, pos, n);
    pthread_cond_broadcast(&l->progress);
}

static void report(segops__ledger_t *l, const segops__drop_t *drop) {
    segops_error_info_t info = {drop->code, drop->http_status, drop->count, drop->message,
                                drop->reason};
    segops__report(l->cfg, &info);
}

bool segops__ledger_settle(segops__ledger_t *l, segops__held_by_t held_by, size_t delivered,
                           const segops__drop_t *drop, size_t bytes) {
    return segops__ledger_settle_at(l, held_by, SEGOPS__LEDGER_ANY_POS, delivered, drop, bytes);
}

bool segops__ledger_settle_at(segops__ledger_t *l, segops__held_by_t held_by, uint64_t pos,
                              size_t delivered, const segops__drop_t *drop, size_t bytes) {
    if (drop && !drop->count) drop = NULL;
    if (drop && held_by != SEGOPS__HELD_BY_SYNC) {
        if (segops__in_callback()) {
            /* Kept pending, so a flush still waits for its report. */
            pthread_mutex_lock(&l->lock);
            deferred_t *d = &l->deferred[(unsigned)drop->reason % REASONS];
            if (!d->count) d->first = *drop;
            d->count += drop->count;
            l->deferred_total += drop->count;
            l->stats.delivered += delivered;
            l->stats.pending -= delivered;
            l->stats.pending_bytes -= SEGOPS__MIN((uint64_t)bytes, l->stats.pending_bytes);
            if (held_by != SEGOPS__HELD_BY_DETACHED) { /* still pending, now detached */
                release_hold(l, held_by, pos, delivered + drop->count);
                l->detached += drop->count;
            }
            pthread_cond_broadcast(&l->progress);
            pthread_mutex_unlock(&l->lock);
            return true;
        }
        report(l, drop);
    }
    pthread_mutex_lock(&l->lock);
    count_settled(l, held_by, pos, delivered, drop, bytes);
    pthread_mutex_unlock(&l->lock);
    return false;
}

void segops__ledger_report_deferred(segops__ledger_t *l) {
    for (unsigned reason = 0; reason < REASONS; reason++) {
        pthread_mutex_lock(&l->lock);
        if (!l->deferred_total) {
            pthread_mutex_unlock(&l->lock);
            return;
        }
        deferred_t d = l->deferred[reason];
        l->deferred[reason].count = 0;
        pthread_mutex_unlock(&l->lock);
        if (!d.count) continue;
        d.first.count = d.count;
        report(l, &d.first);
        pthread_mutex_lock(&l->lock);
        l->deferred_total -= d.count;
        /* Their bytes left pending_bytes when they were deferred. */
        count_settled(l, SEGOPS__HELD_BY_DETACHED, 0, 0, &d.first, 0);
        pthread_mutex_unlock(&l->lock);
    }
}

/* True while an event before `target` is unsettled. Lock held. */
static bool unsettled_before(const segops__ledger_t *l, uint64_t target) {
    if (l->left < target || l->detached || l->on_disk) return true;
    for (size_t i = 0; i < SEGOPS__ARRAY_LEN(l->batches); i++)
        if (l->batches[i].count && l->batches[i].first < target) return true;
    return false;
}

segops_err_t segops__ledger_wait_settled(segops__ledger_t *l, uint64_t target,
                                         segops__deadline_t deadline) {
    pthread_mutex_lock(&l->lock);
    while (unsettled_before(l, target) &&
           segops__clock_cond_wait(&l->progress, &l->lock, deadline)) {
    }
    segops_err_t err = unsettled_before(l, target) ? SEGOPS_E_TIMEOUT : SEGOPS_OK;
    pthread_mutex_unlock(&l->lock);
    return err;
}

void segops__ledger_wait_quiet(segops__ledger_t *l) {
    pthread_mutex_lock(&l->lock);
    while (l->sync_inflight || l->detached) {
        if (l->deferred_total) {
            pthread_mutex_unlock(&l->lock);
            segops__ledger_report_deferred(l);
            pthread_mutex_lock(&l->lock);
            continue;
        }
        pthread_cond_wait(&l->progress, &l->lock);
    }
    pthread_mutex_unlock(&l->lock);
}

void segops__ledger_note_request(segops__ledger_t *l, size_t body_bytes, bool is_retry,
                                 long new_connections) {
    pthread_mutex_lock(&l->lock);
    l->stats.requests++;
    if (new_connections > 0) l->stats.connections += (uint64_t)new_connections;
    l->stats.bytes_sent += body_bytes;
    if (is_retry) l->stats.retries++;
    pthread_mutex_unlock(&l->lock);
}

void segops__ledger_snapshot(segops__ledger_t *l, segops_stats_t *out) {
    pthread_mutex_lock(&l->lock);
    *out = l->stats;
    pthread_mutex_unlock(&l->lock);
    out->dropped = out->dropped_queue_overflow + out->dropped_too_large + out->dropped_rejected +
                   out->dropped_retries_exhausted + out->dropped_shutdown + out->dropped_skipped +
                   out->dropped_spool_corrupt + out->dropped_expired;
}

uint64_t segops__ledger_dropped_shutdown(segops__ledger_t *l) {
    pthread_mutex_lock(&l->lock);
    uint64_t n = l->stats.dropped_shutdown;
    pthread_mutex_unlock(&l->lock);
    return n;
}
