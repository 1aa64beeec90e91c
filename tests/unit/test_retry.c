/* The retry classifier, backoff and Retry-After parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "retry.h"

static void check(segops_err_t err, int status, bool token, segops__action_t action,
                  segops_err_t code, segops_drop_reason_t reason) {
    const segops__verdict_t v = segops__retry_classify(err, status, token);
    if (v.action != action || v.code != code || v.drop_reason != reason) {
        fail_msg("err %d status %d token %d: got action %d code %d reason %d, want %d %d %d",
                 (int)err, status, (int)token, (int)v.action, (int)v.code, (int)v.drop_reason,
                 (int)action, (int)code, (int)reason);
    }
}

static void test_classify_transport(void **state) {
    (void)state;
    for (int t = 0; t < 2; t++) {
        const bool tok = t == 1;
        check(SEGOPS_E_NETWORK, 0, tok, SEGOPS__ACT_RETRY, SEGOPS_E_NETWORK,
              SEGOPS_DROP_RETRIES_EXHAUSTED);
        check(SEGOPS_E_TIMEOUT, 0, tok, SEGOPS__ACT_RETRY, SEGOPS_E_TIMEOUT,
              SEGOPS_DROP_RETRIES_EXHAUSTED);
        check(SEGOPS_E_TLS, 0, tok, SEGOPS__ACT_DROP, SEGOPS_E_TLS, SEGOPS_DROP_REJECTED);
        /* Any other transport error drops with its own code, whatever the status. */
        static const segops_err_t others[] = {
            SEGOPS_E_INVALID_ARG, SEGOPS_E_NOMEM, SEGOPS_E_STATE,    SEGOPS_E_CONFIG,
            SEGOPS_E_TOO_LARGE,   SEGOPS_E_HTTP,  SEGOPS_E_INTERNAL, SEGOPS_E_CRYPTO,
        };
        for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
            check(others[i], 0, tok, SEGOPS__ACT_DROP, others[i], SEGOPS_DROP_REJECTED);
            check(others[i], 200, tok, SEGOPS__ACT_DROP, others[i], SEGOPS_DROP_REJECTED);
        }
        /* A transport error wins over a stray status. */
        check(SEGOPS_E_NETWORK, 200, tok, SEGOPS__ACT_RETRY, SEGOPS_E_NETWORK,
              SEGOPS_DROP_RETRIES_EXHAUSTED);
    }
}

static void test_classify_status(void **state) {
    (void)state;
    for (int t = 0; t < 2; t++) {
        const bool tok = t == 1;
        for (int st = 200; st <= 299; st++) {
            check(SEGOPS_OK, st, tok, SEGOPS__ACT_DELIVERED, SEGOPS_OK, SEGOPS_DROP_NONE);
        }
        check(SEGOPS_OK, 408, tok, SEGOPS__ACT_RETRY, SEGOPS_E_TIMEOUT,
              SEGOPS_DROP_RETRIES_EXHAUSTED);
        check(SEGOPS_OK, 429, tok, SEGOPS__ACT_RATE_LIMITED, SEGOPS_E_RATE_LIMITED,
              SEGOPS_DROP_RETRIES_EXHAUSTED);
        for (int st = 500; st <= 599; st++) {
            if (st == 501 || st == 505) {
                check(SEGOPS_OK, st, tok, SEGOPS__ACT_DROP, SEGOPS_E_SERVER, SEGOPS_DROP_REJECTED);
            } else {
                check(SEGOPS_OK, st, tok, SEGOPS__ACT_RETRY, SEGOPS_E_SERVER,
                      SEGOPS_DROP_RETRIES_EXHAUSTED);
            }
        }
        check(SEGOPS_OK, 413, tok, SEGOPS__ACT_SPLIT, SEGOPS_E_TOO_LARGE, SEGOPS_DROP_TOO_LARGE);
        check(SEGOPS_OK, 403, tok, SEGOPS__ACT_DROP, SEGOPS_E_AUTH, SEGOPS_DROP_REJECTED);
        check(SEGOPS_OK, 400, tok, SEGOPS__ACT_DROP, SEGOPS_E_HTTP, SEGOPS_DROP_REJECTED);
    }
    check(SEGOPS_OK, 401, true, SEGOPS__ACT_REAUTH, SEGOPS_E_AUTH, SEGOPS_DROP_REJECTED);
    check(SEGOPS_OK, 401, false, SEGOPS__ACT_DROP, SEGOPS_E_AUTH, SEGOPS_DROP_REJECTED);
}

