/* The bounded FIFO of accepted events. Pure data structure: its owner (the
 * client) holds the lock. Positions count every event ever pushed or popped, so
 * "everything tracked before call X" is a position, not a per-event field. */
#ifndef SEGOPS_QUEUE_H
#define SEGOPS_QUEUE_H

#include "common.h"

#include "event.h"

typedef struct segops__queue {
    segops__event_t *head;
    segops__event_t *tail;
    size_t count;
    size_t bytes;        /* sum of event->len */
    size_t max_events;
    size_t max_bytes;
    uint64_t pushed;     /* events ever pushed */
    uint64_t popped;     /* events ever removed from the head (taken or evicted) */
} segops__queue_t;

void segops__queue_init(segops__queue_t *q, size_t max_events, size_t max_bytes);
/* True when one more event of len bytes fits within both bounds. */
bool segops__queue_fits(const segops__queue_t *q, size_t len);
void segops__queue_push(segops__queue_t *q, segops__event_t *event);
/* Removes and returns the head, or NULL when empty. */
segops__event_t *segops__queue_pop(segops__queue_t *q);
/* Moves up to max_events from the head into out[], stopping before the event
 * that would take the encoded batch past max_bytes (but always taking at least
 * one). Returns how many were taken. */
size_t segops__queue_take(segops__queue_t *q, segops__event_t **out, size_t max_events,
                          size_t max_bytes);
/* Frees every queued event; returns how many there were. */
size_t segops__queue_clear(segops__queue_t *q);

#endif
