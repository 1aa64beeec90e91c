/* Intrusive singly linked FIFO with event and byte bounds. */
#include "queue.h"

void segops__queue_init(segops__queue_t *q, size_t max_events, size_t max_bytes) {
    memset(q, 0, sizeof *q);
    q->max_events = max_events;
    q->max_bytes = max_bytes;
}

bool segops__queue_fits(const segops__queue_t *q, size_t len) {
    return q->count < q->max_events && len <= q->max_bytes - SEGOPS__MIN(q->bytes, q->max_bytes);
}

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
    q->head = event->next; /* event->next stays: see segops__queue_pop */
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

size_t segops__queue_clear(segops__queue_t *q, segops__event_pool_t *pool) {
    size_t n = 0;
    segops__event_t *event;
    while ((event = segops__queue_pop(q))) {
        segops__event_pool_release(pool, &event, 1);
        n++;
    }
    return n;
}
