/* What each kind of 429 does to the pacer: bursts, windows, quotas, unknown ones; probing. */
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
#include "pacer_log.h"
#include "pacer_rules.h"

#include "pacer_rules.h"

static void test_burst_429_only_waits(void **state) {
    (void)state;
    segops__pacer_t *p = make_pacer(0);
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
    segops__pacer_t *p = make_pacer(0);
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
    segops__pacer_t *p = make_pacer(0);
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
    segops__pacer_t *p = make_pacer(0);
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
    p = make_pacer(0);
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
    segops__pacer_t *p = make_pacer(0);
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
    segops__pacer_t *p = make_pacer(0);
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
    p = make_pacer(0);
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

/* Whether a window 429 measured the plan: a client that ran 10 s, its calls
 * alone in the server's window. Only when a full request's worth waited before
 * the 429 was it using the plan fully; without, its 9 calls say how little it
 * sent: a momentary bound, raised fast once the limit holds a backlog back. */
static void test_window_429_measures_the_plan_only_after_a_backlog(void **state) {
    (void)state;
    for (int backlog = 0; backlog < 2; backlog++) {
        segops__pacer_t *p = make_pacer(0);
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
    segops__pacer_t *p = make_pacer(0);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_429_only_waits),
        cmocka_unit_test(test_window_429_learns_the_implied_window),
        cmocka_unit_test(test_window_429_of_a_minute_or_more_only_waits),
        cmocka_unit_test(test_quota_429_changes_nothing),
        cmocka_unit_test(test_unknown_429_backs_off_and_learns_when_repeated),
        cmocka_unit_test(test_probing_schedule),
        cmocka_unit_test(test_window_429_measures_the_plan_only_after_a_backlog),
        cmocka_unit_test(test_momentary_bound_recovers_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
