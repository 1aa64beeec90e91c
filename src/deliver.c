/* One batch's fate. The retry policy itself lives in retry.c; this file applies
 * it: attempts, waits, the single re-mint after a 401, and 413 halving. How
 * the events then end (delivered, dropped, parked) is deliver_settle.c. */
#include "deliver.h"

#include <stdio.h>

#include "clock.h"
#include "crypto.h"
#include "deliver_settle.h"
#include "json.h"
#include "log.h"
#include "pacer.h"
#include "retry.h"

void segops__sender_init(segops__sender_t *s, const segops__deliver_ctx_t *ctx,
                         segops__transport_t *t, segops__held_by_t held_by) {
    memset(s, 0, sizeof *s);
    s->ctx = ctx;
    s->transport = t;
    s->held_by = held_by;
    s->deadline = segops__deadline_none();
    s->rng = (uint64_t)segops__clock_monotonic_ms() ^ (uint64_t)(uintptr_t)s ^ 0x9E3779B97F4A7C15u;
}

void segops__sender_release(segops__sender_t *s) {
    segops__buf_free(&s->body);
    segops__buf_free(&s->resp.body);
}

segops_err_t segops__batch_encode(segops__buf_t *body, segops__event_t *const *events, size_t n) {
    size_t total = 16;
    for (size_t i = 0; i < n; i++) total += events[i]->len + 1;
    segops__buf_clear(body);
    segops_err_t err = segops__buf_reserve(body, total);
    if (err != SEGOPS_OK) return err;
    segops__buf_append(body, "{\"events\":[", 11);
    for (size_t i = 0; i < n; i++) {
        if (i) body->data[body->len++] = ',';
        memcpy(body->data + body->len, events[i]->json, events[i]->len);
        body->len += events[i]->len;
    }
    return segops__buf_append(body, "]}", 2);
}

/* The result of one attempt, whatever failed: the mint or the POST. */
typedef struct attempt {
    segops__verdict_t verdict;
    int status;
    char detail[SEGOPS__DETAIL_LEN];
    char retry_after[64]; /* of the answer that failed, "" when none */
    bool aborted;         /* the request was cut off in flight (at a deadline) */
    bool no_slot;         /* a deadline passed while waiting for the pacer */
    bool slot_open;       /* the pacer's request is still begun: a batch 429 ends it */
    bool probing;         /* this attempt probes a failing server for all (probe.h) */
    int64_t started;      /* when the pacer let the request begin */
} attempt_t;

/* Turns a failed mint into a verdict: the same retry rules as a send, reported
 * as a handshake failure (a refused key or identity included). */
static void mint_verdict(const segops__mint_failure_t *f, attempt_t *a) {
    a->verdict = segops__retry_classify(f->transport_err, f->http_status, false);
    a->status = f->http_status;
    snprintf(a->retry_after, sizeof a->retry_after, "%s", f->retry_after);
    snprintf(a->detail, sizeof a->detail, "%s", f->message);
    if (a->verdict.action == SEGOPS__ACT_RETRY || a->verdict.action == SEGOPS__ACT_RATE_LIMITED) {
        a->verdict.code = SEGOPS_E_HANDSHAKE;
    } else {
        a->verdict.action = SEGOPS__ACT_DROP;
        /* A final transport failure (TLS, out of memory) keeps its own code: it
         * names the fix better than "handshake failed". */
        a->verdict.code = f->transport_err == SEGOPS_E_TLS || f->transport_err == SEGOPS_E_NOMEM
                              ? f->transport_err
                              : f->code;
        a->verdict.drop_reason = SEGOPS_DROP_REJECTED;
    }
}

/* Waits until the pacer lets a request begin (see pacer.h): the plan's limit,
 * a server's wait, and for a partial first attempt the pacing interval. False
 * when the stop deadline or the sender's own passes first. */
