/* The pacer under simulated traffic, on a simulated clock: events arrive at a
 * steady rate (or two, one after the other), a tiny worker sends what is queued
 * (up to 500 events) once it fills a request or has waited the pacing interval
 * (the worker's own bookkeeping, waiting.h) and the pacer allows, telling the
 * pacer when a full request waits; a simulated SegOps server enforces a plan
 * (API calls per rolling minute, 429 with the Retry-After a sliding log gives),
 * a burst limiter, a monthly quota or a block of 429s. Each test checks what
 * the server saw; the figures (calls per minute, events per request, delays)
 * are printed for the docs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "pacer.h"
#include "waiting.h"

#define BATCH_MAX 500
#define DELAY_BUCKETS 700000 /* ms; longer delays land in the last bucket */
#define BUDGET_MS 600000     /* retry_budget_ms: a batch refused this long is dropped */

/* ---- the server ---- */

typedef struct server {
    uint32_t per_minute;       /* calls per rolling (closed) 60 s; 0 = none */
    uint32_t later_per_minute; /* the plan from change_at_ms on */
    int64_t change_at_ms;      /* 0 = the plan never changes */
    bool count_refused;        /* refused calls count against the window too */
    uint32_t refuse_every;     /* burst limiter: every k-th call gets 429 ... */
    uint32_t burst_ra_s;       /* ... with this Retry-After */
    uint64_t quota_calls;      /* after this many accepted calls, 429 for a day; 0 = none */
    int64_t block_from_ms;     /* every call in [block_from_ms, block_until_ms) gets 429 ... */
    int64_t block_until_ms;
    int64_t block_ra_s; /* ... with this Retry-After (-1: none) */
    int64_t *counted;   /* times of the calls in the window's log, ascending */
    size_t counted_n, counted_cap;
    uint64_t seen, accepted;
} server_t;

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

/* ---- the client ---- */

typedef struct call {
    int64_t start, at_server, answer;
    bool accepted;
} call_t;

typedef struct sim {
    /* the run */
    uint64_t rate;       /* events per second ... */
    uint64_t later_rate; /* ... and from rate_change_ms on (0: the rate never changes) */
    int64_t rate_change_ms;
    int64_t watch_from_ms; /* min_pace: the lowest pace in force at a call from then on */
    int64_t arrive_ms;     /* events arrive during [0, arrive_ms) */
    int64_t shutdown_ms;   /* then a shutdown with this deadline (0: none, drain all) */
    uint32_t max_per_min;  /* the option */
    bool far;              /* latency 20..200 ms (default: 10..60 ms) */
    int64_t latency_ms;    /* every request takes this long (0: as above) */
    server_t server;
    /* what happened */
    uint64_t events, delivered, dropped;
    call_t *calls;
    size_t ncalls, refused;
    int64_t finished_ms;
    uint32_t pace_changes, pace;
    uint32_t min_pace; /* UINT32_MAX: no limit at any call since watch_from_ms */
    uint64_t *delays;  /* histogram of (server arrival - track) in ms */
    int64_t max_delay;
    int64_t max_delay_watched; /* of the events that arrived from watch_from_ms on */
} sim_t;

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

