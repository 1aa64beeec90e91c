/* Payload validation, UTF-8 checks and escaping (src/json_text.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "json_text.h"

static segops_err_t check(const char *s) { return segops__json_check_object(s, strlen(s)); }

static void test_accepts_objects(void **state) {
    (void)state;
    const char *good[] = {
        "{}",
        " {} ",
        "\t{\n}\r\n",
        "{\"a\":1}",
        "{\"a\":-0.5e+10,\"b\":[true,false,null]}",
        "{\"nested\":{\"x\":[[],{},[{\"y\":\"z\"}]]}}",
        "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
        "{\"u\":\"\\u00e9\\uD83D\\uDE00\"}",
        "{\"utf8\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
        "{\"a\":0,\"b\":10,\"c\":1.25E3,\"d\":-7}",
        "{\"\":\"\"}",
        "{\"dup\":1,\"dup\":2}",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        if (check(good[i]) != SEGOPS_OK) fail_msg("rejected %s", good[i]);
    }
}

static void test_rejects_everything_else(void **state) {
    (void)state;
    const char *bad[] = {
        "",
        " ",
        "[]",
        "\"s\"",
        "1",
        "null",
        "true",
        "{",
        "}",
        "{\"a\"}",
        "{\"a\":}",
        "{a:1}",
        "{\"a\":1,}",
        "{,}",
        "{\"a\":1 \"b\":2}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":-}",
        "{\"a\":1e}",
        "{\"a\":+1}",
        "{\"a\":NaN}",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\uDE00\"}",
        "{\"a\":\"\\uD83D\"}",
        "{\"a\":\"\\uD83Dx\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"\xff\"}",
        "{\"a\":\"\xc0\xaf\"}",
        "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":\"\xf4\x90\x80\x80\"}",
        "{\"a\":1}x",
        "{\"a\":1}{}",
        "{\"a\":[1,2}",
        "{\"a\":[1,2,]}",
        "{'a':1}",
        "{\"a\":\"unterminated}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (check(bad[i]) != SEGOPS_E_INVALID_JSON) fail_msg("accepted %s", bad[i]);
    }
    assert_int_equal(segops__json_check_object(NULL, 0), SEGOPS_E_INVALID_JSON);
    /* The length bounds the scan: a NUL inside or a cut object is refused. */
    assert_int_equal(segops__json_check_object("{\"a\":1}", 5), SEGOPS_E_INVALID_JSON);
    assert_int_equal(segops__json_check_object("{}\0{}", 5), SEGOPS_E_INVALID_JSON);
}

static void test_depth_limit(void **state) {
    (void)state;
    char deep[300];
    size_t n = 0;
    deep[n++] = '{';
    deep[n++] = '"';
    deep[n++] = 'a';
    deep[n++] = '"';
    deep[n++] = ':';
    for (int i = 0; i < 63; i++) deep[n++] = '[';
    for (int i = 0; i < 63; i++) deep[n++] = ']';
    deep[n++] = '}';
    assert_int_equal(segops__json_check_object(deep, n), SEGOPS_OK);
    /* One level more than 64 is refused instead of recursing without bound. */
    memmove(deep + 6, deep + 5, n - 5);
    deep[5] = '[';
    n++;
    memmove(deep + n - 1, deep + n - 2, 2);
    deep[n - 2] = ']';
    n++;
    assert_int_equal(segops__json_check_object(deep, n), SEGOPS_E_INVALID_JSON);
}

static void test_utf8(void **state) {
    (void)state;
    assert_true(segops__utf8_valid("", 0));
    assert_true(segops__utf8_valid("plain", 5));
    assert_true(segops__utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    assert_false(segops__utf8_valid("\x80", 1));             /* lone continuation */
    assert_false(segops__utf8_valid("\xc3", 1));             /* cut sequence */
    assert_false(segops__utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(segops__utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
    assert_false(segops__utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(segops__utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    assert_false(segops__utf8_valid("a\0b", 3));             /* NUL */
}

static void test_escape(void **state) {
    (void)state;
    const char in[] = "q\"b\\n\n\t\x01\x1f\xc3\xa9/";
    size_t len = sizeof in - 1;
    const char expect[] = "q\\\"b\\\\n\\n\\t\\u0001\\u001f\xc3\xa9/";
    char out[64];
    assert_int_equal(segops__json_escaped_len(in, len), sizeof expect - 1);
    size_t n = segops__json_escape(out, in, len);
    assert_int_equal(n, sizeof expect - 1);
    assert_memory_equal(out, expect, n);
    assert_int_equal(segops__json_escaped_len("abc", 3), 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_objects), cmocka_unit_test(test_rejects_everything_else),
        cmocka_unit_test(test_depth_limit),     cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