static bool await_slot(segops__sender_t *s, bool full, bool urgent, int64_t *started) {
    if (s->begun_at) { /* the worker began it when it handed the batch over */
        *started = s->begun_at;
        s->begun_at = 0;
        return true;
    }
    for (;;) {
        int64_t now = segops__clock_monotonic_ms(), at;
        if (segops__deadline_expired(s->deadline, now)) return false;
        if (segops__pacer_try_begin(s->ctx->pacer, now, full, urgent, &at)) {
            *started = now;
            return true;
        }
        segops__deadline_t wake = segops__deadline_earliest(segops__deadline_at(at), s->deadline);
        if (!segops__gate_sleep(s->ctx->gate, wake, false, 0)) return false;
    }
}

/* While requests fail, waits until this sender may probe for all (probe.h).
 * False when the stop deadline or the sender's own passes first. A slot the
 * worker began meanwhile is ended unused: it must not stay open. */
static bool await_probe(segops__sender_t *s, bool *probing) {
    *probing = false;
    if (!s->ctx->probe) return true;
    for (;;) {
        int64_t now = segops__clock_monotonic_ms(), at;
        uint64_t generation = segops__gate_generation(s->ctx->gate);
        if (segops__probe_try_begin(s->ctx->probe, now, generation, probing, &at)) return true;
        if (s->begun_at) {
            segops__pacer_note_done(s->ctx->pacer, s->begun_at, now, false);
            s->begun_at = 0;
        }
        if (segops__deadline_expired(s->deadline, now)) return false;
        segops__deadline_t wake = segops__deadline_earliest(segops__deadline_at(at), s->deadline);
        if (!segops__gate_sleep(s->ctx->gate, wake, true, generation)) return false;
    }
}

/* Tells the pacer how a begun request ended (a batch 429 is left to the caller). */
static void end_slot(segops__sender_t *s, attempt_t *a, bool accepted) {
    segops__pacer_note_done(s->ctx->pacer, a->started, segops__clock_monotonic_ms(), accepted);
    a->slot_open = false;
}

/* "HTTP 400 from the batch endpoint: <the server's message>" (its words when
 * it gave any, never the key). */
static void describe_status(segops__sender_t *s, attempt_t *a) {
    char said[160];
    segops__json_error_detail(s->resp.body.data, s->resp.body.len, s->ctx->cfg->api_key, said,
                              sizeof said);
    snprintf(a->detail, sizeof a->detail, "HTTP %d from the batch endpoint%s%s", s->resp.status,
             said[0] ? ": " : "", said);
}

/* Makes one attempt at events[0..n). *auth receives the Authorization value
 * sent (release it after the attempt). */
