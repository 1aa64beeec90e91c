/* The delivery pipeline for one batch: authorise, encode, POST, classify, and
 * then retry, back off, re-mint, split or drop. The worker and the synchronous
 * (batch = false) track path both use it. */
#ifndef SEGOPS_DELIVER_H
#define SEGOPS_DELIVER_H

#include "common.h"

#include "buf.h"
#include "client.h"
#include "event.h"
#include "transport.h"

/* Bytes a request body adds around its events beyond one comma per event:
 * "{\"events\":[" + "]}" minus the comma the first event does not need. */
#define SEGOPS__BATCH_WRAPPER_BYTES 12

typedef struct segops__sender {
    segops_client_t *client;
    segops__transport_t *transport;
    bool from_queue;    /* the worker (reports drops via on_error) vs. a track call */
    segops__buf_t body; /* reused request body */
    segops__http_response_t resp;
    uint64_t rng;         /* backoff jitter */
    segops_err_t outcome; /* the last settled group: SEGOPS_OK or its drop code */
} segops__sender_t;

/* Writes {"events":[e1,e2,…]} from the events' encoded objects into body
 * (cleared first). SEGOPS_OK or SEGOPS_E_NOMEM. */
segops_err_t segops__batch_encode(segops__buf_t *body, segops__event_t *const *events, size_t n);

void segops__sender_init(segops__sender_t *s, segops_client_t *c, segops__transport_t *t,
                         bool from_queue);
void segops__sender_release(segops__sender_t *s);

/* Settles every one of events[0..n) (delivered, or dropped and counted) and
 * frees them. Blocks for the attempts and backoff waits, bounded by the retry
 * budget and the shutdown deadline. */
void segops__deliver(segops__sender_t *s, segops__event_t **events, size_t n);

#endif
