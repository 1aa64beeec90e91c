/* Admission's core (see admission.h; the state is in admission_state.h): the
 * queue bounds (one atomic word), admitting events to the queue, the lanes'
 * fast path, fork, and the lifecycle (open, close, the worker's view). The
 * slow path is admission_overflow.c; what leaves the queue, admission_take.c. */
#include "admission.h"

#include "admission_state.h"

#include "clock.h"
#include "residence.h"

uint64_t segops__admission_pack(size_t events, size_t bytes) {
    return (uint64_t)events << SEGOPS__QUEUED_BYTES_BITS | (uint64_t)bytes;
}

/* Reserves room for one event of len bytes; returns the events queued with it,
 * or 0 when it does not fit (nothing reserved). Checked before it is added, so
 * a refusal never inflates the count other threads test. */
size_t segops__admission_reserve(segops__admission_t *adm, size_t len) {
    uint64_t now = atomic_load_explicit(&adm->queued, memory_order_relaxed);
    for (;;) {
        uint64_t after = now + segops__admission_pack(1, len);
        uint64_t events = after >> SEGOPS__QUEUED_BYTES_BITS;
        uint64_t bytes = after & ((UINT64_C(1) << SEGOPS__QUEUED_BYTES_BITS) - 1);
        if (events > adm->cfg->max_queue_events || bytes > adm->cfg->max_queue_bytes) return 0;
        if (atomic_compare_exchange_weak_explicit(&adm->queued, &now, after, memory_order_relaxed,
                                                  memory_order_relaxed))
            return (size_t)events;
    }
}

void segops__admission_unreserve(segops__admission_t *adm, size_t n, size_t bytes) {
    atomic_fetch_sub_explicit(&adm->queued, segops__admission_pack(n, bytes), memory_order_relaxed);
}

/* Events join the queue (the lanes' when collected, or one from the slow path)
 * and the ledger accepts them; with a spool they wait for the spool thread
 * first. Lock held. */
void segops__admission_admit(segops__admission_t *adm, segops__queue_t *fresh) {
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

void segops__admission_collect_locked(segops__admission_t *adm) {
    segops__queue_t fresh;
    segops__queue_init(&fresh);
    size_t bytes = 0;
    segops__lanes_collect(adm->lanes, &fresh, &bytes);
    segops__admission_admit(adm, &fresh);
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
void segops__admission_wake_if_due(segops__admission_t *adm, size_t queued) {
    if (queued == 1 || queued == adm->cfg->batch_size || queued == SEGOPS__MAX_EVENTS_PER_REQUEST)
        segops__gate_kick(adm->gate);
}

/* With a spool: counts one more event not yet written, if the bound allows
 * (false: the caller waits on the slow path), and wakes the spool thread each
 * quarter of the bound so it writes before the bound is near. */
bool segops__admission_reserve_unwritten(segops__admission_t *adm, bool *wake) {
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
    bool room = lane->open && segops__admission_reserve_unwritten(adm, &wake_spool);
    size_t queued = room ? segops__admission_reserve(adm, plan->len) : 0;
    segops__event_t *event = queued ? segops__event_pool_alloc(&lane->pool, plan->len) : NULL;
    if (!event) {
        if (queued) segops__admission_unreserve(adm, 1, plan->len);
        if (room && adm->store) atomic_fetch_sub(&adm->unwritten_count, 1);
        pthread_mutex_unlock(&lane->lock);
        return false;
    }
    segops__event_encode(plan, event);
    segops__residence_admit(event);
    segops__queue_push(&lane->queue, event);
    pthread_mutex_unlock(&lane->lock);
    segops__admission_wake_if_due(adm, queued);
    if (wake_spool) adm->store->wake(adm->store->arg);
    return true;
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
    segops__admission_collect_locked(adm);
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
    segops__admission_collect_locked(adm);
    uint64_t pushed = adm->queue.pushed;
    pthread_mutex_unlock(&adm->lock);
    return pushed;
}

void segops__admission_state(segops__admission_t *adm, segops__queue_state_t *out) {
    pthread_mutex_lock(&adm->lock);
    segops__admission_collect_locked(adm);
    out->count = adm->queue.count;
    out->bytes = adm->queue.bytes + adm->queue.count; /* a comma each, as a request has */
    out->head = adm->queue.popped;
    out->blocked = adm->blocked > 0;
    out->unwritten = atomic_load(&adm->unwritten_count);
    pthread_mutex_unlock(&adm->lock);
}
