/* The pacer's rules one by one, on a clock the test sets: the exact window, the
 * spreading, the partial interval, what each kind of 429 does, probing, the log,
 * fork, allocation failure and several threads at once.
 * (test_pacer_sim.c runs it under simulated traffic against simulated servers.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "pacer.h"
#include "pacer_log.h"

#define T0 1000000 /* an arbitrary monotonic start */

static segops__pacer_config_t config(uint32_t max_per_minute) {
    return (segops__pacer_config_t){.max_per_minute = max_per_minute,
                                    .partial_interval_ms = SEGOPS__PACER_PARTIAL_INTERVAL_MS,
                                    .backoff_base_ms = 500,
                                    .backoff_cap_ms = 30000,
                                    .retry_after_max_ms = 300000,
                                    .seed = 42};
}

static segops__pacer_t *make(uint32_t max_per_minute) {
    segops__pacer_config_t cfg = config(max_per_minute);
    segops__pacer_t *p = NULL;
    assert_int_equal(segops__pacer_new(&cfg, &p), SEGOPS_OK);
    assert_non_null(p);
    return p;
}

/* One request that starts at `at` (it must be allowed) and is answered 2xx. */
static void request_ok(segops__pacer_t *p, int64_t at, int64_t took) {
    int64_t next;
    assert_true(segops__pacer_try_begin(p, at, true, true, &next));
    assert_int_equal(next, at);
    segops__pacer_note_done(p, at, at + took, true);
}

static void test_new_validates(void **state) {
    (void)state;
    segops__pacer_t *p = (segops__pacer_t *)1;
    segops__pacer_config_t cfg = config(SEGOPS__MAX_REQUESTS_PER_MINUTE + 1);
    assert_int_equal(segops__pacer_new(&cfg, &p), SEGOPS_E_INVALID_ARG);
    assert_null(p);
    assert_int_equal(segops__pacer_new(NULL, &p), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops__pacer_new(&cfg, NULL), SEGOPS_E_INVALID_ARG);
    cfg.max_per_minute = SEGOPS__MAX_REQUESTS_PER_MINUTE;
    assert_int_equal(segops__pacer_new(&cfg, &p), SEGOPS_OK);
    assert_int_equal(segops__pacer_current_per_minute(p, T0), SEGOPS__MAX_REQUESTS_PER_MINUTE);
    segops__pacer_free(p);
    segops__pacer_free(NULL);
}

static void test_new_fails_cleanly_without_memory(void **state) {
    (void)state;
    segops__pacer_config_t cfg = config(60);
    for (long n = 0; n < 2; n++) {
        long live = segops__alloc_test_live();
        segops__pacer_t *p = (segops__pacer_t *)1;
        segops__alloc_test_set_fail_after(n);
        assert_int_equal(segops__pacer_new(&cfg, &p), SEGOPS_E_NOMEM);
        segops__alloc_test_set_fail_after(-1);
        assert_null(p);
        assert_int_equal(segops__alloc_test_live(), live);
    }
}

static void test_config_from_options(void **state) {
    (void)state;
    segops_options_t *o;
    assert_int_equal(segops_options_new(&o), SEGOPS_OK);
    segops__pacer_config_t cfg;
    segops__pacer_config_from_options(o, 7, &cfg);
    assert_int_equal(cfg.max_per_minute, 0);
    assert_int_equal(cfg.partial_interval_ms, SEGOPS__PACER_PARTIAL_INTERVAL_MS);
    assert_int_equal(cfg.backoff_base_ms, 500);
    assert_int_equal(cfg.backoff_cap_ms, 30000);
    assert_int_equal(cfg.retry_after_max_ms, 300000);
    assert_int_equal(segops_options_set_max_requests_per_minute(o, 300), SEGOPS_OK);
    assert_int_equal(segops_options_set_flush_interval_ms(o, 200), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_requests_per_minute(o, 100001), SEGOPS_E_INVALID_ARG);
    segops__pacer_config_from_options(o, 7, &cfg);
    assert_int_equal(cfg.max_per_minute, 300);
    assert_int_equal(cfg.partial_interval_ms, 200); /* a shorter flush interval wins */
    segops_options_free(o);
}

/* The rolling-window edge: 1,000 ms would let 61 partial requests span exactly
 * 60 s, which a closed window counts; the default must leave room. */
