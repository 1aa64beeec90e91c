/* The simulated pacer on default options: its figures, the plans it fits, delays, a hard limit. */
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
        sim_run(&s);
        sim_report(far ? "server 20..200 ms away" : "server 10..60 ms away", &s);
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
            sim_run(&s);
            char label[64];
            snprintf(label, sizeof label, "plan %u/min, %ds%s", runs[i].plan,
                     (int)(runs[i].arrive_ms / 1000), far ? ", far" : "");
            if (!counting) sim_report(label, &s);
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
    sim_run(&s);
    sim_report("5 events/s", &s);
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
    sim_run(&s);
    sim_report("5 events/s, 2 s per request", &s);
    assert_int_equal(s.delivered, s.events);
    int64_t longest = 0;
    for (size_t i = 1; i < s.ncalls; i++)
        longest = SEGOPS__MAX(longest, s.calls[i].start - s.calls[i - 1].start);
    printf("    longest gap between request starts: %lld ms\n", (long long)longest);
    assert_true(longest <= s.latency_ms);
    assert_true(s.max_delay <= s.latency_ms + s.latency_ms / 2);
    sim_free(&s);
}

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
        sim_run(&s);
        char label[64];
        snprintf(label, sizeof label, "max_requests_per_minute %u", runs[i].n);
        sim_report(label, &s);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_pacing_figures),
        cmocka_unit_test(test_default_pacing_fits_the_plans),
        cmocka_unit_test(test_low_traffic_delay_is_bounded),
        cmocka_unit_test(test_slow_server_keeps_the_interval),
        cmocka_unit_test(test_hard_limit_holds_in_every_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
