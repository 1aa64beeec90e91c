/* What a sender is: the context every sender of a client shares (the modules
 * a delivery uses) and one sending thread's state. deliver.c runs a batch
 * through them; deliver_settle.c ends its events. The worker's sender threads
 * and synchronous sends each own one segops__sender_t. */
#ifndef SEGOPS_SENDER_H
#define SEGOPS_SENDER_H

#include "common.h"

#include "auth.h"
#include "buf.h"
#include "deadline.h"
#include "gate.h"
#include "ledger.h"
#include "metrics.h"
#include "pacer.h"
#include "probe.h"
#include "transport.h"

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

#endif