static void test_partial_interval_default_leaves_room(void **state) {
    (void)state;
    assert_true(60 * SEGOPS__PACER_PARTIAL_INTERVAL_MS >= 60000 + 2000); /* 61 span >= 62 s */
    assert_true(60000 / SEGOPS__PACER_PARTIAL_INTERVAL_MS + 1 <= 58);    /* per minute */
    assert_true(SEGOPS__PACER_PARTIAL_INTERVAL_MS <= 1100);              /* "about a second" */
}

static void test_partial_full_and_urgent(void **state) {
    (void)state;
    segops__pacer_t *p = make(0);
    /* Nothing sent yet: even a partial request goes at once. */
    assert_int_equal(segops__pacer_next_slot(p, T0, false, false), T0);
    request_ok(p, T0, 30);
    const int64_t partial_at = T0 + SEGOPS__PACER_PARTIAL_INTERVAL_MS;
    assert_int_equal(segops__pacer_next_slot(p, T0 + 40, false, false), partial_at);
    assert_int_equal(segops__pacer_next_slot(p, T0 + 40, true, false), T0 + 40);
    assert_int_equal(segops__pacer_next_slot(p, T0 + 40, false, true), T0 + 40);
    int64_t retry_at = 0;
    assert_false(segops__pacer_try_begin(p, partial_at - 1, false, false, &retry_at));
    assert_int_equal(retry_at, partial_at);
    assert_true(segops__pacer_try_begin(p, partial_at, false, false, NULL));
    segops__pacer_note_done(p, partial_at, partial_at + 10, true);
    /* The interval counts from the latest start of any request. */
    assert_true(segops__pacer_try_begin(p, partial_at + 100, true, false, NULL));
    assert_int_equal(segops__pacer_next_slot(p, partial_at + 200, false, false),
                     partial_at + 100 + SEGOPS__PACER_PARTIAL_INTERVAL_MS);
    segops__pacer_note_done(p, partial_at + 100, partial_at + 300, false);
    assert_int_equal(segops__pacer_current_per_minute(p, partial_at), 0);
    segops__pacer_free(p);
}

/* n requests are allowed in a burst (urgent); the (n+1)th waits until 60,001 ms
 * after the answer of the nth newest, and one in flight counts until its answer. */
static void test_hard_limit_exact_window(void **state) {
    (void)state;
    segops__pacer_t *p = make(3);
    for (int i = 0; i < 3; i++) assert_true(segops__pacer_try_begin(p, T0 + i, true, true, NULL));
    int64_t retry_at;
    assert_false(segops__pacer_try_begin(p, T0 + 5, true, true, &retry_at));
    assert_int_equal(retry_at, T0 + 5 + 60001); /* all in flight: at least 60 s more */
    segops__pacer_note_done(p, T0, T0 + 100, true);
    segops__pacer_note_done(p, T0 + 2, T0 + 300, true); /* answers may come in any order */
    /* one in flight + the 2nd newest answer: T0 + 100 leaves the window first */
    assert_int_equal(segops__pacer_next_slot(p, T0 + 400, true, true), T0 + 100 + 60001);
    segops__pacer_note_done(p, T0 + 1, T0 + 500, false); /* a failure counts too */
    assert_int_equal(segops__pacer_next_slot(p, T0 + 600, true, true), T0 + 100 + 60001);
    assert_false(segops__pacer_try_begin(p, T0 + 60100, true, true, NULL));
    assert_true(segops__pacer_try_begin(p, T0 + 60101, true, true, NULL));
    assert_int_equal(segops__pacer_next_slot(p, T0 + 60102, true, true), T0 + 300 + 60001);
    segops__pacer_note_done(p, T0 + 60101, T0 + 60150, true);
    /* Not urgent: spread by ceil(60000 / 3) = 20,000 ms after the latest start too. */
    assert_int_equal(segops__pacer_next_slot(p, T0 + 60302, true, false),
                     SEGOPS__MAX(T0 + 300 + 60001, T0 + 60101 + 20000));
    assert_int_equal(segops__pacer_current_per_minute(p, T0), 3);
    segops__pacer_free(p);
}

