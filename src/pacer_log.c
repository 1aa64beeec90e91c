/* The ring of answered requests behind the pacer's sliding window. */
#include "pacer_log.h"

segops_err_t segops__pacer_log_init(segops__pacer_log_t *log, size_t cap, size_t max_cap) {
    memset(log, 0, sizeof *log);
    if (max_cap < 1) max_cap = 1;
    cap = SEGOPS__MIN(SEGOPS__MAX(cap, (size_t)1), max_cap);
    log->ring = segops__calloc(cap, sizeof *log->ring);
    if (!log->ring) return SEGOPS_E_NOMEM;
    log->cap = cap;
    log->max_cap = max_cap;
    return SEGOPS_OK;
}

void segops__pacer_log_free(segops__pacer_log_t *log) {
    segops__free(log->ring);
    memset(log, 0, sizeof *log);
}

static segops__pacer_entry_t *at(const segops__pacer_log_t *log, size_t i) {
    return &log->ring[(log->head + i) % log->cap];
}

/* Doubles the ring, oldest entry first in the new one. False when it cannot. */
static bool grow(segops__pacer_log_t *log) {
    if (log->cap >= log->max_cap) return false;
    size_t cap = SEGOPS__MIN(log->cap * 2, log->max_cap);
    segops__pacer_entry_t *ring = segops__calloc(cap, sizeof *ring);
    if (!ring) return false;
    for (size_t i = 0; i < log->count; i++) ring[i] = *at(log, i);
    segops__free(log->ring);
    log->ring = ring;
    log->cap = cap;
    log->head = 0;
    return true;
}

void segops__pacer_log_add(segops__pacer_log_t *log, int64_t started_ms, int64_t answered_ms,
                           bool accepted, int64_t forget_before_ms) {
    if (!log->ring) return;
    if (log->count == log->cap && (at(log, 0)->answered_ms <= forget_before_ms || !grow(log))) {
        log->head = (log->head + 1) % log->cap; /* forget the oldest */
        log->count--;
    }
    int64_t took = answered_ms - started_ms;
    segops__pacer_entry_t *e = at(log, log->count++);
    e->answered_ms = answered_ms;
    e->took_ms = (uint32_t)SEGOPS__MIN(SEGOPS__MAX(took, (int64_t)0), (int64_t)UINT32_MAX);
    e->accepted = accepted;
}

int64_t segops__pacer_log_nth_newest(const segops__pacer_log_t *log, size_t k) {
    if (k < 1 || k > log->count) return INT64_MIN;
    return at(log, log->count - k)->answered_ms;
}

size_t segops__pacer_log_count_accepted(const segops__pacer_log_t *log, int64_t started_after_ms) {
    size_t n = 0;
    for (size_t i = log->count; i-- > 0;) {
        const segops__pacer_entry_t *e = at(log, i);
        if (e->answered_ms <= started_after_ms) break; /* every older one started earlier still */
        if (e->accepted && e->answered_ms - (int64_t)e->took_ms > started_after_ms) n++;
    }
    return n;
}
