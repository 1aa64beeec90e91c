/* The ends of a sender's events, for deliver.c: each event given to
 * segops__deliver ends through exactly one of these (the ledger settles or
 * parks it, the spool forgets its record once its end is final), and the
 * sender's outcome says how the last group ended. */
#ifndef SEGOPS_DELIVER_SETTLE_H
#define SEGOPS_DELIVER_SETTLE_H

#include "common.h"

#include "event.h"
#include "sender.h"

/* True when a spool keeps undelivered events across failures and the stop. */
bool segops__deliver_durable(const segops__deliver_ctx_t *ctx);

/* Settles n events: `delivered` of them delivered, the rest dropped as described. */
void segops__deliver_settle(segops__sender_t *s, segops__event_t **events, size_t n,
                            size_t delivered, segops_err_t code, segops_drop_reason_t reason,
                            int status, const char *message);
void segops__deliver_drop_all(segops__sender_t *s, segops__event_t **events, size_t n,
                              segops_err_t code, segops_drop_reason_t reason, int status,
                              const char *message);
/* With a spool, at the stop: the events with a record stay on disk for the
 * next client, pending, neither delivered nor dropped; those only in memory
 * (the spool refused them) are dropped and reported as `stop` says. */
void segops__deliver_keep_on_disk(segops__sender_t *s, segops__event_t **events, size_t n,
                                  int status, const char *stop);
/* With a spool, events older than spool_max_age_ms expire wherever they are
 * (in memory too): dropped as EXPIRED, their records settled. Returns how many
 * of events[0..n) are left, first. */
size_t segops__deliver_drop_expired(segops__sender_t *s, segops__event_t **events, size_t n);

/* Which deadline ended a send, if any: the client's stop deadline (the events
 * are dropped as SHUTDOWN) or a synchronous send's own (RETRIES_EXHAUSTED). */
typedef enum segops__past { SEGOPS__PAST_NONE, SEGOPS__PAST_STOP, SEGOPS__PAST_OWN } segops__past_t;
segops__past_t segops__deliver_past_deadline(const segops__sender_t *s);
/* Drops what a deadline ended. `aborted` says a request was cut off in flight:
 * the server may have received it, which the report must not hide. */
void segops__deliver_drop_at_deadline(segops__sender_t *s, segops__event_t **events, size_t n,
                                      segops__past_t kind, int status, bool aborted);

#endif