static void test_hard_limit_spreads_requests(void **state) {
    (void)state;
    segops__pacer_t *p = make(60);
    int64_t start[200], t = T0;
    for (int i = 0; i < 200; i++) {
        start[i] = segops__pacer_next_slot(p, t, true, false);
        /* 60 s / 60 after the previous start, and once 60 were made, 60,001 ms
         * after the answer of the one 60 before. */
        int64_t expect = i == 0 ? T0 : start[i - 1] + 1000;
        if (i >= 60) expect = SEGOPS__MAX(expect, start[i - 60] + 50 + 60001);
        assert_int_equal(start[i], expect);
        request_ok(p, start[i], 50);
        t = start[i] + 50;
    }
    assert_int_equal(start[60], T0 + 60051);
    assert_int_equal(start[199], T0 + 199000 + 3 * 51);
    segops__pacer_free(p);
}

static void test_burst_429_only_waits(void **state) {
    (void)state;
    segops__pacer_t *p = make(0);
    int64_t t = T0;
    for (int i = 0; i < 40; i++, t += 1100) request_ok(p, t, 20);
    assert_true(segops__pacer_try_begin(p, t, true, false, NULL));
    segops__pacer_429_t r = segops__pacer_on_429(p, t + 20, 1000);
    assert_int_equal(r.kind, SEGOPS__LIMIT_BURST);
    assert_int_equal(r.wait_ms, 1000);
    assert_int_equal(r.streak, 1);
    assert_false(r.pace_changed);
    assert_int_equal(r.per_minute, 0);
    /* Every request waits for the server, then the pace is what it was. */
    assert_int_equal(segops__pacer_next_slot(p, t + 21, true, true), t + 1020);
    assert_int_equal(segops__pacer_next_slot(p, t + 1020, true, false), t + 1020);
    assert_int_equal(segops__pacer_current_per_minute(p, t + 1020), 0);
    assert_int_equal(segops__pacer_rate_limited(p), 1);
    assert_int_equal(SEGOPS__PACER_BURST_MAX_MS, 3000);
    assert_true(segops__pacer_try_begin(p, t + 1020, true, false, NULL));
    assert_int_equal(segops__pacer_on_429(p, t + 1030, 3000).kind, SEGOPS__LIMIT_BURST);
    assert_int_equal(segops__pacer_current_per_minute(p, t + 5000), 0);
    segops__pacer_free(p);
}

/* A window 429: the accepted requests that started within the last
 * 60 s - Retry-After become the limit; the rest of the run only waits. */
static void test_window_429_learns_the_implied_window(void **state) {
    (void)state;
    segops__pacer_t *p = make(0);
    /* 100 requests 500 ms apart, answered 40 ms later; two refused with a 503. */
    for (int i = 0; i < 100; i++) {
        int64_t at = T0 + i * 500;
        assert_true(segops__pacer_try_begin(p, at, true, false, NULL));
        segops__pacer_note_done(p, at, at + 40, i != 95 && i != 97);
    }
    const int64_t refused_at = T0 + 100 * 500;
    assert_true(segops__pacer_try_begin(p, refused_at, true, false, NULL));
    segops__pacer_429_t r = segops__pacer_on_429(p, refused_at + 40, 20000);
    assert_int_equal(r.kind, SEGOPS__LIMIT_WINDOW);
    assert_int_equal(r.wait_ms, 20000);
    /* Started after refused_at + 40 - 40,000: i * 500 > 10,040 => i = 21..99, minus 2 refused. */
    assert_true(r.pace_changed);
    assert_int_equal(r.per_minute, 77);
    assert_int_equal(segops__pacer_current_per_minute(p, refused_at + 41), 77);
    uint32_t n;
    assert_false(segops__pacer_take_change(p, refused_at + 41, &n)); /* on_429 reported it */
    /* Everyone waits for the Retry-After and for the window to hold fewer than
     * 77: the 77th newest is the answer of i = 24. */
    assert_int_equal(segops__pacer_next_slot(p, refused_at + 50, true, true),
                     T0 + 24 * 500 + 40 + 60001);
    assert_true(T0 + 24 * 500 + 40 + 60001 > refused_at + 40 + 20000);
    /* A second 429 in the same run does not lower it again. */
    segops__pacer_note_request(p, refused_at + 20040);
    r = segops__pacer_on_429(p, refused_at + 20080, 10000);
    assert_int_equal(r.streak, 2);
    assert_false(r.pace_changed);
    assert_int_equal(r.per_minute, 77);
    segops__pacer_free(p);
}

