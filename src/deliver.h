/* The delivery pipeline for one batch: authorise, encode, POST, classify, and
 * then retry, back off, re-mint, split or drop. The worker and synchronous
 * (batch = false) sends both use it. It settles every event it was given
 * through the ledger, waits through the gate (flushes cut backoffs, the stop
 * deadline ends them) and begins every request when the pacer allows. */
#ifndef SEGOPS_DELIVER_H
#define SEGOPS_DELIVER_H

#include "common.h"

#include "auth.h"
#include "buf.h"
#include "event.h"
#include "gate.h"
#include "ledger.h"
#include "metrics.h"
#include "pacer.h"
#include "probe.h"
#include "transport.h"

/* Bytes a request body adds around its events beyond one comma per event:
 * "{\"events\":[" + "]}" minus the comma the first event does not need. */
#define SEGOPS__BATCH_WRAPPER_BYTES 12

/* What every sender of a client shares. */
typedef struct segops__deliver_ctx {
    const segops_options_t *cfg;
    const char *batch_url;
    segops__ledger_t *ledger;
    segops__gate_t *gate;
    segops__auth_t *auth;
    segops__pacer_t *pacer;     /* when each request may begin (the plan's limit) */
    segops__probe_t *probe;     /* one failing request probes for all (NULL: sync sends) */
    segops__metrics_t *metrics; /* requests in flight, latency windows */
    /* With a spool: events whose end is final (delivered, or dropped for their
     * own reason) are forgotten on disk through spool_settled; while spool_keeps
     * says the spool holds them (not in a forked child), transient failures
     * never drop (capped backoff), at the stop the events with a record stay
     * on disk for the next client (those only in memory are dropped as
     * SHUTDOWN), and events older than spool_max_age_ms expire before each
     * attempt. Memory only: both hooks NULL. */
    void (*spool_settled)(void *arg, const uint64_t *records, size_t n);
    bool (*spool_keeps)(void *arg);
    void *spool_arg;
} segops__deliver_ctx_t;

/* One sending thread's state. */
typedef struct segops__sender {
    const segops__deliver_ctx_t *ctx;
    segops__transport_t *transport;
    segops__held_by_t held_by; /* the worker's batch (reports drops) or a sync send */
    uint64_t pos;              /* a batch's ledger position (segops__ledger_settle_at) */
    size_t unsettled;          /* events handed over and not settled yet ... */
    int64_t oldest_ms;         /* ... the oldest track time among them, 0 once none (atomic:
                                  the stats read it) */
    int64_t begun_at; /* the worker began the first request with the pacer at this time; 0: not */
    segops__deadline_t deadline; /* a sync send's own (none for the worker's); the stop's
                                    comes from the gate */
    bool full;          /* the batch fills a request: the pacing interval does not hold it */
    bool urgent;        /* a flush or stop waits for it (see pacer.h) */
    segops__buf_t body; /* reused request body */
    segops__http_response_t resp;
    uint64_t rng;         /* backoff jitter */
    segops_err_t outcome; /* the last settled group: SEGOPS_OK or its drop code */
    char outcome_message[SEGOPS__DETAIL_LEN]; /* why, when outcome is not SEGOPS_OK */
} segops__sender_t;

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

/* True when a spool keeps undelivered events across failures and the stop. */
bool segops__deliver_durable(const segops__deliver_ctx_t *ctx);

#endif
