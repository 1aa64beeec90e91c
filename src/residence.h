/* Where an accepted event lives, and the one set of functions that moves it
 * there. Every transition goes through here and is checked; an illegal one is
 * refused (the event keeps its residence) and counted, never silently applied.
 *
 *   admit ─────────────► MEMORY ──written──► SPOOLED        (memory and a record)
 *                          │  └──to_disk──► (record only: the event is released,
 *                          │                 read back later by adopt)
 *   MEMORY | SPOOLED ──take──► SENDING       (in a request; a record if it had one)
 *   a record read back ──adopt──► SENDING    (with its record)
 *   any but SETTLED ──settle──► SETTLED      (delivered, dropped, evicted, expired:
 *                                             its record, if any, must be acked)
 *   SPOOLED | SENDING with a record ──park──► SETTLED (left on disk for the next
 *                                             client at the shutdown deadline)
 *
 * An event without a record is never parked: park refuses it, and the caller
 * reports it dropped (SEGOPS_DROP_SHUTDOWN) as a memory-only client does.
 *
 * Threads: an event is moved by whoever owns it at the time (admission under
 * its lock, the spool thread between taking and returning a written batch, a
 * sender for its request); the functions take no lock. */
#ifndef SEGOPS_RESIDENCE_H
#define SEGOPS_RESIDENCE_H

#include "common.h"

#include "event.h"

typedef enum segops__residence {
    SEGOPS__RES_MEMORY = 0, /* only in memory (not written yet, or the spool refused it) */
    SEGOPS__RES_SPOOLED,    /* queued in memory with a record in the spool */
    SEGOPS__RES_ON_DISK,    /* only its record: the event is about to be released */
    SEGOPS__RES_SENDING,    /* taken into a request */
    SEGOPS__RES_SETTLED     /* its end is final, or it is parked on disk */
} segops__residence_t;

/* track accepted it: MEMORY, no record, accepted at the event's accepted_ms. */
void segops__residence_admit(segops__event_t *e);
/* MEMORY -> SPOOLED: its record is at pos (packed, non-zero). */
bool segops__residence_written(segops__event_t *e, uint64_t pos);
/* MEMORY -> ON_DISK: its record at pos is all that remains; release it next. */
bool segops__residence_to_disk(segops__event_t *e, uint64_t pos);
/* MEMORY | SPOOLED -> SENDING. */
bool segops__residence_take(segops__event_t *e);
/* A record read back from the spool (pos) becomes an event in a request. */
void segops__residence_adopt(segops__event_t *e, uint64_t pos, int64_t accepted_ms);
/* Any but SETTLED -> SETTLED. Returns its record's pos to acknowledge, 0 when
 * it has none (or the transition was refused). */
uint64_t segops__residence_settle(segops__event_t *e);
/* SPOOLED | SENDING with a record -> SETTLED, left on disk. False (nothing
 * changed) for an event without a record: it must be reported instead. */
bool segops__residence_park(segops__event_t *e);

/* True when the event has been in the client longer than max_age_ms at now_ms
 * (0: never). */
bool segops__residence_expired(const segops__event_t *e, uint64_t max_age_ms, int64_t now_ms);

/* For a request at the stop: parks every event of events[0..n) that has a
 * record and moves those first (each part keeps its order); returns how many.
 * The rest, only in memory, must be reported. */
size_t segops__residence_park_all(segops__event_t **events, size_t n);
/* Moves the events not expired at now_ms first (each part keeps its order) and
 * returns how many; the rest expired (settle them as EXPIRED). n <= 500. */
size_t segops__residence_young_first(segops__event_t **events, size_t n, uint64_t max_age_ms,
                                     int64_t now_ms);

/* Transitions refused since the process started (a bug if ever non-zero). */
uint64_t segops__residence_refused(void);

#endif
