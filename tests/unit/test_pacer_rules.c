/* The pacer's rules: validation, the partial interval, the exact window, the log, fork, threads. */
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

static void test_new_validates(void **state) {
    (void)state;
    segops__pacer_t *p = (segops__pacer_t *)1;
    segops__pacer_config_t cfg = pacer_config(SEGOPS__MAX_REQUESTS_PER_MINUTE + 1);
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
    segops__pacer_config_t cfg = pacer_config(60);
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
    segops__pacer_t *p = make_pacer(0);
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
    segops__pacer_t *p = make_pacer(3);
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
    segops__pacer_t *p = make_pacer(60);
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

/* A learned limit lower than the hard one applies; a higher one does not. */
static void test_learned_and_hard_limit(void **state) {
    (void)state;
    segops__pacer_t *p = make_pacer(50);
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

static void test_fork_child_keeps_the_lesson(void **state) {
    (void)state;
    segops__pacer_t *p = make_pacer(0);
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
    segops__pacer_t *p = make_pacer(LIMIT);
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
        cmocka_unit_test(test_learned_and_hard_limit),
        cmocka_unit_test(test_log_grows_forgets_and_counts),
        cmocka_unit_test(test_fork_child_keeps_the_lesson),
        cmocka_unit_test(test_threads_never_exceed_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