/* A Retry-After of a minute or more (up to the quota threshold) only waits. */
static void test_window_429_of_a_minute_or_more_only_waits(void **state) {
    (void)state;
    segops__pacer_t *p = make(0);
    for (int i = 0; i < 10; i++) request_ok(p, T0 + i * 1000, 10);
    assert_true(segops__pacer_try_begin(p, T0 + 10000, true, false, NULL));
    segops__pacer_429_t r = segops__pacer_on_429(p, T0 + 10010, 90000);
    assert_int_equal(r.kind, SEGOPS__LIMIT_WINDOW);
    assert_false(r.pace_changed);
    assert_int_equal(r.per_minute, 0);
    assert_int_equal(segops__pacer_next_slot(p, T0 + 10020, true, true), T0 + 10010 + 90000);
    segops__pacer_free(p);
}

static void test_quota_429_changes_nothing(void **state) {
    (void)state;
    segops__pacer_t *p = make(0);
    for (int i = 0; i < 30; i++) request_ok(p, T0 + i * 1000, 10);
    assert_true(segops__pacer_try_begin(p, T0 + 30000, true, false, NULL));
    segops__pacer_429_t r = segops__pacer_on_429(p, T0 + 30010, (int64_t)86400 * 1000);
    assert_int_equal(r.kind, SEGOPS__LIMIT_QUOTA);
    assert_int_equal(r.wait_ms, 300000); /* capped: the caller keeps its budget rule */
    assert_false(r.pace_changed);
    assert_int_equal(r.per_minute, 0);
    /* Other requests are not held back by it, and the pace is unchanged. */
    assert_int_equal(segops__pacer_next_slot(p, T0 + 30020, true, false), T0 + 30020);
    assert_int_equal(segops__pacer_current_per_minute(p, T0 + 30020), 0);
    assert_int_equal(segops__pacer_on_429(p, T0 + 30030, 120001).kind, SEGOPS__LIMIT_QUOTA);
    segops__pacer_free(p);

    /* Nor does it touch a learned limit or its probing. */
    p = make(0);
    for (int i = 0; i < 30; i++) request_ok(p, T0 + i * 1000, 10);
    assert_true(segops__pacer_try_begin(p, T0 + 30000, true, false, NULL));
    /* started after T0 + 10: i = 1..29 */
    assert_int_equal(segops__pacer_on_429(p, T0 + 30010, 30000).per_minute, 29);
    request_ok(p, T0 + 70000, 10);
    /* The probe comes 2 minutes after the window 429 ... */
    assert_int_equal(segops__pacer_current_per_minute(p, T0 + 30010 + 120000 - 1), 29);
    assert_int_equal(segops__pacer_current_per_minute(p, T0 + 30010 + 120000), 31);
    uint32_t n = 0;
    assert_true(segops__pacer_take_change(p, T0 + 30010 + 120000, &n)); /* logged by the caller */
    assert_int_equal(n, 31);
    /* ... and a quota 429 after it neither undoes it nor delays the next one. */
    assert_true(segops__pacer_try_begin(p, T0 + 160000, true, false, NULL));
    r = segops__pacer_on_429(p, T0 + 160010, (int64_t)3600 * 1000);
    assert_false(r.pace_changed);
    assert_int_equal(r.per_minute, 31);
    assert_int_equal(segops__pacer_current_per_minute(p, T0 + 30010 + 240000), 34);
    segops__pacer_free(p);
}

/* No Retry-After: the waits double (with equal jitter) from the backoff base,
 * nothing is learned from one or two, the third in a row learns the minute. */
static void test_unknown_429_backs_off_and_learns_when_repeated(void **state) {
    (void)state;
    segops__pacer_t *p = make(0);
    for (int i = 0; i < 45; i++) request_ok(p, T0 + i * 1000, 10);
    segops__pacer_note_backlog(p, T0 + 44500); /* all the traffic went: the count is the plan */
    int64_t t = T0 + 45000;
    uint32_t expect = 500;
    for (uint32_t k = 1; k <= 4; k++, expect *= 2) {
        segops__pacer_note_request(p, t);
        segops__pacer_429_t r = segops__pacer_on_429(p, t + 10, -1);
        assert_int_equal(r.kind, SEGOPS__LIMIT_UNKNOWN);
        assert_int_equal(r.streak, k);
        assert_in_range(r.wait_ms, expect / 2, expect);
        /* started after t + 10 - 60,000: all 45 (the first at T0 > T0 + 45,010 - 60,000) */
        assert_int_equal(r.pace_changed, k == 3);
        assert_int_equal(r.per_minute, k < 3 ? 0 : 45);
        /* Once 45 is the limit, the window binds too: the 45th newest is i = k. */
        int64_t expect_slot = t + 10 + r.wait_ms;
        if (k >= 3) expect_slot = SEGOPS__MAX(expect_slot, T0 + (int64_t)k * 1000 + 10 + 60001);
        assert_int_equal(segops__pacer_next_slot(p, t + 10, true, true), expect_slot);
        t += 10 + r.wait_ms;
    }
    /* A success ends the run: the next one starts from the base again. */
    segops__pacer_note_request(p, t);
    segops__pacer_note_done(p, t, t + 10, true);
    segops__pacer_note_request(p, t + 20000);
    segops__pacer_429_t r = segops__pacer_on_429(p, t + 20010, -1);
    assert_int_equal(r.streak, 1);
    assert_in_range(r.wait_ms, 250, 500);
    segops__pacer_free(p);
}

