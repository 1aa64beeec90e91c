/* Wake-ups, flush generations, the stop deadline and interruptible sleeps. */
#include "gate.h"

#include <pthread.h>

#include "clock.h"

struct segops__gate {
    pthread_mutex_t lock;
    pthread_cond_t worker;   /* the worker's idle wait */
    pthread_cond_t sleepers; /* backoff sleeps and shutdown waiters */
    uint64_t epoch;
    uint64_t drain_upto;
    uint64_t generation;
    bool stopping;
    segops__deadline_t deadline; /* the stop's; none before it */
    bool finished;
    segops_err_t result;
    segops__fork_hook_t fork_hook;
};

static void fork_prepare(void *arg) { pthread_mutex_lock(&((segops__gate_t *)arg)->lock); }
static void fork_parent(void *arg) { pthread_mutex_unlock(&((segops__gate_t *)arg)->lock); }

static void fork_child(void *arg) {
    segops__gate_t *g = arg;
    /* Waiters on these condition variables were threads of the parent. */
    segops__clock_cond_init(&g->worker);
    segops__clock_cond_init(&g->sleepers);
    g->drain_upto = g->generation = 0;
    /* A child of a stopping client never runs its shutdown: it is finished. */
    if (g->stopping && !g->finished) {
        g->finished = true;
        g->result = SEGOPS_OK;
    }
    pthread_mutex_unlock(&g->lock);
}

segops_err_t segops__gate_new(segops__gate_t **out) {
    segops__gate_t *g = segops__calloc(1, sizeof *g);
    *out = g;
    if (!g) return SEGOPS_E_NOMEM;
    pthread_mutex_init(&g->lock, NULL);
    segops__clock_cond_init(&g->worker);
    segops__clock_cond_init(&g->sleepers);
    g->deadline = segops__deadline_none();
    g->fork_hook = (segops__fork_hook_t){fork_prepare, fork_parent, fork_child, g, NULL, NULL};
    return SEGOPS_OK;
}

void segops__gate_free(segops__gate_t *g) {
    if (!g) return;
    pthread_cond_destroy(&g->worker);
    pthread_cond_destroy(&g->sleepers);
    pthread_mutex_destroy(&g->lock);
    segops__free(g);
}

segops__fork_hook_t *segops__gate_fork_hook(segops__gate_t *g) { return &g->fork_hook; }

uint64_t segops__gate_epoch(segops__gate_t *g) {
    pthread_mutex_lock(&g->lock);
    uint64_t epoch = g->epoch;
    pthread_mutex_unlock(&g->lock);
    return epoch;
}

void segops__gate_kick(segops__gate_t *g) {
    pthread_mutex_lock(&g->lock);
    g->epoch++;
    pthread_mutex_unlock(&g->lock);
    pthread_cond_signal(&g->worker);
}

void segops__gate_wait(segops__gate_t *g, uint64_t epoch, segops__deadline_t until) {
    pthread_mutex_lock(&g->lock);
    while (g->epoch == epoch &&
           segops__clock_cond_wait(&g->worker, &g->lock,
                                   segops__deadline_earliest(until, g->deadline))) {
    }
    pthread_mutex_unlock(&g->lock);
}

/* Lock held: a flush or stop wakes the worker and cuts backoffs. */
static void wake_all(segops__gate_t *g) {
    g->epoch++;
    g->generation++;
    pthread_cond_signal(&g->worker);
    pthread_cond_broadcast(&g->sleepers);
}

void segops__gate_request_drain(segops__gate_t *g, uint64_t upto) {
    pthread_mutex_lock(&g->lock);
    g->drain_upto = SEGOPS__MAX(g->drain_upto, upto);
    /* Always, even when drain_upto did not move: events older than this flush
     * may be in a backoff after the interval tick or an earlier flush sent them. */
    wake_all(g);
    pthread_mutex_unlock(&g->lock);
}

uint64_t segops__gate_drain_upto(segops__gate_t *g) {
    pthread_mutex_lock(&g->lock);
    uint64_t upto = g->drain_upto;
    pthread_mutex_unlock(&g->lock);
    return upto;
}

uint64_t segops__gate_generation(segops__gate_t *g) {
    pthread_mutex_lock(&g->lock);
    uint64_t generation = g->generation;
    pthread_mutex_unlock(&g->lock);
    return generation;
}

bool segops__gate_stop(segops__gate_t *g, segops__deadline_t deadline) {
    pthread_mutex_lock(&g->lock);
    bool first = !g->stopping;
    if (first) {
        g->stopping = true;
        g->deadline = deadline;
        wake_all(g);
    }
    pthread_mutex_unlock(&g->lock);
    return first;
}

bool segops__gate_stopping(segops__gate_t *g) {
    pthread_mutex_lock(&g->lock);
    bool stopping = g->stopping;
    pthread_mutex_unlock(&g->lock);
    return stopping;
}

bool segops__gate_past_deadline(segops__gate_t *g) {
    pthread_mutex_lock(&g->lock);
    bool passed = segops__deadline_expired(g->deadline, segops__clock_monotonic_ms());
    pthread_mutex_unlock(&g->lock);
    return passed;
}

void segops__gate_finish(segops__gate_t *g, segops_err_t result) {
    pthread_mutex_lock(&g->lock);
    g->finished = true;
    g->result = result;
    pthread_cond_broadcast(&g->sleepers);
    pthread_mutex_unlock(&g->lock);
}

bool segops__gate_await_finish(segops__gate_t *g, segops__deadline_t deadline,
                               segops_err_t *result) {
    pthread_mutex_lock(&g->lock);
    while (!g->finished && segops__clock_cond_wait(&g->sleepers, &g->lock, deadline)) {
    }
    bool finished = g->finished;
    *result = g->result;
    pthread_mutex_unlock(&g->lock);
    return finished;
}

bool segops__gate_sleep(segops__gate_t *g, segops__deadline_t until, bool flush_cuts,
                        uint64_t generation) {
    pthread_mutex_lock(&g->lock);
    bool ok = true;
    for (;;) {
        int64_t now = segops__clock_monotonic_ms();
        if (segops__deadline_expired(g->deadline, now)) {
            ok = false;
            break;
        }
        if (segops__deadline_expired(until, now) || (flush_cuts && g->generation != generation))
            break;
        segops__clock_cond_wait(&g->sleepers, &g->lock,
                                segops__deadline_earliest(until, g->deadline));
    }
    pthread_mutex_unlock(&g->lock);
    return ok;
}
