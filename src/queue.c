/* Intrusive singly linked FIFO with counts and positions. */
#include "queue.h"

#include "event_pool.h"

void segops__queue_init(segops__queue_t *q) { memset(q, 0, sizeof *q); }

void segops__queue_push(segops__queue_t *q, segops__event_t *event) {
    event->next = NULL;
    if (q->tail)
        q->tail->next = event;
    else
        q->head = event;
    q->tail = event;
    q->count++;
    q->bytes += event->len;
    q->pushed++;
}

segops__event_t *segops__queue_pop(segops__queue_t *q) {
    segops__event_t *event = q->head;
    if (!event) return NULL;
    q->head = event->next; /* event->next stays (queue.h) */
    if (!q->head) q->tail = NULL;
    q->count--;
    q->bytes -= event->len;
    q->popped++;
    return event;
}

size_t segops__queue_peek(segops__event_t *first, size_t available, segops__event_t **out,
                          size_t max_events, size_t max_bytes, size_t *bytes) {
    size_t n = 0, total = 0, limit = SEGOPS__MIN(available, max_events);
    for (segops__event_t *e = first; e && n < limit;) {
        size_t next = total + e->len + 1; /* +1: the comma between events */
        if (n > 0 && next > max_bytes) break;
        total = next;
        out[n++] = e;
        if (n < limit) e = e->next; /* never the link after the snapshot's last event */
    }
    *bytes = total;
    return n;
}

void segops__queue_detach(segops__queue_t *q, segops__event_t *const *events, size_t n,
                          size_t bytes) {
    if (!n) return;
    segops__event_t *last = events[n - 1];
    q->head = last->next;
    if (!q->head) q->tail = NULL;
    for (size_t i = 0; i < n; i++) events[i]->next = NULL;
    q->count -= n;
    q->bytes -= bytes - n; /* peek counted a comma per event */
    q->popped += n;
}

void segops__queue_splice(segops__queue_t *dst, segops__queue_t *src) {
    if (!src->head) return;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    dst->count += src->count;
    dst->bytes += src->bytes;
    dst->pushed += src->count;
    src->popped += src->count;
    src->head = src->tail = NULL;
    src->count = src->bytes = 0;
}

size_t segops__queue_clear(segops__queue_t *q) {
    size_t n = 0;
    segops__event_t *event;
    while ((event = segops__queue_pop(q))) {
        segops__event_release(&event, 1);
        n++;
    }
    return n;
}
