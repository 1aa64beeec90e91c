/* The pacer under simulated traffic on a simulated clock, for test_pacer_sim_*.c: events
 * arrive at a steady rate (or two, one after the other), a tiny worker sends what is queued
 * (up to 500 events) once it fills a request or has waited the pacing interval (the worker's
 * own bookkeeping, waiting.h) and the pacer allows, telling the pacer when a full request
 * waits; a simulated SegOps server enforces a plan (API calls per rolling minute, 429 with
 * the Retry-After a sliding log gives), a burst limiter, a monthly quota or a block of 429s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "pacer_sim.h"
#include "waiting.h"

static void count_call(server_t *sv, int64_t at) {
    if (sv->counted_n == sv->counted_cap) {
        sv->counted_cap = sv->counted_cap ? sv->counted_cap * 2 : 1024;
        sv->counted = realloc(sv->counted, sv->counted_cap * sizeof *sv->counted);
        assert_non_null(sv->counted);
    }
    sv->counted[sv->counted_n++] = at;
}

/* 0: accepted; otherwise the Retry-After in seconds of a 429 (-1: a 429
 * without one). */
static int64_t server_answer(server_t *sv, int64_t at) {
    sv->seen++;
    if (at >= sv->block_from_ms && at < sv->block_until_ms) return sv->block_ra_s;
    if (sv->quota_calls && sv->accepted >= sv->quota_calls) return 86400;
    if (sv->refuse_every && sv->seen % sv->refuse_every == 0) return sv->burst_ra_s;
    uint32_t limit =
        sv->change_at_ms && at >= sv->change_at_ms ? sv->later_per_minute : sv->per_minute;
    if (limit && sv->counted_n >= limit) {
        int64_t leaving = sv->counted[sv->counted_n - limit]; /* the limit-th newest */
        if (leaving >= at - 60000) {                          /* [at - 60 s, at] is full */
            if (sv->count_refused) count_call(sv, at);
            return (leaving + 60001 - at + 999) / 1000; /* until it leaves the window */
        }
    }
    count_call(sv, at);
    sv->accepted++;
    return 0;
}

/* The events that arrive in the first phase (all of them at a steady rate). */
static uint64_t first_phase(const sim_t *s) {
    if (!s->later_rate) return (uint64_t)s->arrive_ms * s->rate / 1000;
    return (uint64_t)s->rate_change_ms * s->rate / 1000;
}

static int64_t arrival(const sim_t *s, uint64_t i) {
    uint64_t n1 = first_phase(s);
    if (i < n1 || !s->later_rate) return (int64_t)(i * 1000 / s->rate);
    return s->rate_change_ms + (int64_t)((i - n1) * 1000 / s->later_rate);
}

/* How many of events 0, 1, ... arriving every 1000 / rate ms from `from` have
 * arrived by t: those with (i * 1000 / rate) <= t - from. */
static uint64_t arrived_since(int64_t from, uint64_t rate, int64_t t) {
    if (t < from) return 0;
    uint64_t d = (uint64_t)(t - from) + 1;
    return d * rate / 1000 + (d * rate % 1000 != 0);
}

static uint64_t arrived_by(const sim_t *s, int64_t t) {
    uint64_t n1 = first_phase(s), n = SEGOPS__MIN(arrived_since(0, s->rate, t), n1);
    if (s->later_rate) n += arrived_since(s->rate_change_ms, s->later_rate, t);
    return SEGOPS__MIN(n, s->events);
}

static void record(sim_t *s, call_t c) {
    if (s->ncalls % 1024 == 0) {
        s->calls = realloc(s->calls, (s->ncalls + 1024) * sizeof *s->calls);
        assert_non_null(s->calls);
    }
    s->calls[s->ncalls++] = c;
}