static void test_classify_everything_else(void **state) {
    (void)state;
    static const int odd[] = {0,   -1,  1,   99,  100, 101,  199,  300,  301,       304,      399,
                              402, 404, 405, 409, 410, 411,  414,  415,  418,       422,      431,
                              451, 499, 600, 601, 999, 1000, 2000, -200, INT32_MAX, INT32_MIN};
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
            check(SEGOPS_OK, odd[i], t == 1, SEGOPS__ACT_DROP, SEGOPS_E_HTTP, SEGOPS_DROP_REJECTED);
        }
    }
    /* Sweep: every status 0..999 gets some verdict in the table's classes. */
    for (int st = 0; st < 1000; st++) {
        const segops__verdict_t v = segops__retry_classify(SEGOPS_OK, st, false);
        const bool special = (st >= 200 && st <= 299) || (st >= 500 && st <= 599) || st == 408 ||
                             st == 429 || st == 413 || st == 401 || st == 403;
        if (!special) {
            assert_int_equal(v.action, SEGOPS__ACT_DROP);
            assert_int_equal(v.code, SEGOPS_E_HTTP);
            assert_int_equal(v.drop_reason, SEGOPS_DROP_REJECTED);
        }
    }
}

static void test_backoff_growth_and_cap(void **state) {
    (void)state;
    /* Draw many times per attempt; min and max seen must sit in [d/2, d]. */
    uint64_t rng = 42;
    const uint32_t base = 500, cap = 30000;
    for (uint32_t attempt = 1; attempt <= 12; attempt++) {
        uint64_t d = (uint64_t)base << (attempt - 1);
        if (d > cap) {
            d = cap;
        }
        uint32_t lo = UINT32_MAX, hi = 0;
        for (int i = 0; i < 20000; i++) {
            const uint32_t w = segops__retry_backoff_ms(base, cap, attempt, &rng);
            assert_true(w >= d / 2 && w <= d);
            lo = w < lo ? w : lo;
            hi = w > hi ? w : hi;
        }
        /* The jitter really spreads over the range (both ends nearly hit). */
        assert_true(lo <= d / 2 + d / 50 + 1);
        assert_true(hi + d / 50 + 1 >= d);
    }
    /* Attempt 1 is base (jittered), attempt 0 is treated as 1. */
    rng = 7;
    for (int i = 0; i < 1000; i++) {
        const uint32_t w0 = segops__retry_backoff_ms(1000, 60000, 0, &rng);
        assert_true(w0 >= 500 && w0 <= 1000);
    }
}

static void test_backoff_huge_attempts(void **state) {
    (void)state;
    uint64_t rng = 99;
    static const uint32_t attempts[] = {31, 32, 33, 63, 64, 65, 1000, UINT32_MAX - 1, UINT32_MAX};
    for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
        for (int k = 0; k < 100; k++) {
            const uint32_t w = segops__retry_backoff_ms(500, 30000, attempts[i], &rng);
            assert_true(w >= 15000 && w <= 30000);
            const uint32_t big =
                segops__retry_backoff_ms(UINT32_MAX, UINT32_MAX, attempts[i], &rng);
            assert_true(big >= UINT32_MAX / 2);
        }
    }
    /* A base above the cap is capped at once. */
    for (int k = 0; k < 100; k++) {
        const uint32_t w = segops__retry_backoff_ms(100000, 2000, 1, &rng);
        assert_true(w >= 1000 && w <= 2000);
    }
    /* Degenerate inputs. */
    assert_int_equal(segops__retry_backoff_ms(0, 30000, 5, &rng), 0);
    assert_int_equal(segops__retry_backoff_ms(500, 0, 5, &rng), 0);
    const uint32_t one = segops__retry_backoff_ms(1, 1, 1, &rng);
    assert_true(one <= 1);
    assert_int_equal(segops__retry_backoff_ms(1000, 30000, 1, NULL), 1000);
}

static void test_backoff_zero_seed(void **state) {
    (void)state;
    uint64_t rng = 0;
    uint32_t first = segops__retry_backoff_ms(1000, 30000, 5, &rng);
    assert_true(rng != 0); /* not stuck at the xorshift fixed point */
    bool varied = false;
    for (int i = 0; i < 100; i++) {
        const uint32_t w = segops__retry_backoff_ms(1000, 30000, 5, &rng);
        assert_true(w >= 8000 && w <= 16000);
        varied = varied || w != first;
        assert_true(rng != 0);
    }
    assert_true(varied);
}

static bool ra(const char *text, int64_t now, uint32_t max_ms, uint32_t *wait) {
    const size_t len = strlen(text);
    char *copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    const bool ok = segops__retry_after_parse(copy, len, now, max_ms, wait);
    free(copy);
    return ok;
}

