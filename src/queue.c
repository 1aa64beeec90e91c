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
    q->head = event->next;
    if (!q->head) q->tail = NULL;
    event->next = NULL;
    q->count--;
    q->bytes -= event->len;
    q->popped++;
    return event;
}

size_t segops__queue_take(segops__queue_t *q, segops__event_t **out, size_t max_events,
                          size_t max_bytes) {
    size_t n = 0, bytes = 0;
    while (n < max_events && q->head) {
        size_t next = bytes + q->head->len + 1; /* +1: the comma between events */
        if (n > 0 && next > max_bytes) break;
        bytes = next;
        out[n++] = segops__queue_pop(q);
    }
    return n;
}

size_t segops__queue_clear(segops__queue_t *q) {
    size_t n = 0;
    segops__event_t *event;
    while ((event = segops__queue_pop(q))) {
        segops__event_free(event);
        n++;
    }
    return n;
}
