/* One request probes a failing server for all (see probe.h). */
#include "probe.h"

#include <pthread.h>

struct segops__probe {
    pthread_mutex_t lock;
    bool failing;       /* the last answer was a transient failure */
    bool held;          /* a sender is probing now */
    int64_t not_before; /* the backoff the failures asked for ... */
    int64_t floor_at;   /* ... which a flush after this generation cuts to this */
    uint64_t generation;
    segops__fork_hook_t fork_hook;
};

static void fork_prepare(void *arg) { pthread_mutex_lock(&((segops__probe_t *)arg)->lock); }
static void fork_parent(void *arg) { pthread_mutex_unlock(&((segops__probe_t *)arg)->lock); }

static void fork_child(void *arg) {
    segops__probe_t *p = arg;
    p->failing = p->held = false; /* the child's senders learn for themselves */
    p->not_before = p->floor_at = 0;
    pthread_mutex_unlock(&p->lock);
}

segops_err_t segops__probe_new(segops__probe_t **out) {
    segops__probe_t *p = segops__calloc(1, sizeof *p);
    *out = p;
    if (!p) return SEGOPS_E_NOMEM;
    pthread_mutex_init(&p->lock, NULL);
    p->fork_hook = (segops__fork_hook_t){fork_prepare, fork_parent, fork_child, p, NULL, NULL};
    return SEGOPS_OK;
}

void segops__probe_free(segops__probe_t *p) {
    if (!p) return;
    pthread_mutex_destroy(&p->lock);
    segops__free(p);
}

segops__fork_hook_t *segops__probe_fork_hook(segops__probe_t *p) { return &p->fork_hook; }

bool segops__probe_try_begin(segops__probe_t *p, int64_t now_ms, uint64_t flush_generation,
                             bool *probing, int64_t *retry_at) {
    pthread_mutex_lock(&p->lock);
    int64_t until = flush_generation != p->generation ? p->floor_at : p->not_before;
    bool go = !p->failing || (!p->held && now_ms >= until);
    *probing = go && p->failing;
    if (*probing) p->held = true;
    if (!go) *retry_at = p->held ? now_ms + SEGOPS__PROBE_POLL_MS : until;
    pthread_mutex_unlock(&p->lock);
    return go;
}

void segops__probe_end(segops__probe_t *p, bool probing, bool failed, int64_t retry_at,
                       int64_t floor_at, uint64_t flush_generation) {
    pthread_mutex_lock(&p->lock);
    if (probing) p->held = false;
    if (failed) {
        if (!p->failing || retry_at >= p->not_before) {
            p->not_before = retry_at;
            p->floor_at = SEGOPS__MIN(floor_at, retry_at);
            p->generation = flush_generation;
        }
        p->failing = true;
    } else {
        p->failing = false;
    }
    pthread_mutex_unlock(&p->lock);
}

void segops__probe_abandon(segops__probe_t *p, bool probing) {
    if (!probing) return;
    pthread_mutex_lock(&p->lock);
    p->held = false;
    pthread_mutex_unlock(&p->lock);
}

bool segops__probe_failing(segops__probe_t *p) {
    pthread_mutex_lock(&p->lock);
    bool failing = p->failing;
    pthread_mutex_unlock(&p->lock);
    return failing;
}
