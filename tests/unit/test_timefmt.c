/* RFC 3339 formatting/parsing and HTTP-date parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"
#include "timefmt.h"

/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z in unix ms. */
#define MIN_MS INT64_C(-62167219200000)
#define MAX_MS INT64_C(253402300799999)

static void check_format(int64_t ms, const char *want) {
    char out[SEGOPS__RFC3339_MS_LEN + 1];
    memset(out, 'x', sizeof(out));
    segops__rfc3339_format_ms(ms, out);
    assert_string_equal(out, want);
    assert_int_equal(strlen(out), SEGOPS__RFC3339_MS_LEN);
}

/* Parses text as exactly strlen(text) bytes from a heap copy with no NUL, so
 * AddressSanitizer catches any read past len. */
static bool parse(const char *text, int64_t *ms) {
    const size_t len = strlen(text);
    char *copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    const bool ok = segops__rfc3339_parse_ms(copy, len, ms);
    free(copy);
    return ok;
}

static bool http_parse(const char *text, int64_t *s) {
    const size_t len = strlen(text);
    char *copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    const bool ok = segops__http_date_parse(copy, len, s);
    free(copy);
    return ok;
}

static void check_parse(const char *text, int64_t want) {
    int64_t ms = 0;
    if (!parse(text, &ms)) {
        fail_msg("rejected: %s", text);
    }
    assert_int_equal(ms, want);
}

static void check_reject(const char *text) {
    int64_t ms = 12345;
    if (parse(text, &ms)) {
        fail_msg("accepted: %s", text);
    }
    assert_int_equal(ms, 12345); /* output untouched on failure */
}

static void test_format_known(void **state) {
    (void)state;
    check_format(0, "1970-01-01T00:00:00.000Z");
    check_format(INT64_C(1000000000000), "2001-09-09T01:46:40.000Z");
    check_format(INT64_C(1795675329123), "2026-11-26T06:42:09.123Z");
    check_format(INT64_C(1709210096789), "2024-02-29T12:34:56.789Z");
    check_format(INT64_C(946684799999), "1999-12-31T23:59:59.999Z");
    check_format(INT64_C(946684800000), "2000-01-01T00:00:00.000Z");
    check_format(-1, "1969-12-31T23:59:59.999Z");
    check_format(INT64_C(-62135596800000), "0001-01-01T00:00:00.000Z");
    check_format(MIN_MS, "0000-01-01T00:00:00.000Z");
    check_format(MAX_MS, "9999-12-31T23:59:59.999Z");
}

static void test_format_clamps(void **state) {
    (void)state;
    check_format(MIN_MS - 1, "0000-01-01T00:00:00.000Z");
    check_format(INT64_MIN, "0000-01-01T00:00:00.000Z");
    check_format(MAX_MS + 1, "9999-12-31T23:59:59.999Z");
    check_format(INT64_MAX, "9999-12-31T23:59:59.999Z");
}

static void test_parse_known(void **state) {
    (void)state;
    check_parse("1970-01-01T00:00:00Z", 0);
    check_parse("1970-01-01T00:00:00.000Z", 0);
    check_parse("2001-09-09T01:46:40Z", INT64_C(1000000000000));
    check_parse("2026-11-26T06:42:09.123Z", INT64_C(1795675329123));
    check_parse("2024-02-29T12:34:56.789Z", INT64_C(1709210096789));
    check_parse("1999-12-31T23:59:59.999Z", INT64_C(946684799999));
    check_parse("2000-02-29T00:00:00Z", INT64_C(951782400000)); /* 400-year leap */
    check_parse("1969-12-31T23:59:59.999Z", -1);
    check_parse("0000-01-01T00:00:00Z", MIN_MS);
    check_parse("9999-12-31T23:59:59.999Z", MAX_MS);
    /* Lowercase t and z are allowed by RFC 3339. */
    check_parse("2026-11-26t06:42:09.123z", INT64_C(1795675329123));
    /* A leap second folds into :59. */
    check_parse("2016-12-31T23:59:60Z", INT64_C(1483228799000));
}