static void attempt_once(segops__sender_t *s, segops__event_t **events, size_t n, bool is_retry,
                         segops__auth_header_t *auth, attempt_t *a) {
    const segops__deliver_ctx_t *ctx = s->ctx;
    /* A retry carries a batch already formed: only the limit and a server's
     * wait hold it back, never the pacing interval. */
    bool full = is_retry || s->full, urgent = s->urgent;
    if (!await_probe(s, &a->probing) || !await_slot(s, full, urgent, &a->started)) {
        a->no_slot = true;
        return;
    }
    a->slot_open = true;
    uint64_t mints = segops__auth_mints(ctx->auth);
    segops__mint_failure_t failure;
    segops_err_t got = segops__auth_get(ctx->auth, s->transport, auth, &failure);
    if (segops__auth_mints(ctx->auth) != mints) {
        /* A session mint is a request too: it used this slot; the POST waits
         * for one of its own. A 429 on this call's own mint keeps the slot for
         * rate_limited_wait to end: it counts and teaches like a batch's. */
        if (got != SEGOPS_OK && failure.http_status == 429 && !failure.shared) {
            mint_verdict(&failure, a);
            return;
        }
        end_slot(s, a, got == SEGOPS_OK);
        if (got == SEGOPS_OK && !await_slot(s, true, urgent, &a->started)) {
            a->no_slot = true;
            return;
        }
        a->slot_open = got == SEGOPS_OK;
    }
    if (got != SEGOPS_OK) {
        if (a->slot_open) end_slot(s, a, false);
        mint_verdict(&failure, a);
        return;
    }
    if (segops__batch_encode(&s->body, events, n) != SEGOPS_OK) {
        end_slot(s, a, false);
        a->verdict = (segops__verdict_t){SEGOPS__ACT_DROP, SEGOPS_E_NOMEM, SEGOPS_DROP_REJECTED};
        a->status = 0;
        snprintf(a->detail, sizeof a->detail, "out of memory encoding the batch");
        return;
    }
    int64_t sent_at = segops__clock_monotonic_ms();
    if (ctx->metrics) segops__metrics_request_begin(ctx->metrics);
    segops__transport_post(s->transport, ctx->batch_url, auth->value, s->body.data, s->body.len,
                           &s->resp);
    if (ctx->metrics)
        segops__metrics_request_end(ctx->metrics, segops__clock_monotonic_ms() - sent_at);
    segops__ledger_note_request(ctx->ledger, s->body.len, is_retry, s->resp.new_connections);
    a->verdict =
        segops__retry_classify(s->resp.err, s->resp.status, segops__auth_uses_tokens(ctx->auth));
    a->aborted = s->resp.err == SEGOPS_E_TIMEOUT;
    if (a->verdict.action != SEGOPS__ACT_RATE_LIMITED)
        end_slot(s, a, a->verdict.action == SEGOPS__ACT_DELIVERED);
    a->status = s->resp.status;
    snprintf(a->retry_after, sizeof a->retry_after, "%s", s->resp.retry_after);
    if (s->resp.err != SEGOPS_OK)
        snprintf(a->detail, sizeof a->detail, "%s", s->resp.detail);
    else
        describe_status(s, a);
}

/* Backoff for retry number `attempt`. A Retry-After the server sent with the
 * failed answer (503 where servers use it) is a floor (*floor_ms): the retry
 * never comes sooner, and a flush or stop cuts the backoff down to it, not past
 * it; it never stretches the wait. */
static uint32_t retry_wait(segops__sender_t *s, const attempt_t *a, uint32_t attempt,
                           uint32_t *floor_ms) {
    const segops_options_t *cfg = s->ctx->cfg;
    uint32_t wait =
        segops__retry_backoff_ms(cfg->retry_base_ms, cfg->retry_cap_ms, attempt, &s->rng);
    *floor_ms = 0;
    if (a->retry_after[0] && segops__retry_after_parse(a->retry_after, strlen(a->retry_after),
                                                       segops__clock_realtime_ms() / 1000,
                                                       cfg->retry_after_max_ms, floor_ms))
        wait = SEGOPS__MAX(wait, *floor_ms);
    return wait;
}

/* A 429 (on a batch or on this sender's own mint): the pacer reads the
 * server's words (pacer.h) and says how long this batch waits; without
 * Retry-After the waits grow. A 429 on another caller's mint, which that
 * caller counted, only waits as a retry would. The whole wait is the
 * server's: a flush does not cut it. */
static uint32_t rate_limited_wait(segops__sender_t *s, attempt_t *a, int64_t now) {
    const segops_options_t *cfg = s->ctx->cfg;
    uint32_t floor_ms;
    if (!a->slot_open) return retry_wait(s, a, 1, &floor_ms);
    uint32_t asked;
    int64_t retry_after = -1;
    if (a->retry_after[0] &&
        segops__retry_after_parse(a->retry_after, strlen(a->retry_after),
                                  segops__clock_realtime_ms() / 1000, UINT32_MAX, &asked))
        retry_after = asked; /* uncapped: a capped quota would look like a window */
    segops__pacer_429_t r = segops__pacer_on_429(s->ctx->pacer, now, retry_after);
    a->slot_open = false;
    if (r.pace_changed) {
        if (r.per_minute)
            segops__log(cfg, SEGOPS_LOG_INFO,
                        "pacing to %u requests/min after a 429 (Retry-After %lld s)", r.per_minute,
                        (long long)(retry_after < 0 ? -1 : retry_after / 1000));
        else
            segops__log(cfg, SEGOPS_LOG_INFO, "no request limit after a 429");
    }
    return r.wait_ms;
}

