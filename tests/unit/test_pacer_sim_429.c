/* The simulated pacer against 429s: a plan learnt, early refusals, a change, bursts, a quota. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "pacer.h"
#include "waiting.h"

#include "pacer_sim.h"

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
        sim_run(&s);
        char label[64];
        snprintf(label, sizeof label, "plan %u/min%s%s", runs[i].plan, runs[i].far ? ", far" : "",
                 runs[i].counting ? ", refusals count" : "");
        sim_report(label, &s);
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
        sim_run(&s);
        sim_report(runs[i].label, &s);
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
    sim_run(&down);
    sim_report("plan 60 -> 20/min", &down);
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
    sim_run(&up);
    sim_report("plan 20 -> 60/min", &up);
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
    sim_run(&base);
    sim_t s = {.rate = 1000000,
               .arrive_ms = 5,
               .shutdown_ms = 30000,
               .server = {.refuse_every = 5, .burst_ra_s = 1}};
    sim_run(&s);
    sim_report("5,000 events, shutdown", &s);
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
        sim_run(&st);
        sim_report(far ? "200 events/s, far" : "200 events/s", &st);
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
    sim_run(&s);
    sim_report("quota after 100 calls, 30 min", &s);
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
        cmocka_unit_test(test_learns_the_plan_from_one_429),
        cmocka_unit_test(test_early_429s_at_low_traffic_are_not_the_plan),
        cmocka_unit_test(test_follows_a_change_of_plan),
        cmocka_unit_test(test_burst_limiter_costs_only_its_waits),
        cmocka_unit_test(test_quota_keeps_the_pace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
