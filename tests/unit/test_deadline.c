/* The one deadline type (src/deadline.h): none, at, after, earliest, expired,
 * remaining_ms and the timespec for condition waits. Pure: every "now" is
 * given, no clock is read (but by the last test, which waits for nothing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>

#include "clock.h"
#include "deadline.h"

/* None never expires, whatever the time, and is told apart from any time. */
static void test_none_never_expires(void **state) {
    (void)state;
    segops__deadline_t none = segops__deadline_none();
    assert_true(segops__deadline_is_none(none));
    assert_false(segops__deadline_expired(none, 0));
    assert_false(segops__deadline_expired(none, INT64_MAX - 1));
    assert_false(segops__deadline_is_none(segops__deadline_at(0)));
    assert_false(segops__deadline_is_none(segops__deadline_at(INT64_MAX - 1)));
}

/* A deadline expires at its time, not before (the old "now >= deadline"). */
static void test_expires_at_its_time(void **state) {
    (void)state;
    segops__deadline_t d = segops__deadline_at(5000);
    assert_false(segops__deadline_expired(d, 4999));
    assert_true(segops__deadline_expired(d, 5000));
    assert_true(segops__deadline_expired(d, 5001));
    /* Time 0 is a time like any other: 0 no longer means none. */
    assert_true(segops__deadline_expired(segops__deadline_at(0), 0));
}

/* A public timeout: >= 0 ms from now, < 0 none; one too large for the
 * clock is none rather than an overflow into the past. */
static void test_after(void **state) {
    (void)state;
    assert_int_equal(segops__deadline_after(1000, 250).at, 1250);
    assert_int_equal(segops__deadline_after(1000, 0).at, 1000);
    assert_true(segops__deadline_expired(segops__deadline_after(1000, 0), 1000));
    assert_true(segops__deadline_is_none(segops__deadline_after(1000, -1)));
    assert_true(segops__deadline_is_none(segops__deadline_after(1000, INT_MIN)));
    assert_true(segops__deadline_is_none(segops__deadline_after(1000, INT64_MAX - 10)));
    assert_false(
        segops__deadline_expired(segops__deadline_after(1000, INT64_MAX - 10), INT64_MAX - 1));
}

/* A stop deadline and a call's own combine to the earlier; none yields. */
static void test_earliest(void **state) {
    (void)state;
    segops__deadline_t a = segops__deadline_at(100), b = segops__deadline_at(200);
    segops__deadline_t none = segops__deadline_none();
    assert_int_equal(segops__deadline_earliest(a, b).at, 100);
    assert_int_equal(segops__deadline_earliest(b, a).at, 100);
    assert_int_equal(segops__deadline_earliest(a, none).at, 100);
    assert_int_equal(segops__deadline_earliest(none, b).at, 200);
    assert_true(segops__deadline_is_none(segops__deadline_earliest(none, none)));
    assert_int_equal(segops__deadline_earliest(a, a).at, 100);
}

/* What is left, bounded for poll/curl: 0 once expired, the cap when none or
 * further off. */
static void test_remaining_ms(void **state) {
    (void)state;
    segops__deadline_t d = segops__deadline_at(10000);
    assert_int_equal(segops__deadline_remaining_ms(d, 9000, 5000), 1000);
    assert_int_equal(segops__deadline_remaining_ms(d, 9999, 5000), 1);
    assert_int_equal(segops__deadline_remaining_ms(d, 10000, 5000), 0);
    assert_int_equal(segops__deadline_remaining_ms(d, 20000, 5000), 0);
    assert_int_equal(segops__deadline_remaining_ms(d, 0, 5000), 5000);
    assert_int_equal(segops__deadline_remaining_ms(d, 5000, 5000), 5000);
    assert_int_equal(segops__deadline_remaining_ms(segops__deadline_none(), 0, 1000), 1000);
    assert_int_equal(segops__deadline_remaining_ms(segops__deadline_none(), INT64_MAX - 1, INT_MAX),
                     INT_MAX);
}

/* The absolute timespec a timed condition wait takes. */
static void test_timespec(void **state) {
    (void)state;
    struct timespec ts = segops__deadline_timespec(segops__deadline_at(12345));
    assert_int_equal(ts.tv_sec, 12);
    assert_int_equal(ts.tv_nsec, 345000000L);
    ts = segops__deadline_timespec(segops__deadline_at(7000));
    assert_int_equal(ts.tv_sec, 7);
    assert_int_equal(ts.tv_nsec, 0);
}

/* A condition wait whose deadline has passed returns false without waiting
 * (nobody signals: a wait would hang until the test's timeout). */
static void test_cond_wait_past_deadline_returns(void **state) {
    (void)state;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv;
    segops__clock_cond_init(&cv);
    pthread_mutex_lock(&lock);
    assert_false(segops__clock_cond_wait(&cv, &lock, segops__deadline_at(0)));
    assert_false(
        segops__clock_cond_wait(&cv, &lock, segops__deadline_at(segops__clock_monotonic_ms())));
    pthread_mutex_unlock(&lock);
    pthread_cond_destroy(&cv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none_never_expires),
        cmocka_unit_test(test_expires_at_its_time),
        cmocka_unit_test(test_after),
        cmocka_unit_test(test_earliest),
        cmocka_unit_test(test_remaining_ms),
        cmocka_unit_test(test_timespec),
        cmocka_unit_test(test_cond_wait_past_deadline_returns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