static void run(sim_t *s) {
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

static void sim_free(sim_t *s) {
    free(s->calls);
    free(s->delays);
    free(s->server.counted);
}

/* The most calls the server saw in any closed 60 s window. */
static size_t busiest_at_server(const sim_t *s, bool accepted_only) {
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

/* The most calls any server could have counted in one closed 60 s window,
 * whatever moment between start and answer it counts each at (calls are
 * sequential here, so starts and answers both ascend). */
static size_t busiest_for_any_server(const sim_t *s) {
    size_t most = 0, lo = 0;
    for (size_t b = 0; b < s->ncalls; b++) {
        while (s->calls[lo].answer < s->calls[b].start - 60000) lo++;
        most = SEGOPS__MAX(most, b - lo + 1);
    }
    return most;
}

/* The longest way to the server: half the longest latency. */
static int64_t max_up(const sim_t *s) { return s->far ? 100 : 30; }

static int64_t delay_percentile(const sim_t *s, double q) {
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

static void report(const char *label, const sim_t *s) {
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

/* ---- default options ---- */

/* What default pacing does to a stream, with no limit at the server: the
 * figures for the README. Partial requests at most every 1,050 ms, full ones at
 * once. */
static void test_default_pacing_figures(void **state) {
    (void)state;
    static const uint64_t rates[] = {5, 20, 100, 200, 400, 1000, 10000};
    printf("default options, no limit at the server, 5 simulated minutes:\n");
    for (size_t i = 0; i < 2 * SEGOPS__ARRAY_LEN(rates); i++) {
        /* Far (20..200 ms): one sender at a time carries about 4,500 events/s. */
        const bool far = i >= SEGOPS__ARRAY_LEN(rates);
        sim_t s = {.rate = rates[i % SEGOPS__ARRAY_LEN(rates)], .arrive_ms = 300000, .far = far};
        if (far && s.rate > 2000) continue;
        run(&s);
        report(far ? "server 20..200 ms away" : "server 10..60 ms away", &s);
        assert_int_equal(s.delivered, s.events);
        assert_int_equal(s.refused, 0);
        double per_call = (double)s.delivered / (double)s.ncalls;
        if (s.rate * SEGOPS__PACER_PARTIAL_INTERVAL_MS / 1000 < BATCH_MAX) {
            /* Partial requests, one per interval: never 61 in 60 s, each carrying
             * the interval's events, each event sent within the interval. */
            assert_true(busiest_at_server(&s, false) <= 58);
            assert_true(busiest_for_any_server(&s) <= 58);
            assert_true(per_call >=
                        0.97 * (double)s.rate * SEGOPS__PACER_PARTIAL_INTERVAL_MS / 1000.0);
            assert_true(s.max_delay <= SEGOPS__PACER_PARTIAL_INTERVAL_MS + max_up(&s));
        } else {
            /* Full requests only: as many as the rate needs, no more. */
            assert_true(per_call >= 495);
            assert_true(busiest_at_server(&s, false) <= s.rate * 60 / BATCH_MAX + 2);
            /* The wait for 500 events, plus the request before it and the way there. */
            assert_true(s.max_delay <= BATCH_MAX * 1000 / (int64_t)s.rate + 3 * max_up(&s));
        }
        if (s.rate == 200) assert_true(busiest_at_server(&s, false) <= 60);
        if (s.rate == 1000) assert_true(busiest_at_server(&s, false) <= 300);
        sim_free(&s);
    }
}

/* The runs against plans, with each kind of server count: no 429 at
 * all where the default pace fits the plan, and every event delivered. */
static void test_default_pacing_fits_the_plans(void **state) {
    (void)state;
    static const struct {
        uint64_t rate;
        int64_t arrive_ms, shutdown_ms;
        uint32_t plan;
    } runs[] = {
        {1000, 30000, 10000, 300}, /* then a 10 s shutdown */
        {200, 60000, 0, 60},       {20, 300000, 0, 60},     {100, 300000, 0, 60},
        {200, 300000, 0, 60},      {400, 300000, 0, 60},    {1000, 300000, 0, 300},
        {2000, 300000, 0, 300},    {8000, 300000, 0, 1000},
    };
    printf("default options against plans:\n");
    for (size_t i = 0; i < SEGOPS__ARRAY_LEN(runs); i++) {
        for (int variant = 0; variant < 4; variant++) {
            const bool counting = variant & 1, far = variant & 2;
            if (far && runs[i].rate > 2000) continue; /* one far sender cannot carry it */
            sim_t s = {.rate = runs[i].rate,
                       .arrive_ms = runs[i].arrive_ms,
                       .shutdown_ms = runs[i].shutdown_ms,
                       .far = far,
                       .server = {.per_minute = runs[i].plan, .count_refused = counting}};
            run(&s);
            char label[64];
            snprintf(label, sizeof label, "plan %u/min, %ds%s", runs[i].plan,
                     (int)(runs[i].arrive_ms / 1000), far ? ", far" : "");
            if (!counting) report(label, &s);
            assert_int_equal(s.delivered, s.events);
            assert_int_equal(s.refused, 0);
            assert_int_equal(s.pace, 0);
            sim_free(&s);
        }
    }
}

/* Low traffic is not slowed: at 5 events/s every event reaches the server within
 * the partial interval (plus the way there), in requests of about 5 events. */
static void test_low_traffic_delay_is_bounded(void **state) {
    (void)state;
    sim_t s = {.rate = 5, .arrive_ms = 180000};
    run(&s);
    report("5 events/s", &s);
    assert_int_equal(s.delivered, s.events);
    assert_true(s.max_delay <= SEGOPS__PACER_PARTIAL_INTERVAL_MS + max_up(&s));
    assert_true(delay_percentile(&s, 0.5) <= SEGOPS__PACER_PARTIAL_INTERVAL_MS / 2 + max_up(&s));
    double per_call = (double)s.delivered / (double)s.ncalls;
    assert_true(per_call >= 4.5 && per_call <= 6.0);
    sim_free(&s);
}

/* A slow server does not stretch the pacing interval: it counts from the
 * previous request's start. 5 events/s against a server that answers after
 * 2 s: a request every 2 s (not 2 s + 1.05 s), each event on its way by the
 * next start, so at the server within 2 s plus the 1 s way there. */
static void test_slow_server_keeps_the_interval(void **state) {
    (void)state;
    sim_t s = {.rate = 5, .arrive_ms = 120000, .latency_ms = 2000};
    run(&s);
    report("5 events/s, 2 s per request", &s);
    assert_int_equal(s.delivered, s.events);
    int64_t longest = 0;
    for (size_t i = 1; i < s.ncalls; i++)
        longest = SEGOPS__MAX(longest, s.calls[i].start - s.calls[i - 1].start);
    printf("    longest gap between request starts: %lld ms\n", (long long)longest);
    assert_true(longest <= s.latency_ms);
    assert_true(s.max_delay <= s.latency_ms + s.latency_ms / 2);
    sim_free(&s);
}

/* ---- max_requests_per_minute ---- */

static void test_hard_limit_holds_in_every_window(void **state) {
    (void)state;
    static const struct {
        uint32_t n;
        uint64_t rate;
        int64_t arrive_ms, shutdown_ms;
        bool overloaded; /* more events than n requests carry while they arrive */
    } runs[] = {
        {60, 400, 30000, 30000, false},   /* the run: then a 30 s shutdown */
        {60, 10000, 120000, 0, true},     /* far over what 60 calls carry */
        {7, 100, 180000, 0, true},        /* 7 x 500 a minute < 6,000 */
        {300, 10000, 120000, 0, true},    /* 2,500 events/s at most */
        {1000, 10000, 120000, 0, true},   /* 8,333 events/s at most */
        {10, 1000000, 20, 600000, true},  /* 20,000 events at once, then a shutdown */
        {100000, 10000, 60000, 0, false}, /* the maximum: never binds */
        {1, 50, 180000, 0, true},         /* one call a minute */
    };
    printf("max_requests_per_minute, the server enforcing the same limit:\n");
    for (size_t i = 0; i < SEGOPS__ARRAY_LEN(runs); i++) {
        sim_t s = {.rate = runs[i].rate,
                   .arrive_ms = runs[i].arrive_ms,
                   .shutdown_ms = runs[i].shutdown_ms,
                   .max_per_min = runs[i].n,
                   .server = {.per_minute = runs[i].n, .count_refused = true}};
        run(&s);
        char label[64];
        snprintf(label, sizeof label, "max_requests_per_minute %u", runs[i].n);
        report(label, &s);
        assert_int_equal(s.refused, 0);
        assert_true(busiest_at_server(&s, false) <= runs[i].n);
        assert_true(busiest_for_any_server(&s) <= runs[i].n);
        /* No deadline passes before the queue drains in these runs. */
        assert_int_equal(s.delivered, s.events);
        if (runs[i].overloaded) {
            /* It packs what waits: full requests whenever the limit binds ... */
            assert_true(s.delivered >= (uint64_t)(s.ncalls - 2) * 499);
            /* ... and uses the limit, not far below it. */
            assert_true(busiest_at_server(&s, false) >= runs[i].n * 95 / 100);
        }
        sim_free(&s);
    }
}

/* ---- learning from the server ---- */

/* The times of the 429s of a run. */
static size_t refusal_times(const sim_t *s, int64_t *out, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < s->ncalls && n < max; i++)
        if (!s->calls[i].accepted) out[n++] = s->calls[i].answer;
    return n;
}

/* A client without the option that outgrows its plan gets one 429, learns the
 * plan from it and keeps to it: the next 429 can only come from a probe, and
 * each probe that fails waits twice as long. A client whose traffic filled its
 * requests was using the plan fully: its count is the plan, and the first probe
 * comes 2 minutes later. One sending partial requests learns a momentary bound,
 * which it may raise once after 10 s while a backlog waits (the window wait
 * builds one); the 429 that raise draws makes the bound the plan. */
static void test_learns_the_plan_from_one_429(void **state) {
    (void)state;
    static const struct {
        uint64_t rate;
        uint32_t plan;
        bool far, counting;
    } runs[] = {
        {10000, 1000, false, false}, /* 1,200 full requests a minute wanted */
        {10000, 1000, false, true},  {3000, 300, false, false}, {3000, 300, true, true},
        {100, 30, false, false}, /* the default 57 a minute against 30 */
        {100, 30, true, true},       {1000, 60, false, false},  {200, 45, true, false},
    };
    printf("default options, the plan below the pace (20 simulated minutes):\n");
    for (size_t i = 0; i < SEGOPS__ARRAY_LEN(runs); i++) {
        sim_t s = {.rate = runs[i].rate,
                   .arrive_ms = 1200000,
                   .far = runs[i].far,
                   .server = {.per_minute = runs[i].plan, .count_refused = runs[i].counting}};
        run(&s);
        char label[64];
        snprintf(label, sizeof label, "plan %u/min%s%s", runs[i].plan, runs[i].far ? ", far" : "",
                 runs[i].counting ? ", refusals count" : "");
        report(label, &s);
        int64_t at[16];
        size_t n = refusal_times(&s, at, 16);
        printf("    429s at");
        for (size_t k = 0; k < n; k++) printf(" %.1f", (double)at[k] / 60000.0);
        printf(" min\n");
        assert_true(n >= 1);
        /* Nothing between the lesson and the first probe. */
        const bool fills = s.rate * SEGOPS__PACER_PARTIAL_INTERVAL_MS / 1000 >= BATCH_MAX;
        if (n > 1)
            assert_true(at[1] - at[0] >=
                        (fills ? SEGOPS__PACER_PROBE_QUIET_MS : SEGOPS__PACER_PROBE_FAST_MS));
        /* Failed probes come further and further apart: 2, 4, 8, 16 minutes. */
        for (size_t k = 2; k < n; k++) assert_true(at[k] - at[k - 1] > at[k - 1] - at[k - 2]);
        assert_true(n <= 5);
        /* Never far below the plan, never above it, once learned. */
        size_t busiest = busiest_at_server(&s, true);
        assert_true(busiest <= runs[i].plan);
        assert_true(s.pace >= runs[i].plan * 9 / 10 || s.pace == 0);
        assert_true(s.pace <= runs[i].plan * 11 / 10 + 1);
        /* A plan that can carry the stream delivers all of it. */
        if (s.rate * 60 <= (uint64_t)runs[i].plan * BATCH_MAX * 9 / 10)
            assert_int_equal(s.delivered, s.events);
        sim_free(&s);
    }
}

/* One early run of 429s while traffic is low is not a plan: the client's own
 * count then says how little it sent, not what the server allows. Once the
 * server accepts again and the traffic needs it, the client reaches its full
 * rate within two minutes, and from then on its limit never holds it below
 * what the traffic needs: each event waits no longer than under default pacing
 * without a limit. The runs of issue 18: 20 events/s, 429s from 5 s to 25 s
 * (Retry-After 10 s, none, or a single one), then 1,000 events/s; and 200
 * events/s with 429s from 20 s to 110 s. */
static void test_early_429s_at_low_traffic_are_not_the_plan(void **state) {
    (void)state;
    static const struct {
        const char *label;
        uint64_t rate, later_rate;
        int64_t block_from, block_until, block_ra_s, arrive_ms;
        uint32_t plan;
    } runs[] = {
        {"20 s of 429s (10 s), then 1,000/s", 20, 1000, 5000, 25000, 10, 325000, 0},
        {"20 s of 429s (none), then 1,000/s", 20, 1000, 5000, 25000, -1, 325000, 0},
        {"one 429 (10 s), then 1,000/s", 20, 1000, 5000, 6050, 10, 325000, 0},
        {"the same, plan 1,000/min", 20, 1000, 5000, 25000, 10, 325000, 1000},
        {"90 s of 429s (10 s) at 200/s", 200, 0, 20000, 110000, 10, 400000, 0},
        {"90 s of 429s (none) at 200/s", 200, 0, 20000, 110000, -1, 400000, 0},
    };
    printf("early 429s at low traffic, then traffic that needs more:\n");
    for (size_t i = 0; i < SEGOPS__ARRAY_LEN(runs); i++) {
        const int64_t recovered = runs[i].block_until;
        const uint64_t rate = runs[i].later_rate ? runs[i].later_rate : runs[i].rate;
        sim_t s = {.rate = runs[i].rate,
                   .later_rate = runs[i].later_rate,
                   .rate_change_ms = runs[i].later_rate ? recovered : 0,
                   .arrive_ms = runs[i].arrive_ms,
                   .watch_from_ms = recovered + 120000,
                   .server = {.per_minute = runs[i].plan,
                              .block_from_ms = runs[i].block_from,
                              .block_until_ms = recovered,
                              .block_ra_s = runs[i].block_ra_s}};
        run(&s);
        report(runs[i].label, &s);
        printf("    from 2 min after the last 429 on: lowest pace %u/min, longest wait %lld ms\n",
               s.min_pace == UINT32_MAX ? 0 : s.min_pace, (long long)s.max_delay_watched);
        assert_int_equal(s.delivered, s.events);
        /* No 429 once the server accepts again (the plan, if any, carries it). */
        for (size_t k = 0; k < s.ncalls; k++)
            if (!s.calls[k].accepted) assert_true(s.calls[k].at_server < recovered);
        /* Two minutes after it: what default pacing gives without any limit. */
        const bool fills = rate * SEGOPS__PACER_PARTIAL_INTERVAL_MS / 1000 >= BATCH_MAX;
        const int64_t wait = fills ? BATCH_MAX * 1000 / (int64_t)rate + 2 * max_up(&s)
                                   : SEGOPS__PACER_PARTIAL_INTERVAL_MS + max_up(&s);
        assert_true(s.max_delay_watched <= wait);
        /* The limit never below the requests the traffic needs at that pace. */
        const uint64_t needs = fills ? (rate * 60 + BATCH_MAX - 1) / BATCH_MAX
                                     : 60000 / SEGOPS__PACER_PARTIAL_INTERVAL_MS;
        assert_true(s.min_pace >= needs);
        sim_free(&s);
    }
}

/* The plan changes under a running client: a downgrade costs a 429 (and one
 * more for the fast raise of the momentary bound a partial-request client
 * learns from it, see above); after an upgrade the probes find the new room. */
static void test_follows_a_change_of_plan(void **state) {
    (void)state;
    printf("a change of plan at minute 5:\n");
    sim_t down = {.rate = 100,
                  .arrive_ms = 900000,
                  .server = {.per_minute = 60, .later_per_minute = 20, .change_at_ms = 300000}};
    run(&down);
    report("plan 60 -> 20/min", &down);
    int64_t at[16];
    size_t n = refusal_times(&down, at, 16);
    assert_true(n >= 1 && n <= 4);
    assert_true(at[0] >= 300000);
    if (n > 1) assert_true(at[1] - at[0] >= SEGOPS__PACER_PROBE_FAST_MS);
    if (n > 2) assert_true(at[2] - at[1] >= SEGOPS__PACER_PROBE_QUIET_MS);
    assert_int_equal(down.delivered, down.events); /* 20 x 500 a minute carry 6,000 */
    assert_true(down.pace >= 18 && down.pace <= 22);
    sim_free(&down);

    sim_t up = {.rate = 200,
                .arrive_ms = 3600000,
                .server = {.per_minute = 20, .later_per_minute = 60, .change_at_ms = 300000}};
    run(&up);
    report("plan 20 -> 60/min", &up);
    n = refusal_times(&up, at, 16);
    assert_true(n >= 1 && n <= 4);
    /* The last 10 minutes run at the default pace again (57 a minute, below 60). */
    size_t late = 0;
    for (size_t i = 0; i < up.ncalls; i++) late += up.calls[i].start >= up.arrive_ms - 600000;
    printf("    last 10 minutes: %.1f calls/min, pace %u/min\n", (double)late / 10.0, up.pace);
    assert_true(late >= 10 * 54);
    assert_int_equal(up.delivered, up.events);
    sim_free(&up);
}

/* A burst limiter refusing one call in five with Retry-After: 1 costs those
 * waits and nothing more: the pace never changes. */
static void test_burst_limiter_costs_only_its_waits(void **state) {
    (void)state;
    printf("a burst limiter (every 5th call: 429, Retry-After 1 s):\n");
    /* 5,000 events at once, then a 30 s shutdown. */
    sim_t base = {.rate = 1000000, .arrive_ms = 5, .shutdown_ms = 30000};
    run(&base);
    sim_t s = {.rate = 1000000,
               .arrive_ms = 5,
               .shutdown_ms = 30000,
               .server = {.refuse_every = 5, .burst_ra_s = 1}};
    run(&s);
    report("5,000 events, shutdown", &s);
    assert_int_equal(s.delivered, s.events);
    assert_true(s.refused >= 2);
    assert_int_equal(s.pace_changes, 0);
    assert_int_equal(s.pace, 0);
    /* Each refusal costs its 1 s wait and one more round trip (60 ms at most). */
    assert_true(s.finished_ms <= base.finished_ms + (int64_t)s.refused * (1000 + 60));
    sim_free(&base);
    sim_free(&s);

    /* A stream: the pace stays where it was; the waits only fill requests. */
    for (int far = 0; far < 2; far++) {
        sim_t st = {.rate = 200,
                    .arrive_ms = 600000,
                    .far = far,
                    .server = {.per_minute = 60, .refuse_every = 5, .burst_ra_s = 1}};
        run(&st);
        report(far ? "200 events/s, far" : "200 events/s", &st);
        assert_int_equal(st.delivered, st.events);
        assert_int_equal(st.pace_changes, 0);
        assert_int_equal(st.pace, 0);
        assert_true(st.refused >= st.ncalls / 5 - 1);
        /* Accepted calls: 4 in 5 of a pace that loses about 1 s per refusal. */
        assert_true(busiest_at_server(&st, true) >= 35);
        assert_true(st.max_delay <= SEGOPS__PACER_PARTIAL_INTERVAL_MS + 1000 + 4 * max_up(&st));
        sim_free(&st);
    }
}

/* A monthly quota (Retry-After: a day) is not a rate: the pace stays, each batch
 * waits the capped 300 s, and is dropped once its 600 s budget is spent. */
static void test_quota_keeps_the_pace(void **state) {
    (void)state;
    sim_t s = {
        .rate = 100, .arrive_ms = 1800000, .shutdown_ms = 10000, .server = {.quota_calls = 100}};
    run(&s);
    report("quota after 100 calls, 30 min", &s);
    assert_int_equal(s.pace_changes, 0);
    assert_int_equal(s.pace, 0);
    assert_int_equal(s.ncalls - s.refused, 100);
    /* After the quota: a call per capped 300 s wait, a new batch (at once: other
     * requests are not held back) once a batch's 600 s budget is spent. */
    int64_t at[64];
    size_t n = refusal_times(&s, at, 64);
    assert_true(n >= 5 && n <= 1800 / 300 + 2);
    for (size_t k = 1; k < n; k++) assert_true(at[k] - at[k - 1] >= 300000 - 100);
    assert_true(s.dropped > 0);
    assert_int_equal(s.delivered + s.dropped, s.events);
    sim_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_pacing_figures),
        cmocka_unit_test(test_default_pacing_fits_the_plans),
        cmocka_unit_test(test_low_traffic_delay_is_bounded),
        cmocka_unit_test(test_slow_server_keeps_the_interval),
        cmocka_unit_test(test_hard_limit_holds_in_every_window),
        cmocka_unit_test(test_learns_the_plan_from_one_429),
        cmocka_unit_test(test_early_429s_at_low_traffic_are_not_the_plan),
        cmocka_unit_test(test_follows_a_change_of_plan),
        cmocka_unit_test(test_burst_limiter_costs_only_its_waits),
        cmocka_unit_test(test_quota_keeps_the_pace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