static void test_parse_fractions(void **state) {
    (void)state;
    check_parse("2026-11-26T06:42:09.1Z", INT64_C(1795675329100));
    check_parse("2026-11-26T06:42:09.12Z", INT64_C(1795675329120));
    check_parse("2026-11-26T06:42:09.123456789Z", INT64_C(1795675329123)); /* truncated */
    check_parse("2026-11-26T06:42:09.999999999Z", INT64_C(1795675329999));
    check_parse("2026-11-26T06:42:09.000000001Z", INT64_C(1795675329000));
    /* RFC 3339 allows any number of fraction digits: all are read, and the
     * time is truncated (never rounded) to the millisecond. */
    check_parse("2026-11-26T06:42:09.1234567890Z", INT64_C(1795675329123));
    check_parse("2026-11-26T06:42:09.123456789012345678901234567890+00:00", INT64_C(1795675329123));
    check_parse("2026-11-26T06:42:09.99999999999999999999Z", INT64_C(1795675329999));
    check_parse("2026-11-26T06:42:09.00000000000000000001Z", INT64_C(1795675329000));
    check_parse("9999-12-31T23:59:59.99999999999Z", MAX_MS); /* no carry past the range */
    check_reject("2026-11-26T06:42:09.Z");                   /* no digits */
    check_reject("2026-11-26T06:42:09.12345678901234x5Z");   /* a non-digit among them */
    check_reject("2026-11-26T06:42:09,123Z");                /* comma */
    check_reject("2026-11-26T06:42:09.12a3Z");
}

static void test_parse_offsets(void **state) {
    (void)state;
    /* 12:12:09.123+05:30 is 06:42:09.123Z. */
    check_parse("2026-11-26T12:12:09.123+05:30", INT64_C(1795675329123));
    /* 22:42:09.123-08:00 the day before is 06:42:09.123Z. */
    check_parse("2026-11-25T22:42:09.123-08:00", INT64_C(1795675329123));
    check_parse("2026-11-26T06:42:09.123+00:00", INT64_C(1795675329123));
    check_parse("2026-11-26T06:42:09.123-00:00", INT64_C(1795675329123));
    check_parse("2026-11-26T01:12:09.123-00:00", INT64_C(1795655529123));
    /* The offset crosses the year boundary. */
    check_parse("2000-01-01T07:59:59.999+08:00", INT64_C(946684799999));
    check_parse("2026-11-26T06:42:09+23:59", INT64_C(1795675329000) - (23 * 3600 + 59 * 60) * 1000);
    check_reject("2026-11-26T06:42:09+24:00");
    check_reject("2026-11-26T06:42:09+05:60");
    check_reject("2026-11-26T06:42:09+0530");
    check_reject("2026-11-26T06:42:09+05");
    check_reject("2026-11-26T06:42:09+5:30");
    check_reject("2026-11-26T06:42:09 +05:30");
    check_reject("2026-11-26T06:42:09*05:30");
    check_reject("2026-11-26T06:42:09+05:3a");
}

static void test_parse_rejects(void **state) {
    (void)state;
    check_reject("");
    check_reject("2026-13-01T00:00:00Z");
    check_reject("2026-00-01T00:00:00Z");
    check_reject("2026-01-00T00:00:00Z");
    check_reject("2026-01-32T00:00:00Z");
    check_reject("2026-04-31T00:00:00Z");
    check_reject("2024-02-30T00:00:00Z");
    check_reject("2023-02-29T00:00:00Z");
    check_reject("1900-02-29T00:00:00Z"); /* century, not leap */
    check_reject("2026-11-26T24:00:00Z");
    check_reject("2026-11-26T23:60:00Z");
    check_reject("2026-11-26T23:59:61Z");
    check_reject("2026-11-26T06:42:09");       /* missing Z */
    check_reject("2026-11-26T06:42:09.123");   /* missing Z after fraction */
    check_reject("2026-11-26T06:42:09ZZ");     /* trailing byte */
    check_reject("2026-11-26T06:42:09.123Z "); /* trailing space */
    check_reject(" 2026-11-26T06:42:09Z");
    check_reject("2026-11-26 06:42:09Z");
    check_reject("2026-11-26X06:42:09Z");
    check_reject("2026/11/26T06:42:09Z");
    check_reject("26-11-26T06:42:09Z");
    check_reject("20261126T064209Z");
    check_reject("+2026-11-26T06:42:09Z");
    check_reject("2026-1a-26T06:42:09Z");
    check_reject("2026-11-26T06:42:09z1");
    check_reject("2026-11-26T06:42:09GMT");
}