/* Learned 100 at T: +10% every 2 minutes without a 429; a 429 after a raise
 * undoes it and doubles the stretch; a raise that held halves it again. */
static void test_probing_schedule(void **state) {
    (void)state;
    segops__pacer_t *p = make(0);
    for (int i = 0; i < 100; i++) request_ok(p, T0 + 1 + i * 400, 10);
    const int64_t t = T0 + 40000;
    segops__pacer_note_backlog(p, t - 1); /* all the traffic went: the count is the plan */
    assert_true(segops__pacer_try_begin(p, t, true, false, NULL));
    assert_int_equal(segops__pacer_on_429(p, t, 20000).per_minute, 100);
    const int64_t q = SEGOPS__PACER_PROBE_QUIET_MS;
    uint32_t n = 0;
    assert_int_equal(segops__pacer_current_per_minute(p, t + q - 1), 100);
    assert_false(segops__pacer_take_change(p, t + q - 1, &n));
    assert_true(segops__pacer_take_change(p, t + q, &n));
    assert_int_equal(n, 110);
    assert_false(segops__pacer_take_change(p, t + q, &n));
    assert_int_equal(segops__pacer_current_per_minute(p, t + 2 * q), 121);
    /* A short Retry-After right after that raise: back to the lesson, and the
     * next raise waits twice as long. */
    assert_true(segops__pacer_try_begin(p, t + 2 * q + 10, true, true, NULL));
    segops__pacer_429_t r = segops__pacer_on_429(p, t + 2 * q + 20, 2000);
    assert_int_equal(r.kind, SEGOPS__LIMIT_BURST);
    assert_true(r.pace_changed);
    assert_int_equal(r.per_minute, 100);
    const int64_t undone = t + 2 * q + 20;
    assert_int_equal(segops__pacer_current_per_minute(p, undone + 2 * q - 1), 100);
    assert_int_equal(segops__pacer_current_per_minute(p, undone + 2 * q), 110);
    /* That raise held a whole (doubled) stretch: the one after it halves the
     * stretch again, so the next comes 2 minutes later. */
    assert_int_equal(segops__pacer_current_per_minute(p, undone + 4 * q - 1), 110);
    assert_int_equal(segops__pacer_current_per_minute(p, undone + 4 * q), 121);
    assert_int_equal(segops__pacer_current_per_minute(p, undone + 5 * q - 1), 121);
    assert_int_equal(segops__pacer_current_per_minute(p, undone + 5 * q), 133);
    segops__pacer_free(p);

    /* Raises go on to the maximum, then the learned limit is dropped. */
    p = make(0);
    for (int i = 0; i < 10; i++) request_ok(p, T0 + i * 1000, 10);
    segops__pacer_note_backlog(p, T0 + 9500);
    assert_true(segops__pacer_try_begin(p, T0 + 10000, true, false, NULL));
    assert_int_equal(segops__pacer_on_429(p, T0 + 10000, 30000).per_minute, 10);
    int64_t at = T0 + 10000;
    uint32_t last = 10, raises = 0;
    while ((n = segops__pacer_current_per_minute(p, at)) != 0) {
        assert_true(n >= last);
        last = n;
        at += q;
        raises++;
        assert_true(raises < 200);
    }
    assert_true(last > SEGOPS__MAX_REQUESTS_PER_MINUTE / 1.1 - 1);
    assert_true(segops__pacer_take_change(p, at, &n));
    assert_int_equal(n, 0);
    segops__pacer_free(p);
}

