/* sign.c's signed-user JSON object (escaping, non-ASCII, buffer sizes) and anonymous ids (UUID v4).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "crypto.h"
#include "json_text.h"
#include "sign_vectors.h"

/* Decodes the inside of a JSON string (the escapes RFC 8259 allows; \u only for
 * ASCII, which is all an escaper needs for control characters) so the test does
 * not depend on which of the equivalent spellings the escaper picks. */
static size_t json_unescape(const char *s, size_t len, char *out) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        assert_true(c >= 0x20); /* no raw control characters */
        assert_true(c != '"');  /* no bare quote inside */
        if (c != '\\') {
            out[n++] = (char)c;
            continue;
        }
        assert_true(++i < len);
        switch (s[i]) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/': out[n++] = '/'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            assert_true(i + 4 < len);
            char hex[5] = {s[i + 1], s[i + 2], s[i + 3], s[i + 4], '\0'};
            char *end = NULL;
            unsigned long v = strtoul(hex, &end, 16);
            assert_true(end == hex + 4 && v < 0x80);
            out[n++] = (char)v;
            i += 4;
            break;
        }
        default: fail_msg("bad escape \\%c", s[i]);
        }
    }
    out[n] = '\0';
    return n;
}

/* Builds the JSON for user_id and checks its shape and the round trip. */
static void check_json(const char *user_id, const char *sig, int64_t ts, const char *ts_text) {
    segops_signed_user_t su;
    memcpy(su.user_id_sig, sig, 65);
    su.user_id_ts = ts;

    size_t needed = 0;
    char buf[512];
    assert_int_equal(segops_signed_user_json(user_id, &su, buf, sizeof buf, &needed), SEGOPS_OK);
    assert_int_equal(strlen(buf) + 1, needed);

    const char *head = "{\"user_id\":\"";
    assert_memory_equal(buf, head, strlen(head));
    char tail[160];
    snprintf(tail, sizeof tail, "\",\"user_id_sig\":\"%s\",\"user_id_ts\":%s}", sig, ts_text);
    size_t tail_len = strlen(tail);
    assert_true(strlen(buf) > strlen(head) + tail_len);
    assert_string_equal(buf + strlen(buf) - tail_len, tail);

    const char *inner = buf + strlen(head);
    size_t inner_len = strlen(buf) - strlen(head) - tail_len;
    assert_int_equal(inner_len, segops__json_escaped_len(user_id, strlen(user_id)));
    char decoded[512];
    json_unescape(inner, inner_len, decoded);
    assert_string_equal(decoded, user_id);
}

static void test_json_plain(void **state) {
    (void)state;
    segops_signed_user_t su;
    assert_int_equal(segops_sign_user_id(SECRET_32, "user_42", TS, &su), SEGOPS_OK);
    char buf[256];
    size_t needed = 0;
    assert_int_equal(segops_signed_user_json("user_42", &su, buf, sizeof buf, &needed), SEGOPS_OK);
    assert_string_equal(buf, "{\"user_id\":\"user_42\",\"user_id_sig\":\"" GOOD_SIG
                             "\",\"user_id_ts\":1700000000}");
    assert_int_equal(needed, strlen(buf) + 1);
    /* needed is optional. */
    assert_int_equal(segops_signed_user_json("user_42", &su, buf, sizeof buf, NULL), SEGOPS_OK);
    check_json("user_42", GOOD_SIG, 9223372036854775807LL, "9223372036854775807");
}

static void test_json_escaping(void **state) {
    (void)state;
    check_json("say \"hi\"", GOOD_SIG, TS, "1700000000");
    check_json("back\\slash\\", GOOD_SIG, TS, "1700000000");
    check_json("line\nbreak\ttab\rcr", GOOD_SIG, TS, "1700000000");
    check_json("ctl\x01\x1f\x7f", GOOD_SIG, TS, "1700000000");
    check_json("\"\\\b\f", GOOD_SIG, TS, "1700000000");

    /* Spot checks of the exact text: quote and backslash have one spelling. */
    segops_signed_user_t su;
    memcpy(su.user_id_sig, GOOD_SIG, 65);
    su.user_id_ts = 1;
    char buf[256];
    assert_int_equal(segops_signed_user_json("a\"b\\c", &su, buf, sizeof buf, NULL), SEGOPS_OK);
    assert_non_null(strstr(buf, "{\"user_id\":\"a\\\"b\\\\c\","));
    /* \x01 has no short escape in JSON: it must be \u0001. */
    assert_int_equal(segops_signed_user_json("\x01", &su, buf, sizeof buf, NULL), SEGOPS_OK);
    assert_true(strstr(buf, "\"\\u0001\"") != NULL);
}