/* A local time in year 0000 or 9999 whose offset moves it out of 0000..9999
 * UTC is refused, not clamped: the instant cannot be written as occurred_at. */
static void test_parse_out_of_range(void **state) {
    (void)state;
    check_reject("0000-01-01T00:00:00+14:00");
    check_reject("0000-01-01T13:59:59.999+14:00");
    check_reject("0000-01-01T00:00:00+00:01");
    check_parse("0000-01-01T14:00:00+14:00", MIN_MS);
    check_parse("0000-01-01T00:00:00-14:00", MIN_MS + INT64_C(14) * 3600000);
    check_reject("9999-12-31T23:59:59.999-14:00");
    check_reject("9999-12-31T10:00:00-14:00");
    check_reject("9999-12-31T23:59:59.999-00:01");
    check_parse("9999-12-31T09:59:59.999-14:00", MAX_MS);
    check_parse("9999-12-31T23:59:59.999+14:00", MAX_MS - INT64_C(14) * 3600000);
}

/* segops_track_event refuses such an occurred_at with SEGOPS_E_INVALID_ARG
 * instead of sending a clamped time. */
static void check_event_time(const char *occurred_at, segops_err_t want, const char *stamp) {
    segops_event_t ev = {
        .user_id = "u-1", .event_type = "order_placed", .occurred_at = occurred_at};
    segops__event_plan_t plan;
    memset(&plan, 0, sizeof plan);
    segops_err_t got = segops__event_prepare(&ev, 32768, INT64_C(1795675329123), &plan);
    if (got != want)
        fail_msg("occurred_at %s: %s, want %s", occurred_at, segops_strerror(got),
                 segops_strerror(want));
    if (stamp) assert_string_equal(plan.stamp, stamp);
}

static void test_event_refuses_unrepresentable_time(void **state) {
    (void)state;
    check_event_time("0000-01-01T00:00:00+14:00", SEGOPS_E_INVALID_ARG, NULL);
    check_event_time("9999-12-31T23:59:59-14:00", SEGOPS_E_INVALID_ARG, NULL);
    check_event_time("0000-01-01T14:00:00.000+14:00", SEGOPS_OK, "0000-01-01T00:00:00.000Z");
    check_event_time("9999-12-31T09:59:59.999-14:00", SEGOPS_OK, "9999-12-31T23:59:59.999Z");
    check_event_time("2026-11-26T07:42:09.1239999999+01:00", SEGOPS_OK, "2026-11-26T06:42:09.123Z");
}

/* Every prefix of valid strings is cut mid-way and must be rejected; the heap
 * copy in parse() makes any read past len an ASan error. */
static void test_parse_cuts(void **state) {
    (void)state;
    static const char *const valid[] = {
        "2026-11-26T06:42:09.123Z",
        "2026-11-26T12:12:09.123456789+05:30",
        "2026-11-25T22:42:09-08:00",
        "2026-11-26T06:42:09Z",
    };
    for (size_t v = 0; v < sizeof(valid) / sizeof(valid[0]); v++) {
        const size_t len = strlen(valid[v]);
        for (size_t cut = 0; cut < len; cut++) {
            char *copy = malloc(cut > 0 ? cut : 1);
            assert_non_null(copy);
            memcpy(copy, valid[v], cut);
            int64_t ms = 0;
            if (segops__rfc3339_parse_ms(copy, cut, &ms)) {
                fail_msg("accepted %zu bytes of %s", cut, valid[v]);
            }
            free(copy);
        }
        /* A valid string followed by more bytes that len excludes is fine. */
        int64_t ms = 0;
        char buf[64];
        memcpy(buf, valid[v], len);
        memcpy(buf + len, "9999", 5);
        assert_true(segops__rfc3339_parse_ms(buf, len, &ms));
    }
    int64_t ms = 0;
    assert_false(segops__rfc3339_parse_ms(NULL, 0, &ms));
    assert_false(segops__rfc3339_parse_ms("1970-01-01T00:00:00Z", 20, NULL));
}