static void test_retry_after_seconds(void **state) {
    (void)state;
    uint32_t w = 1;
    assert_true(ra("0", 0, 600000, &w));
    assert_int_equal(w, 0);
    assert_true(ra("120", 0, 600000, &w));
    assert_int_equal(w, 120000);
    assert_true(ra("  7\t", 0, 600000, &w));
    assert_int_equal(w, 7000);
    assert_true(ra("\t\t 0042 ", 0, 600000, &w));
    assert_int_equal(w, 42000);
    /* Clamp, including values that overflow every integer type. */
    assert_true(ra("601", 0, 600000, &w));
    assert_int_equal(w, 600000);
    assert_true(ra("4294967296", 0, 600000, &w));
    assert_int_equal(w, 600000);
    assert_true(ra("99999999999999999999999999999999999999999", 0, 600000, &w));
    assert_int_equal(w, 600000);
    assert_true(ra("18446744073709551616", 0, UINT32_MAX, &w));
    assert_int_equal(w, UINT32_MAX);
    assert_true(ra("4294967", 0, UINT32_MAX, &w));
    assert_int_equal(w, UINT32_C(4294967000));
    assert_true(ra("4294968", 0, UINT32_MAX, &w));
    assert_int_equal(w, UINT32_MAX);
    assert_true(ra("5", 0, 0, &w));
    assert_int_equal(w, 0);
    assert_true(ra("5", 0, 1234, &w));
    assert_int_equal(w, 1234);
}

static void test_retry_after_date(void **state) {
    (void)state;
    const int64_t date = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
    uint32_t w = 1;
    assert_true(ra("Sun, 06 Nov 1994 08:49:37 GMT", date - 30, 600000, &w));
    assert_int_equal(w, 30000);
    assert_true(ra("  Sunday, 06-Nov-94 08:49:37 GMT  ", date - 2, 600000, &w));
    assert_int_equal(w, 2000);
    assert_true(ra("Sun Nov  6 08:49:37 1994", date - 1, 600000, &w));
    assert_int_equal(w, 1000);
    /* Now, or in the past: go at once. */
    w = 1;
    assert_true(ra("Sun, 06 Nov 1994 08:49:37 GMT", date, 600000, &w));
    assert_int_equal(w, 0);
    w = 1;
    assert_true(ra("Sun, 06 Nov 1994 08:49:37 GMT", date + 86400, 600000, &w));
    assert_int_equal(w, 0);
    w = 1;
    assert_true(ra("Sun, 06 Nov 1994 08:49:37 GMT", INT64_MAX, 600000, &w));
    assert_int_equal(w, 0);
    /* Far future clamps; an absurd clock cannot overflow. */
    assert_true(ra("Fri, 31 Dec 9999 23:59:59 GMT", 0, 600000, &w));
    assert_int_equal(w, 600000);
    assert_true(ra("Sun, 06 Nov 1994 08:49:37 GMT", INT64_MIN, 600000, &w));
    assert_int_equal(w, 600000);
    assert_true(ra("Sun, 06 Nov 1994 08:49:37 GMT", date - 4294968, UINT32_MAX, &w));
    assert_int_equal(w, UINT32_MAX);
}

static void test_retry_after_garbage(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",
        " ",
        "\t \t",
        "-1",
        "-0",
        "+5",
        "1.5",
        "1.",
        ".5",
        "1e3",
        "0x10",
        "12 34",
        "12a",
        "abc",
        "1,2",
        "1\r",
        "\r\n1",
        "1\n",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "2026-11-26T06:42:09Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t w = 777;
        if (ra(bad[i], 0, 600000, &w)) {
            fail_msg("accepted: '%s'", bad[i]);
        }
        assert_int_equal(w, 777);
    }
    uint32_t w = 0;
    assert_false(segops__retry_after_parse(NULL, 0, 0, 1000, &w));
    assert_false(segops__retry_after_parse("5", 1, 0, 1000, NULL));
    /* len is honoured: "5" out of "59". */
    assert_true(segops__retry_after_parse("59", 1, 0, 600000, &w));
    assert_int_equal(w, 5000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_transport),
        cmocka_unit_test(test_classify_status),
        cmocka_unit_test(test_classify_everything_else),
        cmocka_unit_test(test_backoff_growth_and_cap),
        cmocka_unit_test(test_backoff_huge_attempts),
        cmocka_unit_test(test_backoff_zero_seed),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_date),
        cmocka_unit_test(test_retry_after_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