/* A learned limit lower than the hard one applies; a higher one does not. */
static void test_learned_and_hard_limit(void **state) {
    (void)state;
    segops__pacer_t *p = make(50);
    for (int i = 0; i < 40; i++) request_ok(p, T0 + i * 1200, 10);
    assert_true(segops__pacer_try_begin(p, T0 + 48000, true, false, NULL));
    segops__pacer_429_t r = segops__pacer_on_429(p, T0 + 48000, 30000);
    assert_true(r.pace_changed); /* learned 24 (started after T0 + 18,000: i = 16..39) */
    assert_int_equal(r.per_minute, 24);
    /* 24 -> 26 -> 28 -> 30 -> 33 -> 36 -> 39 -> 42 -> 46 -> 50 -> 55, capped at 50 */
    assert_int_equal(segops__pacer_current_per_minute(p, T0 + 48000 + 3 * 120000), 30);
    assert_int_equal(segops__pacer_current_per_minute(p, T0 + 48000 + 9 * 120000 - 1), 46);
    assert_int_equal(segops__pacer_current_per_minute(p, T0 + 48000 + 10 * 120000), 50);
    segops__pacer_free(p);
}

static void test_log_grows_forgets_and_counts(void **state) {
    (void)state;
    segops__pacer_log_t log;
    assert_int_equal(segops__pacer_log_init(&log, 4, 64), SEGOPS_OK);
    /* 10 recent entries: the ring grows instead of forgetting them. */
    for (int i = 0; i < 10; i++) segops__pacer_log_add(&log, i * 100, i * 100 + 50, i % 2, -1);
    assert_int_equal(log.count, 10);
    assert_int_equal(segops__pacer_log_nth_newest(&log, 1), 950);
    assert_int_equal(segops__pacer_log_nth_newest(&log, 10), 50);
    assert_int_equal(segops__pacer_log_nth_newest(&log, 11), INT64_MIN);
    /* accepted (odd i) that started after 300: i = 5, 7, 9 */
    assert_int_equal(segops__pacer_log_count_accepted(&log, 300), 3);
    assert_int_equal(segops__pacer_log_count_accepted(&log, 299), 4);
    size_t cap = log.cap;
    /* Old entries are forgotten once the ring is full again. */
    for (int i = 10; i < 100; i++)
        segops__pacer_log_add(&log, i * 100, i * 100 + 50, true, i * 100 + 50 - 1000);
    assert_true(log.cap <= 64);
    assert_true(log.cap >= cap);
    assert_int_equal(segops__pacer_log_nth_newest(&log, 1), 9950);
    assert_int_equal(segops__pacer_log_count_accepted(&log, 9000), 9);
    /* No memory to grow: the oldest goes, the newest is kept. */
    segops__pacer_log_free(&log);
    assert_int_equal(segops__pacer_log_init(&log, 2, 64), SEGOPS_OK);
    segops__pacer_log_add(&log, 0, 10, true, -1);
    segops__pacer_log_add(&log, 20, 30, true, -1);
    segops__alloc_test_set_fail_after(0);
    segops__pacer_log_add(&log, 40, 50, true, -1);
    segops__alloc_test_set_fail_after(-1);
    assert_int_equal(log.count, 2);
    assert_int_equal(segops__pacer_log_nth_newest(&log, 1), 50);
    assert_int_equal(segops__pacer_log_nth_newest(&log, 2), 30);
    segops__pacer_log_free(&log);
}

/* Whether a window 429 measured the plan: a client that ran 10 s, its calls
 * alone in the server's window. Only when a full request's worth waited before
 * the 429 was it using the plan fully; without, its 9 calls say how little it
 * sent: a momentary bound, raised fast once the limit holds a backlog back. */
static void test_window_429_measures_the_plan_only_after_a_backlog(void **state) {
    (void)state;
    for (int backlog = 0; backlog < 2; backlog++) {
        segops__pacer_t *p = make(0);
        for (int i = 0; i < 10; i++) request_ok(p, T0 + i * 1000, 10);
        if (backlog) segops__pacer_note_backlog(p, T0 + 9500);
        const int64_t t = T0 + 10010;
        assert_true(segops__pacer_try_begin(p, T0 + 10000, true, true, NULL));
        /* The call at T0 leaves the window 50 s from now: 9 accepted after T0 + 10. */
        segops__pacer_429_t r = segops__pacer_on_429(p, t, 50000);
        assert_int_equal(r.kind, SEGOPS__LIMIT_WINDOW);
        assert_int_equal(r.per_minute, 9);
        /* A minute later, a backlog the limit holds back, the server accepting. */
        const int64_t later = t + 60000;
        for (int i = 0; i < 40; i++) { /* counted whatever the limit says */
            segops__pacer_note_request(p, later + i);
            segops__pacer_note_done(p, later + i, later + i + 1, true);
        }
        segops__pacer_note_backlog(p, later + 200);
        assert_int_equal(
            segops__pacer_current_per_minute(p, later + 200 + SEGOPS__PACER_PROBE_FAST_MS),
            backlog ? 9 : 18);
        segops__pacer_free(p);
    }
}

