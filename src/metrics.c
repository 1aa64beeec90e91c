/* Recent-window histograms (see metrics.h). */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>

/* 8 buckets per power of two up to 2^20 ms (about 17 minutes); longer lands in
 * the last one. */
#define SUB_BITS 3
#define MAX_EXP 20
#define BUCKETS ((MAX_EXP + 1) << SUB_BITS)

typedef struct window {
    uint32_t counts[BUCKETS];
    uint8_t *ring; /* the bucket of each of the last `size` samples */
    size_t size, next, filled;
} window_t;

struct segops__metrics {
    pthread_mutex_t lock; /* the windows */
    window_t rtt, delay;
    uint8_t rtt_ring[SEGOPS__METRICS_RTT_WINDOW];
    uint8_t delay_ring[SEGOPS__METRICS_DELAY_WINDOW];
    atomic_uint_fast64_t in_flight;
    segops__fork_hook_t fork_hook;
};

static void fork_prepare(void *arg) { pthread_mutex_lock(&((segops__metrics_t *)arg)->lock); }
static void fork_parent(void *arg) { pthread_mutex_unlock(&((segops__metrics_t *)arg)->lock); }

static void fork_child(void *arg) {
    segops__metrics_t *m = arg;
    atomic_store(&m->in_flight, 0); /* the parent's requests are not the child's */
    pthread_mutex_unlock(&m->lock);
}

/* Values below 8 ms get a bucket each; above, the exponent and the next three
 * bits after the leading one. */
static unsigned bucket_of(uint64_t v) {
    if (v < (1u << SUB_BITS)) return (unsigned)v;
    unsigned exp = 63u - (unsigned)__builtin_clzll(v);
    if (exp > MAX_EXP) return BUCKETS - 1;
    unsigned sub = (unsigned)(v >> (exp - SUB_BITS)) & ((1u << SUB_BITS) - 1);
    return ((exp - SUB_BITS + 1) << SUB_BITS) + sub;
}

/* The largest value of a bucket. */
static uint64_t bucket_top(unsigned b) {
    if (b < (1u << SUB_BITS)) return b;
    unsigned exp = (b >> SUB_BITS) + SUB_BITS - 1, sub = b & ((1u << SUB_BITS) - 1);
    uint64_t low = ((uint64_t)((1u << SUB_BITS) + sub)) << (exp - SUB_BITS);
    return low + ((uint64_t)1 << (exp - SUB_BITS)) - 1;
}

static void window_add(window_t *w, uint64_t value) {
    uint8_t b = (uint8_t)bucket_of(value);
    if (w->filled == w->size)
        w->counts[w->ring[w->next]]--;
    else
        w->filled++;
    w->ring[w->next] = b;
    w->counts[b]++;
    w->next = (w->next + 1) % w->size;
}

/* The value below which `per_mille` of the window's samples lie. */
static uint64_t window_percentile(const window_t *w, unsigned per_mille) {
    if (!w->filled) return 0;
    uint64_t rank = ((uint64_t)w->filled * per_mille + 999) / 1000, seen = 0;
    for (unsigned b = 0; b < BUCKETS; b++)
        if ((seen += w->counts[b]) >= rank) return bucket_top(b);
    return bucket_top(BUCKETS - 1);
}

segops_err_t segops__metrics_new(segops__metrics_t **out) {
    segops__metrics_t *m = segops__calloc(1, sizeof *m);
    *out = m;
    if (!m) return SEGOPS_E_NOMEM;
    pthread_mutex_init(&m->lock, NULL);
    m->rtt = (window_t){.ring = m->rtt_ring, .size = SEGOPS__METRICS_RTT_WINDOW};
    m->delay = (window_t){.ring = m->delay_ring, .size = SEGOPS__METRICS_DELAY_WINDOW};
    atomic_init(&m->in_flight, 0);
    m->fork_hook = (segops__fork_hook_t){fork_prepare, fork_parent, fork_child, m, NULL, NULL};
    return SEGOPS_OK;
}

void segops__metrics_free(segops__metrics_t *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->lock);
    segops__free(m);
}

void segops__metrics_request_begin(segops__metrics_t *m) {
    atomic_fetch_add_explicit(&m->in_flight, 1, memory_order_relaxed);
}

void segops__metrics_request_end(segops__metrics_t *m, int64_t rtt_ms) {
    atomic_fetch_sub_explicit(&m->in_flight, 1, memory_order_relaxed);
    pthread_mutex_lock(&m->lock);
    window_add(&m->rtt, (uint64_t)SEGOPS__MAX(rtt_ms, 0));
    pthread_mutex_unlock(&m->lock);
}

void segops__metrics_delivered(segops__metrics_t *m, segops__event_t *const *events, size_t n,
                               int64_t now_ms) {
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < n; i++) {
        int64_t tracked_ms = segops__event_track_ms(events[i]);
        if (tracked_ms) window_add(&m->delay, (uint64_t)SEGOPS__MAX(now_ms - tracked_ms, 0));
    }
    pthread_mutex_unlock(&m->lock);
}

void segops__metrics_snapshot(segops__metrics_t *m, segops_stats_t *out) {
    out->requests_in_flight = atomic_load_explicit(&m->in_flight, memory_order_relaxed);
    pthread_mutex_lock(&m->lock);
    out->delivery_delay_p50_ms = window_percentile(&m->delay, 500);
    out->delivery_delay_p99_ms = window_percentile(&m->delay, 990);
    out->request_rtt_p50_ms = window_percentile(&m->rtt, 500);
    out->request_rtt_p99_ms = window_percentile(&m->rtt, 990);
    pthread_mutex_unlock(&m->lock);
}

segops__fork_hook_t *segops__metrics_fork_hook(segops__metrics_t *m) { return &m->fork_hook; }
