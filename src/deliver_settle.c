/* How a sender's events end (see deliver_settle.h): delivered, dropped with a
 * reason, or parked on disk for the next client; and which deadline, if any,
 * ended a send. */
#include "deliver_settle.h"

#include <stdio.h>

#include "clock.h"
#include "event_pool.h"
#include "residence.h"

bool segops__deliver_durable(const segops__deliver_ctx_t *ctx) {
    return ctx->spool_keeps && ctx->spool_keeps(ctx->spool_arg);
}

/* n of the sender's events end now: once none is left, none is the oldest
 * pending (before the ledger counts them, so a flush never sees it stale). */
static void forget_settled(segops__sender_t *s, size_t n) {
    s->unsettled -= SEGOPS__MIN(n, s->unsettled);
    if (!s->unsettled) __atomic_store_n(&s->oldest_ms, 0, __ATOMIC_RELAXED);
}

/* Settles n events: `delivered` of them delivered, the rest dropped as described. */
void segops__deliver_settle(segops__sender_t *s, segops__event_t **events, size_t n,
                            size_t delivered, segops_err_t code, segops_drop_reason_t reason,
                            int status, const char *message) {
    segops__drop_t drop = {
        .count = n - delivered, .code = code, .http_status = status, .reason = reason};
    if (drop.count) snprintf(drop.message, sizeof drop.message, "%s", message ? message : "");
    size_t bytes = 0;
    uint64_t records[SEGOPS__MAX_EVENTS_PER_REQUEST];
    for (size_t i = 0; i < n; i++) {
        bytes += events[i]->len;
        records[i] = segops__residence_settle(events[i]);
    }
    /* Their end is final: the spool forgets them before the next request. */
    if (s->ctx->spool_settled) s->ctx->spool_settled(s->ctx->spool_arg, records, n);
    if (delivered && s->ctx->metrics)
        segops__metrics_delivered(s->ctx->metrics, events, n, segops__clock_realtime_ms());
    /* Released before settling: once settled, a shutdown may free the pool. */
    segops__event_release(events, n);
    forget_settled(s, n);
    segops__ledger_settle_at(s->ctx->ledger, s->held_by, s->pos, delivered, &drop, bytes);
    s->pos += n;
    s->outcome = drop.count ? code : SEGOPS_OK;
    if (drop.count) memcpy(s->outcome_message, drop.message, sizeof s->outcome_message);
}

void segops__deliver_drop_all(segops__sender_t *s, segops__event_t **events, size_t n,
                              segops_err_t code, segops_drop_reason_t reason, int status,
                              const char *message) {
    segops__deliver_settle(s, events, n, 0, code, reason, status, message);
}

/* With a spool, at the stop: the events with a record stay on disk for the
 * next client, pending, neither delivered nor dropped; those only in memory
 * (the spool refused them) are dropped and reported as `stop` says. */
void segops__deliver_keep_on_disk(segops__sender_t *s, segops__event_t **events, size_t n,
                                  int status, const char *stop) {
    size_t parked = segops__residence_park_all(events, n);
    segops__event_release(events, parked);
    forget_settled(s, parked);
    segops__ledger_park_at(s->ctx->ledger, s->held_by, s->pos, parked);
    s->pos += parked;
    if (parked < n)
        segops__deliver_drop_all(s, events + parked, n - parked, SEGOPS_E_TIMEOUT,
                                 SEGOPS_DROP_SHUTDOWN, status, stop);
    else
        snprintf(s->outcome_message, sizeof s->outcome_message,
                 "not delivered by the shutdown deadline; kept in the spool for the next client");
    s->outcome = SEGOPS_E_TIMEOUT;
}

/* With a spool, events older than spool_max_age_ms expire wherever they are
 * (in memory too): dropped as EXPIRED, their records settled. Returns how many
 * of events[0..n) are left, first. */
size_t segops__deliver_drop_expired(segops__sender_t *s, segops__event_t **events, size_t n) {
    const segops_options_t *cfg = s->ctx->cfg;
    if (!s->ctx->spool_settled || !cfg->spool_max_age_ms) return n;
    size_t young = segops__residence_young_first(events, n, cfg->spool_max_age_ms,
                                                 segops__clock_realtime_ms());
    if (young < n)
        segops__deliver_drop_all(s, events + young, n - young, SEGOPS_E_TIMEOUT,
                                 SEGOPS_DROP_EXPIRED, 0, "events were older than spool_max_age_ms");
    return young;
}

/* Which deadline ended a send, if any: the client's stop deadline (the events
 * are dropped as SHUTDOWN) or a synchronous send's own (RETRIES_EXHAUSTED). */
segops__past_t segops__deliver_past_deadline(const segops__sender_t *s) {
    if (segops__gate_past_deadline(s->ctx->gate)) return SEGOPS__PAST_STOP;
    if (segops__deadline_expired(s->deadline, segops__clock_monotonic_ms()))
        return SEGOPS__PAST_OWN;
    return SEGOPS__PAST_NONE;
}

/* Drops what a deadline ended. `aborted` says a request was cut off in flight:
 * the server may have received it, which the report must not hide. */
void segops__deliver_drop_at_deadline(segops__sender_t *s, segops__event_t **events, size_t n,
                                      segops__past_t kind, int status, bool aborted) {
    const char *stop = aborted ? "not delivered by the shutdown deadline; the request in flight "
                                 "was aborted and may have reached the server"
                               : "not delivered by the shutdown deadline";
    const char *own = aborted ? "not delivered by the send deadline; the request in flight was "
                                "aborted and may have reached the server"
                              : "not delivered by the send deadline";
    if (kind == SEGOPS__PAST_STOP && segops__deliver_durable(s->ctx)) {
        segops__deliver_keep_on_disk(s, events, n, status, stop);
        return;
    }
    if (kind == SEGOPS__PAST_STOP)
        segops__deliver_drop_all(s, events, n, SEGOPS_E_TIMEOUT, SEGOPS_DROP_SHUTDOWN, status,
                                 stop);
    else
        segops__deliver_drop_all(s, events, n, SEGOPS_E_TIMEOUT, SEGOPS_DROP_RETRIES_EXHAUSTED,
                                 status, own);
}