/* A window 429 whose span holds little of the client's own traffic (it started
 * 5 s ago, the server's oldest call is older): a momentary bound, the client's
 * rate over the 5 s it ran, not its count. It doubles after each fast stretch
 * in which it held a backlog back and the server accepted; nothing else raises
 * it fast. A raise the server refuses makes the bound before it the plan. */
static void test_momentary_bound_recovers_fast(void **state) {
    (void)state;
    segops__pacer_t *p = make(0);
    for (int i = 0; i < 5; i++) request_ok(p, T0 + i * 1000, 10);
    int64_t t = T0 + 5000;
    assert_true(segops__pacer_try_begin(p, t, true, true, NULL));
    /* Retry-After 10 s: the server counts the last 50 s; the client ran 5 of them. */
    segops__pacer_429_t r = segops__pacer_on_429(p, t + 10, 10000);
    assert_int_equal(r.kind, SEGOPS__LIMIT_WINDOW);
    assert_int_equal(r.per_minute, 50); /* 5 accepted in the 5,010 ms it ran, over 50 s */
    const int64_t f = SEGOPS__PACER_PROBE_FAST_MS;
    /* Accepted again, but no backlog: no fast raise. */
    t += 10010;
    request_ok(p, t, 10);
    assert_int_equal(segops__pacer_current_per_minute(p, t + 2 * f), 50);
    /* A backlog the limit holds back (the window is full),
     * and the server accepts: doubled after the stretch. */
    for (int i = 0; i < 43; i++) request_ok(p, t + 100 + i, 1); /* 50 in the window */
    segops__pacer_note_backlog(p, t + 200);
    assert_true(segops__pacer_next_slot(p, t + 200, true, false) > t + 200);
    assert_int_equal(segops__pacer_current_per_minute(p, t + 2 * f), 100);
    uint32_t n;
    assert_true(segops__pacer_take_change(p, t + 2 * f, &n));
    assert_int_equal(n, 100);
    /* The raise is refused by a short Retry-After: back to 50, measured now, so
     * a held backlog waits for the slow probe. */
    t += 2 * f;
    assert_true(segops__pacer_try_begin(p, t, true, true, NULL));
    r = segops__pacer_on_429(p, t + 10, 2000);
    assert_int_equal(r.kind, SEGOPS__LIMIT_BURST);
    assert_int_equal(r.per_minute, 50);
    segops__pacer_note_request(p, t + 3000); /* an urgent one, accepted */
    segops__pacer_note_done(p, t + 3000, t + 3010, true);
    segops__pacer_note_backlog(p, t + 3100);
    assert_int_equal(segops__pacer_current_per_minute(p, t + 3100 + 2 * f), 50);
    assert_int_equal(segops__pacer_current_per_minute(p, t + 10 + SEGOPS__PACER_PROBE_QUIET_MS * 2),
                     55);
    segops__pacer_free(p);
}

static void test_fork_child_keeps_the_lesson(void **state) {
    (void)state;
    segops__pacer_t *p = make(0);
    for (int i = 0; i < 20; i++) request_ok(p, T0 + i * 1000, 10);
    assert_true(segops__pacer_try_begin(p, T0 + 20000, true, false, NULL));
    assert_int_equal(segops__pacer_on_429(p, T0 + 20000, 40000).per_minute, 19);
    assert_true(segops__pacer_try_begin(p, T0 + 70000, true, true, NULL)); /* in flight */
    segops__pacer_fork_prepare(p);
    segops__pacer_fork_child(p, T0 + 70100);
    /* The parent's request is over for the child; the lesson and the log stay. */
    assert_int_equal(segops__pacer_rate_limited(p), 0);
    assert_int_equal(segops__pacer_current_per_minute(p, T0 + 70100), 19);
    assert_int_equal(segops__pacer_next_slot(p, T0 + 70100, true, true), T0 + 70100);
    segops__pacer_fork_prepare(p);
    segops__pacer_fork_parent(p);
    segops__pacer_free(p);
}

