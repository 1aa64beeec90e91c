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
    e->accepted_ms = accepted_ms;
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

uint64_t segops__residence_refused(void) {
    return atomic_load_explicit(&refused, memory_order_relaxed);
}