static void test_round_trip(void **state) {
    (void)state;
    /* A deterministic walk over the whole range with odd steps, plus every day
     * boundary neighbourhood of a few hundred days around 1970 and 2000. */
    uint64_t x = UINT64_C(0x243F6A8885A308D3);
    for (int i = 0; i < 200000; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        const uint64_t r = x * UINT64_C(0x2545F4914F6CDD1D);
        const int64_t ms = MIN_MS + (int64_t)(r % (uint64_t)(MAX_MS - MIN_MS + 1));
        char out[SEGOPS__RFC3339_MS_LEN + 1];
        segops__rfc3339_format_ms(ms, out);
        int64_t back = 0;
        assert_true(segops__rfc3339_parse_ms(out, SEGOPS__RFC3339_MS_LEN, &back));
        assert_int_equal(back, ms);
    }
    for (int64_t day = -800; day <= 12000; day++) {
        for (int64_t delta = -1; delta <= 1; delta++) {
            const int64_t ms = day * INT64_C(86400000) + delta;
            char out[SEGOPS__RFC3339_MS_LEN + 1];
            segops__rfc3339_format_ms(ms, out);
            int64_t back = 0;
            assert_true(segops__rfc3339_parse_ms(out, SEGOPS__RFC3339_MS_LEN, &back));
            assert_int_equal(back, ms);
        }
    }
}

static void test_http_date_forms(void **state) {
    (void)state;
    int64_t s = 0;
    assert_true(http_parse("Sun, 06 Nov 1994 08:49:37 GMT", &s));
    assert_int_equal(s, 784111777);
    s = 0;
    assert_true(http_parse("Sunday, 06-Nov-94 08:49:37 GMT", &s));
    assert_int_equal(s, 784111777);
    s = 0;
    assert_true(http_parse("Sun Nov  6 08:49:37 1994", &s));
    assert_int_equal(s, 784111777);
    s = 0;
    assert_true(http_parse("Sun Nov 06 08:49:37 1994", &s));
    assert_int_equal(s, 784111777);

    assert_true(http_parse("Thu, 26 Nov 2026 06:42:09 GMT", &s));
    assert_int_equal(s, INT64_C(1795675329));
    assert_true(http_parse("Thursday, 26-Nov-26 06:42:09 GMT", &s));
    assert_int_equal(s, INT64_C(1795675329));
    assert_true(http_parse("Wednesday, 31-Dec-69 23:59:59 GMT", &s)); /* 2069 */
    assert_int_equal(s, INT64_C(3155759999));
    assert_true(http_parse("Thursday, 01-Jan-70 00:00:00 GMT", &s)); /* 1970 */
    assert_int_equal(s, 0);
    assert_true(http_parse("Thu Feb 29 12:00:00 2024", &s));
    assert_int_equal(s, INT64_C(1709208000));
    assert_true(http_parse("Thu, 01 Jan 1970 00:00:00 GMT", &s));
    assert_int_equal(s, 0);
}

static void test_http_date_garbage(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",
        "0",
        "120",
        "GMT",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 gmt",
        "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT ",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 2023 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:49:37 GMT",
        "Sun, 06 Nov 1994 08:60:37 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Xxx 1994 08:49:37 GMT",
        "Sun 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sunday, 06 Nov 94 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMTX",
        "Sunday, 06-Nov-94 08:49:37",
        "Sundae, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 94",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov  6 08:49:37 1994 ",
        "Sun Nov 31 08:49:37 1994",
        "2026-11-26T06:42:09Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t s = 777;
        if (http_parse(bad[i], &s)) {
            fail_msg("accepted: %s", bad[i]);
        }
        assert_int_equal(s, 777);
    }
    /* Every cut of each valid form. */
    static const char *const good[] = {
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    };
    for (size_t g = 0; g < sizeof(good) / sizeof(good[0]); g++) {
        const size_t len = strlen(good[g]);
        for (size_t cut = 0; cut < len; cut++) {
            char *copy = malloc(cut > 0 ? cut : 1);
            assert_non_null(copy);
            memcpy(copy, good[g], cut);
            int64_t s = 0;
            if (segops__http_date_parse(copy, cut, &s)) {
                fail_msg("accepted %zu bytes of %s", cut, good[g]);
            }
            free(copy);
        }
    }
    int64_t s = 0;
    assert_false(segops__http_date_parse(NULL, 0, &s));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_known),
        cmocka_unit_test(test_format_clamps),
        cmocka_unit_test(test_parse_known),
        cmocka_unit_test(test_parse_fractions),
        cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_parse_out_of_range),
        cmocka_unit_test(test_event_refuses_unrepresentable_time),
        cmocka_unit_test(test_parse_cuts),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_http_date_forms),
        cmocka_unit_test(test_http_date_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
