/* A FIFO of accepted events (the client's queue, and each lane's). Pure data
 * structure: its owner holds the lock; the bounds live in admission.c. Positions count every event
 * ever pushed or popped, so "everything tracked before call X" is a position, not a per-event
 * field. */
#ifndef SEGOPS_QUEUE_H
#define SEGOPS_QUEUE_H

#include "common.h"

#include "event.h"

typedef struct segops__queue {
    segops__event_t *head;
    segops__event_t *tail;
    size_t count;
    size_t bytes;    /* sum of event->len */
    uint64_t pushed; /* events ever pushed */
    uint64_t popped; /* events ever removed from the head (taken or evicted) */
} segops__queue_t;

void segops__queue_init(segops__queue_t *q);
void segops__queue_push(segops__queue_t *q, segops__event_t *event);
/* Removes and returns the head, or NULL when empty. The event keeps its link,
 * so a walk that started at an earlier head can still follow it. */
segops__event_t *segops__queue_pop(segops__queue_t *q);
/* Taking a batch, in two steps so the walk can run without the lock: peek lists up to max_events
 * events starting at `first`, which was the head while the queue held at least `available` events,
 * within max_bytes (always at least one) and returns how many, with their encoded size plus a comma
 * each in *bytes. It reads only links that existed at that snapshot (never the last listed
 * event's), so producers appending meanwhile do not race with it. detach (lock held) then removes
 * those n events from the head in O(1); call it only if nothing was popped since the snapshot
 * (q->popped unchanged). */
size_t segops__queue_peek(segops__event_t *first, size_t available, segops__event_t **out,
                          size_t max_events, size_t max_bytes, size_t *bytes);
void segops__queue_detach(segops__queue_t *q, segops__event_t *const *events, size_t n,
                          size_t bytes);
/* Moves every event of src to the tail of dst, in order, in O(1). */
void segops__queue_splice(segops__queue_t *dst, segops__queue_t *src);
/* Releases every queued event (event_pool.h); returns how many there were. */
size_t segops__queue_clear(segops__queue_t *q);

#endif