void sim_run(sim_t *s) {
    segops__pacer_config_t cfg = {.max_per_minute = s->max_per_min,
                                  .partial_interval_ms = SEGOPS__PACER_PARTIAL_INTERVAL_MS,
                                  .backoff_base_ms = 500,
                                  .backoff_cap_ms = 30000,
                                  .retry_after_max_ms = 300000,
                                  .seed = 7};
    segops__pacer_t *p;
    assert_int_equal(segops__pacer_new(&cfg, &p), SEGOPS_OK);
    s->events = first_phase(s);
    if (s->later_rate)
        s->events += (uint64_t)(s->arrive_ms - s->rate_change_ms) * s->later_rate / 1000;
    s->min_pace = UINT32_MAX;
    s->delays = calloc(DELAY_BUCKETS, sizeof *s->delays);
    assert_non_null(s->delays);
    const int64_t deadline = s->shutdown_ms ? s->arrive_ms + s->shutdown_ms : INT64_MAX;
    uint64_t rng = 0x243F6A8885A308D3u, taken = 0, first = 0, n = 0;
    bool resend = false; /* the batch [first, first + n) was refused and waits */
    segops__waiting_t waiting = {0};
    int64_t t = 0, refused_since = 0;
    for (;;) {
        const bool stopping = t >= s->arrive_ms;
        if (t >= deadline) break;
        /* A full request of new events waits (a resent batch is not new). */
        if (arrived_by(s, t) - taken >= BATCH_MAX) segops__pacer_note_backlog(p, t);
        if (!resend) {
            uint64_t queued = arrived_by(s, t) - taken;
            if (!queued) {
                if (taken == s->events) break;
                t = arrival(s, taken); /* sleep until the next event */
                continue;
            }
            first = taken;
            n = SEGOPS__MIN(queued, (uint64_t)BATCH_MAX);
            /* As the worker: a partial request is wanted once what is queued has
             * waited the pacing interval. */
            segops__waiting_seen(&waiting, t, (size_t)queued);
            const int64_t due = segops__waiting_due(&waiting, SEGOPS__PACER_PARTIAL_INTERVAL_MS).at;
            if (n < BATCH_MAX && !stopping && t < due) {
                int64_t wake = SEGOPS__MIN(due, s->arrive_ms);
                if (first + BATCH_MAX - 1 < s->events)
                    wake = SEGOPS__MIN(wake, arrival(s, first + BATCH_MAX - 1));
                t = SEGOPS__MIN(wake, deadline);
                continue;
            }
        }
        const bool full = resend || n == BATCH_MAX;
        int64_t at;
        if (!segops__pacer_try_begin(p, t, full, stopping, &at)) {
            /* Sleep until the slot, or until the batch fills up or the shutdown. */
            if (!full && first + BATCH_MAX - 1 < s->events)
                at = SEGOPS__MIN(at, arrival(s, first + BATCH_MAX - 1));
            if (!stopping) at = SEGOPS__MIN(at, s->arrive_ms);
            t = SEGOPS__MIN(at, deadline);
            continue;
        }
        if (t >= s->watch_from_ms) {
            uint32_t pace = segops__pacer_current_per_minute(p, t);
            s->min_pace = SEGOPS__MIN(s->min_pace, pace ? pace : UINT32_MAX);
        }
        rng = rng * 6364136223846793005u + 1442695040888963407u;
        const int64_t latency = s->latency_ms ? s->latency_ms
                                : s->far      ? 20 + (int64_t)((rng >> 33) % 181)
                                              : 10 + (int64_t)((rng >> 33) % 51);
        call_t c = {t, t + latency / 2, t + latency, false};
        int64_t retry_after_s = server_answer(&s->server, c.at_server);
        c.accepted = retry_after_s == 0;
        record(s, c);
        if (!resend) {
            taken += n;
            segops__waiting_took(&waiting, t);
        }
        if (c.accepted) {
            segops__pacer_note_done(p, c.start, c.answer, true);
            for (uint64_t i = first; i < first + n; i++) {
                int64_t d = c.at_server - arrival(s, i);
                s->delays[SEGOPS__MIN(d, (int64_t)DELAY_BUCKETS - 1)]++;
                s->max_delay = SEGOPS__MAX(s->max_delay, d);
                if (arrival(s, i) >= s->watch_from_ms)
                    s->max_delay_watched = SEGOPS__MAX(s->max_delay_watched, d);
            }
            s->delivered += n;
            resend = false;
            t = c.answer;
        } else {
            segops__pacer_429_t r =
                segops__pacer_on_429(p, c.answer, retry_after_s < 0 ? -1 : retry_after_s * 1000);
            s->refused++;
            if (!resend) refused_since = c.answer;
            resend = true;
            if (r.pace_changed) s->pace_changes++;
            t = c.answer + r.wait_ms;
            if (t - refused_since > BUDGET_MS) resend = false; /* dropped: RETRIES_EXHAUSTED */
        }
        if (segops__pacer_take_change(p, t, NULL)) s->pace_changes++;
    }
    s->dropped = s->events - s->delivered; /* at the deadline, or past the budget */
    s->finished_ms = t;
    s->pace = segops__pacer_current_per_minute(p, t);
    segops__pacer_free(p);
}

void sim_free(sim_t *s) {
    free(s->calls);
    free(s->delays);
    free(s->server.counted);
}

size_t busiest_at_server(const sim_t *s, bool accepted_only) {
    size_t most = 0, lo = 0, in = 0;
    for (size_t hi = 0; hi < s->ncalls; hi++) {
        if (accepted_only && !s->calls[hi].accepted) continue;
        in++;
        while (s->calls[lo].at_server < s->calls[hi].at_server - 60000) {
            if (!accepted_only || s->calls[lo].accepted) in--;
            lo++;
        }
        most = SEGOPS__MAX(most, in);
    }
    return most;
}

size_t busiest_for_any_server(const sim_t *s) {
    size_t most = 0, lo = 0;
    for (size_t b = 0; b < s->ncalls; b++) {
        while (s->calls[lo].answer < s->calls[b].start - 60000) lo++;
        most = SEGOPS__MAX(most, b - lo + 1);
    }
    return most;
}

int64_t max_up(const sim_t *s) { return s->far ? 100 : 30; }

int64_t delay_percentile(const sim_t *s, double q) {
    uint64_t want = (uint64_t)(q * (double)s->delivered), seen = 0;
    for (int64_t d = 0; d < DELAY_BUCKETS; d++)
        if ((seen += s->delays[d]) > want) return d;
    return DELAY_BUCKETS;
}

static double calls_per_minute(const sim_t *s) {
    size_t n = 0;
    for (size_t i = 0; i < s->ncalls; i++) n += s->calls[i].start < s->arrive_ms;
    return (double)n * 60000.0 / (double)s->arrive_ms;
}

void sim_report(const char *label, const sim_t *s) {
    size_t accepted = s->ncalls - s->refused;
    printf("  %-34s %6llu ev/s: %6.1f calls/min (busiest 60 s: %4zu), %5.1f events/call, "
           "delay p50 %5lld ms p99 %5lld ms max %6lld ms, 429s %zu, pace %u/min, %llu of %llu "
           "delivered\n",
           label, (unsigned long long)s->rate, calls_per_minute(s), busiest_at_server(s, false),
           accepted ? (double)s->delivered / (double)accepted : 0.0,
           (long long)delay_percentile(s, 0.5), (long long)delay_percentile(s, 0.99),
           (long long)s->max_delay, s->refused, s->pace, (unsigned long long)s->delivered,
           (unsigned long long)s->events);
}