static void test_json_non_ascii_passes_through(void **state) {
    (void)state;
    const char *id = "Zo\xc3\xab-\xf0\x9f\x9a\x80-\xe7\x94\xa8\xe6\x88\xb7";
    check_json(id, GOOD_SIG, TS, "1700000000");
    segops_signed_user_t su;
    memcpy(su.user_id_sig, GOOD_SIG, 65);
    su.user_id_ts = TS;
    char buf[256];
    assert_int_equal(segops_signed_user_json(id, &su, buf, sizeof buf, NULL), SEGOPS_OK);
    assert_non_null(strstr(buf, id)); /* raw UTF-8, not \u escapes */
}

static void test_json_buffer_sizes(void **state) {
    (void)state;
    segops_signed_user_t su;
    memcpy(su.user_id_sig, GOOD_SIG, 65);
    su.user_id_ts = TS;
    const char *id = "q\"uote";
    const char *expected =
        "{\"user_id\":\"q\\\"uote\",\"user_id_sig\":\"" GOOD_SIG "\",\"user_id_ts\":1700000000}";
    size_t want = strlen(expected) + 1;

    /* Size query with no buffer at all. */
    size_t needed = 0;
    assert_int_equal(segops_signed_user_json(id, &su, NULL, 0, &needed), SEGOPS_E_TOO_LARGE);
    assert_int_equal(needed, want);

    /* One byte short: TOO_LARGE, needed reported, buffer untouched. */
    char buf[256];
    memset(buf, '#', sizeof buf);
    needed = 0;
    assert_int_equal(segops_signed_user_json(id, &su, buf, want - 1, &needed), SEGOPS_E_TOO_LARGE);
    assert_int_equal(needed, want);
    for (size_t i = 0; i < sizeof buf; i++) assert_int_equal(buf[i], '#');

    /* Exact fit, with a sentinel just past the end left alone. */
    needed = 0;
    assert_int_equal(segops_signed_user_json(id, &su, buf, want, &needed), SEGOPS_OK);
    assert_int_equal(needed, want);
    assert_string_equal(buf, expected);
    assert_int_equal(buf[want], '#');
}

static void test_json_invalid_args(void **state) {
    (void)state;
    segops_signed_user_t su;
    memcpy(su.user_id_sig, GOOD_SIG, 65);
    su.user_id_ts = TS;
    char buf[256];
    size_t needed = 0;
    assert_int_equal(segops_signed_user_json(NULL, &su, buf, sizeof buf, &needed),
                     SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_signed_user_json("", &su, buf, sizeof buf, &needed),
                     SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_signed_user_json("\xff", &su, buf, sizeof buf, &needed),
                     SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_signed_user_json("u", NULL, buf, sizeof buf, &needed),
                     SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_signed_user_json("u", &su, NULL, 10, &needed), SEGOPS_E_INVALID_ARG);

    segops_signed_user_t bad = su;
    bad.user_id_ts = 0;
    assert_int_equal(segops_signed_user_json("u", &bad, buf, sizeof buf, &needed),
                     SEGOPS_E_INVALID_ARG);
    bad = su;
    bad.user_id_sig[10] = '"'; /* would break out of the JSON string */
    assert_int_equal(segops_signed_user_json("u", &bad, buf, sizeof buf, &needed),
                     SEGOPS_E_INVALID_ARG);
    bad = su;
    bad.user_id_sig[63] = '\0';
    assert_int_equal(segops_signed_user_json("u", &bad, buf, sizeof buf, &needed),
                     SEGOPS_E_INVALID_ARG);
}

static void check_uuid_v4(const char *id) {
    assert_int_equal(strlen(id), 36);
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(id[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", id[i]));
    }
    assert_int_equal(id[14], '4');
    assert_non_null(strchr("89ab", id[19]));
}

static int compare_ids(const void *a, const void *b) { return strcmp(a, b); }

static void test_anonymous_ids(void **state) {
    (void)state;
    enum { N = 1000 };
    static char ids[N][37];
    for (size_t i = 0; i < N; i++) {
        memset(ids[i], 'Z', sizeof ids[i]);
        assert_int_equal(segops_new_anonymous_id(ids[i]), SEGOPS_OK);
        check_uuid_v4(ids[i]);
    }
    qsort(ids, N, sizeof ids[0], compare_ids);
    for (size_t i = 1; i < N; i++) assert_string_not_equal(ids[i - 1], ids[i]);
    assert_int_equal(segops_new_anonymous_id(NULL), SEGOPS_E_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_plain),
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_json_non_ascii_passes_through),
        cmocka_unit_test(test_json_buffer_sizes),
        cmocka_unit_test(test_json_invalid_args),
        cmocka_unit_test(test_anonymous_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
