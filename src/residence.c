/* The checked transitions of an event's residence (see residence.h). */
#include "residence.h"

#include <stdatomic.h>

static _Atomic uint64_t refused;

/* Moves e from one of the residences in `from` (a bit set) to `to`. */
static bool move(segops__event_t *e, unsigned from, segops__residence_t to) {
    if (!(from & 1u << e->residence)) {
        atomic_fetch_add_explicit(&refused, 1, memory_order_relaxed);
        return false;
    }
    e->residence = (uint8_t)to;
    return true;
}

#define IN(r) (1u << (r))

void segops__residence_admit(segops__event_t *e) {
    e->residence = SEGOPS__RES_MEMORY;
    e->spool_pos = 0;
}

bool segops__residence_written(segops__event_t *e, uint64_t pos) {
    if (!pos || !move(e, IN(SEGOPS__RES_MEMORY), SEGOPS__RES_SPOOLED)) return false;
    e->spool_pos = pos;
    return true;
}

bool segops__residence_to_disk(segops__event_t *e, uint64_t pos) {
    if (!pos || !move(e, IN(SEGOPS__RES_MEMORY), SEGOPS__RES_ON_DISK)) return false;
    e->spool_pos = pos;
    return true;
}

bool segops__residence_take(segops__event_t *e) {
    return move(e, IN(SEGOPS__RES_MEMORY) | IN(SEGOPS__RES_SPOOLED), SEGOPS__RES_SENDING);
}

void segops__residence_adopt(segops__event_t *e, uint64_t pos, int64_t accepted_ms) {
    e->residence = SEGOPS__RES_SENDING;
    e->spool_pos = pos;
    segops__event_set_accepted(e, accepted_ms);
    e->read_back = true;
}

uint64_t segops__residence_settle(segops__event_t *e) {
    if (!move(e, IN(SEGOPS__RES_MEMORY) | IN(SEGOPS__RES_SPOOLED) | IN(SEGOPS__RES_SENDING),
              SEGOPS__RES_SETTLED))
        return 0;
    return e->spool_pos;
}

bool segops__residence_park(segops__event_t *e) {
    if (!e->spool_pos) return false; /* not on disk: never parked as if it were */
    return move(e, IN(SEGOPS__RES_SPOOLED) | IN(SEGOPS__RES_SENDING), SEGOPS__RES_SETTLED);
}

bool segops__residence_expired(const segops__event_t *e, uint64_t max_age_ms, int64_t now_ms) {
    return max_age_ms && now_ms > e->accepted_ms &&
           (uint64_t)(now_ms - e->accepted_ms) > max_age_ms;
}

/* Moves the events for which `keep` is true first, keeping the order of each
 * part; returns how many were kept. */
static size_t partition(segops__event_t **events, size_t n, bool (*keep)(segops__event_t *, void *),
                        void *arg) {
    segops__event_t *rest[SEGOPS__MAX_EVENTS_PER_REQUEST];
    size_t kept = 0, nrest = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep(events[i], arg))
            events[kept++] = events[i];
        else
            rest[nrest++] = events[i];
    }
    memcpy(events + kept, rest, nrest * sizeof *rest);
    return kept;
}

static bool park_one(segops__event_t *e, void *arg) {
    SEGOPS__UNUSED(arg);
    return segops__residence_park(e);
}

size_t segops__residence_park_all(segops__event_t **events, size_t n) {
    return partition(events, n, park_one, NULL);
}

typedef struct age_limit {
    uint64_t max_age_ms;
    int64_t now_ms;
} age_limit_t;

static bool still_young(segops__event_t *e, void *arg) {
    const age_limit_t *limit = arg;
    return !segops__residence_expired(e, limit->max_age_ms, limit->now_ms);
}

size_t segops__residence_young_first(segops__event_t **events, size_t n, uint64_t max_age_ms,
                                     int64_t now_ms) {
    age_limit_t limit = {max_age_ms, now_ms};
    return partition(events, n, still_young, &limit);
}

uint64_t segops__residence_refused(void) {
    return atomic_load_explicit(&refused, memory_order_relaxed);
}
