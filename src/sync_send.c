/* Synchronous sends: a pool of transports, one per concurrent call. */
#include "sync_send.h"

#include <pthread.h>

#include "clock.h"
#include "event_pool.h"
#include "last_error.h"

/* Idle transports kept for reuse (their connections stay alive); more
 * concurrent calls than this make and free their own. */
#define IDLE_KEPT 8

typedef struct slot {
    segops__transport_t *transport;
    segops__deadline_t deadline; /* of the call using it; none while idle */
    struct slot *next;
} slot_t;

struct segops__sync {
    const segops__deliver_ctx_t *ctx;
    pthread_mutex_t lock;
    slot_t *idle; /* free transports */
    slot_t *busy; /* transports of calls in progress */
    size_t idle_count;
    bool stopping;                    /* sends are refused from now on */
    segops__deadline_t stop_deadline; /* none until the stop */
    segops__event_pool_t pool;        /* event memory, under lock */
    segops__fork_hook_t fork_hook;
};

static void unlink_slot(slot_t **list, slot_t *slot) {
    for (slot_t **p = list; *p; p = &(*p)->next)
        if (*p == slot) {
            *p = slot->next;
            return;
        }
}

static void free_list(slot_t *slot, bool abandon) {
    while (slot) {
        slot_t *next = slot->next;
        if (abandon)
            segops__transport_abandon_in_child(slot->transport);
        else
            segops__transport_free(slot->transport);
        segops__free(slot);
        slot = next;
    }
}

static void fork_prepare(void *arg) { pthread_mutex_lock(&((segops__sync_t *)arg)->lock); }
static void fork_parent(void *arg) { pthread_mutex_unlock(&((segops__sync_t *)arg)->lock); }

static void fork_child(void *arg) {
    segops__sync_t *sync = arg;
    /* Never use or clean up the parent's curl handles here: that could end the
     * parent's TLS sessions. Close our copies of their descriptors only. Events
     * of the parent's calls in progress are the parent's. */
    free_list(sync->idle, true);
    free_list(sync->busy, true);
    sync->idle = sync->busy = NULL;
    sync->idle_count = 0;
    pthread_mutex_unlock(&sync->lock);
}

segops_err_t segops__sync_new(const segops__deliver_ctx_t *ctx, segops__sync_t **out) {
    segops__sync_t *sync = segops__calloc(1, sizeof *sync);
    *out = sync;
    if (!sync) return SEGOPS_E_NOMEM;
    sync->ctx = ctx;
    sync->stop_deadline = segops__deadline_none();
    pthread_mutex_init(&sync->lock, NULL);
    segops__event_pool_init(&sync->pool);
    sync->fork_hook =
        (segops__fork_hook_t){fork_prepare, fork_parent, fork_child, sync, NULL, NULL};
    return SEGOPS_OK;
}

void segops__sync_free(segops__sync_t *sync) {
    if (!sync) return;
    free_list(sync->idle, false);
    free_list(sync->busy, false);
    segops__event_pool_destroy(&sync->pool);
    pthread_mutex_destroy(&sync->lock);
    segops__free(sync);
}

segops__fork_hook_t *segops__sync_fork_hook(segops__sync_t *sync) { return &sync->fork_hook; }

/* A transport for one call, its deadline set. NULL when none could be made. */
static slot_t *acquire(segops__sync_t *sync, segops__deadline_t deadline, segops_err_t *err) {
    pthread_mutex_lock(&sync->lock);
    slot_t *slot = sync->idle;
    if (slot) {
        sync->idle = slot->next;
        sync->idle_count--;
    }
    pthread_mutex_unlock(&sync->lock);
    if (!slot) {
        if (!(slot = segops__calloc(1, sizeof *slot))) {
            *err = SEGOPS_E_NOMEM;
            return NULL;
        }
        if ((*err = segops__transport_new(sync->ctx->cfg, &slot->transport)) != SEGOPS_OK) {
            segops__free(slot);
            return NULL;
        }
    }
    pthread_mutex_lock(&sync->lock);
    slot->deadline = deadline;
    slot->next = sync->busy;
    sync->busy = slot;
    /* Set under the lock, so a concurrent stop cannot be overwritten. */
    segops__transport_set_deadline(slot->transport,
                                   segops__deadline_earliest(deadline, sync->stop_deadline));
    pthread_mutex_unlock(&sync->lock);
    return slot;
}