/* ---- several threads on one pacer ---- */

#define THREADS 4
#define LIMIT 40

typedef struct span {
    int64_t start, answer;
} span_t;

static atomic_llong sim_clock = T0;
static pthread_mutex_t spans_lock = PTHREAD_MUTEX_INITIALIZER;
static span_t spans[THREADS * 400];
static size_t span_count;

static void *sender(void *arg) {
    segops__pacer_t *p = arg;
    uint64_t rng = (uint64_t)(uintptr_t)&rng;
    for (int i = 0; i < 400; i++) {
        rng = rng * 6364136223846793005u + 1442695040888963407u;
        int64_t now = atomic_fetch_add(&sim_clock, (long long)(rng >> 60)) + (int64_t)(rng >> 60);
        int64_t retry_at;
        if (!segops__pacer_try_begin(p, now, (rng >> 40) & 1, (rng >> 41) & 1, &retry_at)) {
            /* Move time on (never past what another thread needs), then ask again. */
            long long want = SEGOPS__MIN(retry_at, now + 500);
            long long cur = atomic_load(&sim_clock);
            while (cur < want && !atomic_compare_exchange_weak(&sim_clock, &cur, want)) {
            }
            continue;
        }
        int64_t took = 1 + (int64_t)((rng >> 20) % 400);
        int64_t answer = atomic_fetch_add(&sim_clock, took) + took;
        if ((rng >> 30) % 7 == 0)
            segops__pacer_on_429(p, answer, 1000);
        else
            segops__pacer_note_done(p, now, answer, (rng >> 33) % 5 != 0);
        pthread_mutex_lock(&spans_lock);
        spans[span_count++] = (span_t){now, answer};
        pthread_mutex_unlock(&spans_lock);
    }
    return NULL;
}

/* However the server picks the moment it counts each request (anywhere between
 * its start and its answer), no closed 60 s window holds more than `limit`:
 * for each request b, the others that can share a window ending at b's start.
 * Returns the largest such count. */
static size_t busiest_window(const span_t *s, size_t n) {
    size_t most = 0;
    for (size_t b = 0; b < n; b++) {
        size_t together = 0;
        for (size_t a = 0; a < n; a++)
            if (s[a].start <= s[b].start && s[a].answer >= s[b].start - 60000) together++;
        most = SEGOPS__MAX(most, together);
    }
    return most;
}

static void test_threads_never_exceed_the_limit(void **state) {
    (void)state;
    segops__pacer_t *p = make(LIMIT);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_create(&t[i], NULL, sender, p), 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    assert_true(span_count > 2 * LIMIT); /* the run spanned several windows */
    /* The limit was reached (so it was what held the senders back), never passed. */
    assert_int_equal(busiest_window(spans, span_count), LIMIT);
    /* Every begun request ended: after a minute of quiet a burst of LIMIT goes. */
    int64_t later = atomic_load(&sim_clock) + 61000;
    for (int i = 0; i < LIMIT; i++)
        assert_true(segops__pacer_try_begin(p, later, true, true, NULL));
    assert_false(segops__pacer_try_begin(p, later, true, true, NULL));
    segops__pacer_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_validates),
        cmocka_unit_test(test_new_fails_cleanly_without_memory),
        cmocka_unit_test(test_config_from_options),
        cmocka_unit_test(test_partial_interval_default_leaves_room),
        cmocka_unit_test(test_partial_full_and_urgent),
        cmocka_unit_test(test_hard_limit_exact_window),
        cmocka_unit_test(test_hard_limit_spreads_requests),
        cmocka_unit_test(test_burst_429_only_waits),
        cmocka_unit_test(test_window_429_learns_the_implied_window),
        cmocka_unit_test(test_window_429_of_a_minute_or_more_only_waits),
        cmocka_unit_test(test_quota_429_changes_nothing),
        cmocka_unit_test(test_unknown_429_backs_off_and_learns_when_repeated),
        cmocka_unit_test(test_probing_schedule),
        cmocka_unit_test(test_learned_and_hard_limit),
        cmocka_unit_test(test_log_grows_forgets_and_counts),
        cmocka_unit_test(test_window_429_measures_the_plan_only_after_a_backlog),
        cmocka_unit_test(test_momentary_bound_recovers_fast),
        cmocka_unit_test(test_fork_child_keeps_the_lesson),
        cmocka_unit_test(test_threads_never_exceed_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
