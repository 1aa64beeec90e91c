/* See plan.h. A sliding log: the arrival time of every counted call still in
 * the window, so the Retry-After is exact rather than a fixed-bucket guess. */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

static int64_t call_at(const devsrv__plan_t *p, size_t i) {
    return p->calls[(p->head + i) % p->cap];
}

/* Appends a counted call. Out of memory loses the count (logged by no one: a
 * test server that cannot allocate 8 bytes has bigger problems). */
static void push_call(devsrv__plan_t *p, int64_t t) {
    if (p->len == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        int64_t *v = malloc(cap * sizeof *v);
        if (!v) return;
        for (size_t i = 0; i < p->len; i++) v[i] = call_at(p, i);
        free(p->calls);
        p->calls = v;
        p->cap = cap;
        p->head = 0;
    }
    p->calls[(p->head + p->len) % p->cap] = t;
    p->len++;
}

/* Forgets calls that left the window: a call made at t counts during [t, t + window). */
static void prune(devsrv__plan_t *p, int64_t now_ms) {
    while (p->len > 0 && call_at(p, 0) <= now_ms - (int64_t)p->window_ms) {
        p->head = (p->head + 1) % p->cap;
        p->len--;
    }
}

void devsrv__plan_set_limit(devsrv__plan_t *p, uint32_t limit, uint32_t window_ms) {
    p->limit = limit;
    p->window_ms = window_ms ? window_ms : DEVSRV__PLAN_DEFAULT_WINDOW_MS;
}

void devsrv__plan_set_refuse_every(devsrv__plan_t *p, uint32_t k) {
    p->refuse_every = k;
    p->batches_seen = 0;
}

devsrv__verdict_t devsrv__plan_admit(devsrv__plan_t *p, bool mint, int64_t now_ms,
                                     uint32_t *retry_after_s) {
    *retry_after_s = 0;
    if (mint && p->ignores_mints) return DEVSRV__ADMITTED;
    if (p->limit > 0) prune(p, now_ms);

    if (!mint && p->refuse_every > 0 && ++p->batches_seen % p->refuse_every == 0) {
        if (p->limit > 0 && p->counts_refused) push_call(p, now_ms);
        *retry_after_s = 1;
        return DEVSRV__REFUSED_BURST;
    }
    if (p->limit == 0) return DEVSRV__ADMITTED;
    if (p->len < p->limit) {
        push_call(p, now_ms);
        return DEVSRV__ADMITTED;
    }
    if (p->counts_refused) push_call(p, now_ms);
    /* A call at now + r is admitted once at most limit - 1 counted calls remain
     * in its window, i.e. once the (len - limit)-th oldest has left it. */
    int64_t r = call_at(p, p->len - p->limit) + (int64_t)p->window_ms - now_ms;
    int64_t s = (r + 999) / 1000;
    *retry_after_s = s < 1 ? 1 : (uint32_t)s;
    return DEVSRV__REFUSED_PLAN;
}

void devsrv__plan_free(devsrv__plan_t *p) {
    free(p->calls);
    memset(p, 0, sizeof *p);
}