static void release(segops__sync_t *sync, slot_t *slot) {
    pthread_mutex_lock(&sync->lock);
    unlink_slot(&sync->busy, slot);
    bool keep = sync->idle_count < IDLE_KEPT;
    if (keep) {
        slot->deadline = segops__deadline_none();
        segops__transport_set_deadline(slot->transport, sync->stop_deadline);
        slot->next = sync->idle;
        sync->idle = slot;
        sync->idle_count++;
    }
    pthread_mutex_unlock(&sync->lock);
    if (!keep) {
        segops__transport_free(slot->transport);
        segops__free(slot);
    }
}

segops_err_t segops__sync_send(segops__sync_t *sync, const segops__event_plan_t *plan) {
    const segops__deliver_ctx_t *ctx = sync->ctx;
    segops__deadline_t deadline =
        segops__deadline_after(segops__clock_monotonic_ms(), ctx->cfg->sync_timeout_ms);
    segops_err_t err = SEGOPS_OK;
    slot_t *slot = acquire(sync, deadline, &err);
    if (!slot) {
        segops__fail(err, "segops_track: %s",
                     err == SEGOPS_E_NOMEM ? "out of memory for a connection"
                                           : "could not set up a connection (libcurl)");
        return segops__ledger_reject(ctx->ledger, err);
    }
    /* Refused or accepted under the lock segops__sync_stop takes: shutdown then
     * waits for every send accepted before it (ledger_wait_quiet). */
    pthread_mutex_lock(&sync->lock);
    segops__event_t *event = NULL;
    err = sync->stopping ? SEGOPS_E_STATE : SEGOPS_OK;
    if (err == SEGOPS_OK && !(event = segops__event_pool_alloc(&sync->pool, plan->len)))
        err = SEGOPS_E_NOMEM;
    if (event) {
        segops__event_encode(plan, event);
        segops__ledger_accept_sync(ctx->ledger, event->len);
    }
    pthread_mutex_unlock(&sync->lock);
    if (err != SEGOPS_OK) {
        release(sync, slot);
        segops__fail(err, "segops_track: %s",
                     err == SEGOPS_E_STATE ? "the client is shut down (segops_shutdown was called)"
                                           : "out of memory for the event");
        return segops__ledger_reject(ctx->ledger, err);
    }
    segops__sender_t sender;
    segops__sender_init(&sender, ctx, slot->transport, SEGOPS__HELD_BY_SYNC);
    sender.deadline = deadline;
    sender.full = sender.urgent = true; /* the caller waits: only the plan's limit holds it */
    segops__deliver(&sender, &event, 1);
    segops_err_t outcome = sender.outcome;
    if (outcome != SEGOPS_OK) /* the caller gets no report: the reason is all it has */
        segops__fail(outcome, "segops_track: not delivered: %s", sender.outcome_message);
    segops__sender_release(&sender);
    release(sync, slot);
    return outcome;
}

void segops__sync_stop(segops__sync_t *sync, segops__deadline_t deadline) {
    pthread_mutex_lock(&sync->lock);
    sync->stopping = true;
    sync->stop_deadline = deadline;
    for (slot_t *slot = sync->busy; slot; slot = slot->next)
        segops__transport_set_deadline(slot->transport,
                                       segops__deadline_earliest(slot->deadline, deadline));
    pthread_mutex_unlock(&sync->lock);
}
