/* The delivery pipeline for one batch: authorise, encode, POST, classify, and
 * then retry, back off, re-mint, split or drop. The worker and synchronous
 * (batch = false) sends both use it. It settles every event it was given
 * through the ledger, waits through the gate (flushes cut backoffs, the stop
 * deadline ends them) and begins every request when the pacer allows. */
#ifndef SEGOPS_DELIVER_H
#define SEGOPS_DELIVER_H

#include "common.h"

#include "event.h"
#include "sender.h"

/* Bytes a request body adds around its events beyond one comma per event:
 * "{\"events\":[" + "]}" minus the comma the first event does not need. */
#define SEGOPS__BATCH_WRAPPER_BYTES 12

/* Writes {"events":[e1,e2,…]} from the events' encoded objects into body
 * (cleared first). SEGOPS_OK or SEGOPS_E_NOMEM. */
segops_err_t segops__batch_encode(segops__buf_t *body, segops__event_t *const *events, size_t n);

void segops__sender_init(segops__sender_t *s, const segops__deliver_ctx_t *ctx,
                         segops__transport_t *t, segops__held_by_t held_by);
void segops__sender_release(segops__sender_t *s);

/* Settles every one of events[0..n) (delivered, or dropped and counted) and
 * releases them. Blocks for the attempts and backoff waits, bounded by the retry
 * budget, the sender's deadline and the stop deadline. */
void segops__deliver(segops__sender_t *s, segops__event_t **events, size_t n);

#endif