static void deliver_range(segops__sender_t *s, segops__event_t **events, size_t n) {
    const segops__deliver_ctx_t *ctx = s->ctx;
    const segops_options_t *cfg = ctx->cfg;
    const int64_t started = segops__clock_monotonic_ms();
    /* The retry budget's end is a deadline like the sender's own: the earlier
     * one bounds the retries (a wait that would end past it is not begun). */
    int64_t budget_end = segops__deadline_earliest(
                             segops__deadline_after(started, cfg->retry_budget_ms), s->deadline)
                             .at;
    uint32_t retries = 0;
    bool resent = false, reauthed = false;
    const bool durable = segops__deliver_durable(ctx);
    for (;;) {
        segops__past_t past = segops__deliver_past_deadline(s);
        if (past != SEGOPS__PAST_NONE) {
            segops__deliver_drop_at_deadline(s, events, n, past, 0, false);
            return;
        }
        if (!(n = segops__deliver_drop_expired(s, events, n))) return;
        segops__auth_header_t auth = {0};
        attempt_t a = {0};
        const uint64_t generation = segops__gate_generation(ctx->gate);
        attempt_once(s, events, n, resent, &auth, &a);
        if (a.no_slot) { /* a deadline passed while the plan's limit held it back */
            if (ctx->probe) segops__probe_abandon(ctx->probe, a.probing);
            segops__auth_release(&auth);
            past = segops__deliver_past_deadline(s);
            segops__deliver_drop_at_deadline(
                s, events, n, past == SEGOPS__PAST_NONE ? SEGOPS__PAST_OWN : past, 0, false);
            return;
        }
        resent = true;
        /* The token is needed past the attempt only to forget it after a 401. */
        if (a.verdict.action == SEGOPS__ACT_REAUTH && !reauthed)
            segops__auth_refused(ctx->auth, &auth);
        segops__auth_release(&auth);
        bool transient =
            a.verdict.action == SEGOPS__ACT_RETRY || a.verdict.action == SEGOPS__ACT_RATE_LIMITED;
        if (ctx->probe && !transient) segops__probe_end(ctx->probe, a.probing, false, 0, 0, 0);
        if (transient && (past = segops__deliver_past_deadline(s)) !=
                             SEGOPS__PAST_NONE) { /* e.g. aborted at it */
            if (ctx->probe) segops__probe_abandon(ctx->probe, a.probing);
            if (a.slot_open) end_slot(s, &a, false);
            segops__deliver_drop_at_deadline(s, events, n, past, a.status, a.aborted);
            return;
        }
        int64_t now = segops__clock_monotonic_ms();
        uint32_t wait = 0, floor_ms = 0; /* floor: what a flush or stop does not cut */
        switch (a.verdict.action) {
        case SEGOPS__ACT_DELIVERED: {
            uint32_t per_minute;
            if (segops__pacer_take_change(ctx->pacer, now, &per_minute)) {
                if (per_minute)
                    segops__log(cfg, SEGOPS_LOG_INFO,
                                "pacing to %u requests/min after a quiet stretch", per_minute);
                else
                    segops__log(cfg, SEGOPS_LOG_INFO, "no request limit after a quiet stretch");
            }
            uint64_t skipped = 0;
            segops__json_batch_skipped(s->resp.body.data, s->resp.body.len, &skipped);
            skipped = SEGOPS__MIN(skipped, (uint64_t)n);
            segops__deliver_settle(s, events, n, n - (size_t)skipped, SEGOPS_E_SKIPPED,
                                   SEGOPS_DROP_SKIPPED, a.status,
                                   "the server skipped events as invalid");
            return;
        }
        case SEGOPS__ACT_REAUTH:
            if (!reauthed) { /* the token was revoked: mint once more, resend once */
                reauthed = true;
                segops__log(cfg, SEGOPS_LOG_INFO, "session token refused (401); minting again");
                continue;
            }
            segops__deliver_drop_all(s, events, n, SEGOPS_E_AUTH, SEGOPS_DROP_REJECTED, a.status,
                                     "the session token was refused twice");
            return;
        case SEGOPS__ACT_SPLIT:
            if (n > 1) {
                segops__log(cfg, SEGOPS_LOG_INFO, "batch of %zu too large (413); splitting", n);
                deliver_range(s, events, n / 2);
                deliver_range(s, events + n / 2, n - n / 2);
                return;
            }
            segops__deliver_drop_all(s, events, n, SEGOPS_E_TOO_LARGE, SEGOPS_DROP_TOO_LARGE,
                                     a.status, "the server refused a single event as too large");
            return;
        case SEGOPS__ACT_RATE_LIMITED:
            /* Waits do not use up retries (the budget bounds them). */
            wait = floor_ms = rate_limited_wait(s, &a, now);
            break;
        case SEGOPS__ACT_RETRY:
            if (++retries > cfg->max_retries && !durable) {
                if (ctx->probe)
                    segops__probe_end(ctx->probe, a.probing, true, now, now, generation);
                segops__deliver_drop_all(s, events, n, a.verdict.code,
                                         SEGOPS_DROP_RETRIES_EXHAUSTED, a.status, a.detail);
                return;
            }
            wait = retry_wait(s, &a, SEGOPS__MIN(retries, cfg->max_retries + 1), &floor_ms);
            break;
        case SEGOPS__ACT_DROP:
            segops__deliver_drop_all(s, events, n, a.verdict.code, a.verdict.drop_reason, a.status,
                                     a.detail);
            return;
        }
        if (durable && (retries > cfg->max_retries || now + wait > budget_end)) {
            /* With a spool an outage drops nothing: the batch waits on disk and
             * is tried again with capped backoff; at the stop it stays there. */
            if (segops__gate_stopping(ctx->gate)) {
                if (ctx->probe)
                    segops__probe_end(ctx->probe, a.probing, true, now, now, generation);
                segops__deliver_keep_on_disk(s, events, n, a.status,
                                             "not delivered by the shutdown deadline");
                return;
            }
            budget_end = now + SEGOPS__MAX(wait, cfg->retry_cap_ms) + cfg->retry_budget_ms;
        } else if (now + wait > budget_end) {
            if (ctx->probe) segops__probe_end(ctx->probe, a.probing, true, now, now, generation);
            segops__deliver_drop_all(s, events, n, a.verdict.code, SEGOPS_DROP_RETRIES_EXHAUSTED,
                                     a.status, a.detail);
            return;
        }
        /* Every sender waits for this backoff (a flush cuts it to the floor
         * as it cuts this one's); one of them then probes. */
        if (ctx->probe)
            segops__probe_end(ctx->probe, a.probing, true, now + wait, now + floor_ms, generation);
        segops__log(cfg, SEGOPS_LOG_WARN, "%s; retrying %zu events in %u ms", a.detail, n, wait);
        /* The floor first, then the rest, which a flush or stop since the
         * attempt cuts; the stop deadline ends either. */
        if (!segops__gate_sleep(ctx->gate, segops__deadline_after(now, floor_ms), false,
                                generation) ||
            !segops__gate_sleep(ctx->gate, segops__deadline_after(now, wait), true, generation)) {
            segops__deliver_drop_at_deadline(s, events, n, SEGOPS__PAST_STOP, a.status, false);
            return;
        }
    }
}

void segops__deliver(segops__sender_t *s, segops__event_t **events, size_t n) {
    if (n) deliver_range(s, events, n);
    /* A request the worker began for this batch and never made (its events
     * expired, or a deadline passed first) ends here: every begun request
     * ends exactly once. */
    if (s->begun_at) {
        segops__pacer_note_done(s->ctx->pacer, s->begun_at, segops__clock_monotonic_ms(), false);
        s->begun_at = 0;
    }
}
