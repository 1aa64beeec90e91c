/* Payload validation, UTF-8 checks and escaping (src/json_text.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
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

/* The fast paths test 8 bytes at a time: each kind of byte they must stop at is
 * placed at every offset of the first two words, with tails that end the text
 * inside, at and past a word. Texts live in exactly sized heap blocks so that a
 * sanitizer build catches any read past the end. */
struct special {
    const char *bytes; /* placed raw; "\0" means one NUL byte */
    size_t len;
    bool json_ok; /* accepted raw inside a JSON string */
    bool utf8_ok; /* segops__utf8_valid */
    size_t extra; /* bytes escaping adds */
};

static const struct special specials[] = {
    {"\0", 1, false, false, 5},
    {"\x01", 1, false, true, 5},
    {"\x1f", 1, false, true, 5},
    {"\n", 1, false, true, 1},
    {"\t", 1, false, true, 1},
    {"\"", 1, false, true, 1},
    {"\\x", 2, false, true, 1},            /* not an escape */
    {"\\\\", 2, true, true, 2},            /* an escaped backslash */
    {"\\u00e9", 6, true, true, 1},         /* a \u escape */
    {"\\uD83D\\uDE00", 12, true, true, 2}, /* a surrogate pair */
    {"\\uDE00", 6, false, true, 1},        /* a lone low surrogate */
    {" ", 1, true, true, 0},
    {"\x7f", 1, true, true, 0},
    {"\xc3\xa9", 2, true, true, 0},
    {"\xe2\x82\xac", 3, true, true, 0},
    {"\xf0\x9f\x98\x80", 4, true, true, 0},
    {"\x80", 1, false, false, 0},             /* a lone continuation byte */
    {"\xc3", 1, false, false, 0},             /* a cut sequence */
    {"\xc0\xaf", 2, false, false, 0},         /* overlong */
    {"\xed\xa0\x80", 3, false, false, 0},     /* a surrogate */
    {"\xf4\x90\x80\x80", 4, false, false, 0}, /* past U+10FFFF */
    {"\xf5", 1, false, false, 0},
    {"\xff", 1, false, false, 0},
};

/* A heap copy of parts a, b and c, exactly a_len + b_len + c_len bytes long. */
static char *concat(const char *a, size_t a_len, const char *b, size_t b_len, const char *c,
                    size_t c_len) {
    char *s = malloc(a_len + b_len + c_len);
    assert_non_null(s);
    memcpy(s, a, a_len);
    memcpy(s + a_len, b, b_len);
    memcpy(s + a_len + b_len, c, c_len);
    return s;
}

/* off plain bytes, the special, then tail plain bytes. */
static char *text_with(const struct special *sp, size_t off, size_t tail, size_t *len) {
    const char plain[] = "abcdefghijklmnopqrstuvwxyz";
    char *s = concat(plain, off, sp->bytes, sp->len, plain, tail);
    *len = off + sp->len + tail;
    return s;
}

static void test_special_bytes_at_every_offset_in_json(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof specials / sizeof *specials; i++) {
        const struct special *sp = &specials[i];
        segops_err_t want = sp->json_ok ? SEGOPS_OK : SEGOPS_E_INVALID_JSON;
        for (size_t off = 0; off <= 17; off++) {
            for (size_t tail = 0; tail <= 17; tail++) {
                size_t n;
                char *str = text_with(sp, off, tail, &n);
                char *as_key = concat("{\"", 2, str, n, "\":1}", 4);
                char *as_value = concat("{\"k\":\"", 6, str, n, "\"}", 2);
                if (segops__json_check_object(as_key, n + 6) != want ||
                    segops__json_check_object(as_value, n + 8) != want)
                    fail_msg("special %zu at offset %zu, tail %zu: wrong verdict", i, off, tail);
                /* Cut before the closing quote: never an object. */
                assert_int_equal(segops__json_check_object(as_value, n + 6), SEGOPS_E_INVALID_JSON);
                free(as_key);
                free(as_value);
                free(str);
            }
        }
    }
}

static void test_special_bytes_at_every_offset_in_strings(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof specials / sizeof *specials; i++) {
        const struct special *sp = &specials[i];
        for (size_t off = 0; off <= 17; off++) {
            for (size_t tail = 0; tail <= 17; tail++) {
                size_t n;
                char *str = text_with(sp, off, tail, &n);
                size_t want_len = n + sp->extra;
                if (segops__utf8_valid(str, n) != sp->utf8_ok)
                    fail_msg("utf8_valid: special %zu at offset %zu, tail %zu", i, off, tail);
                if (segops__json_escaped_len(str, n) != want_len)
                    fail_msg("escaped_len: special %zu at offset %zu, tail %zu", i, off, tail);
                size_t measured = 12345;
                bool ok = segops__json_string_measure(str, n, &measured);
                if (ok != sp->utf8_ok || measured != (ok ? want_len : 12345))
                    fail_msg("string_measure: special %zu at offset %zu, tail %zu", i, off, tail);
                char *out = malloc(want_len);
                assert_non_null(out);
                assert_int_equal(segops__json_escape(out, str, n), want_len);
                /* The plain bytes around the special are copied as they are. */
                assert_memory_equal(out, str, off);
                assert_memory_equal(out + want_len - tail, str + n - tail, tail);
                free(out);
                free(str);
            }
        }
    }
}

static void test_string_measure(void **state) {
    (void)state;
    size_t len = 99;
    assert_true(segops__json_string_measure("", 0, &len));
    assert_int_equal(len, 0);
    assert_true(segops__json_string_measure("user-000001", 11, &len));
    assert_int_equal(len, 11);
    assert_true(segops__json_string_measure("order_placed", 12, &len));
    assert_int_equal(len, 12);
    const char in[] = "q\"b\\n\n\t\x01\x1f\xc3\xa9/";
    assert_true(segops__json_string_measure(in, sizeof in - 1, &len));
    assert_int_equal(len, segops__json_escaped_len(in, sizeof in - 1));
    assert_int_equal(len, sizeof "q\\\"b\\\\n\\n\\t\\u0001\\u001f\xc3\xa9/" - 1);
    const char mixed[] = "a long id with \xe2\x82\xac, \xf0\x9f\x98\x80 and a \"quote\" in it";
    assert_true(segops__json_string_measure(mixed, sizeof mixed - 1, &len));
    assert_int_equal(len, sizeof mixed - 1 + 2);

    /* Refusals, exactly segops__utf8_valid's; the length is left alone. */
    static const char *bad[] = {"\x80",
                                "\xc3",
                                "\xc0\xaf",
                                "\xe0\x80\xaf",
                                "\xed\xa0\x80",
                                "\xf4\x90\x80\x80",
                                "a perfectly fine prefix then \xff"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        len = 99;
        assert_false(segops__json_string_measure(bad[i], strlen(bad[i]), &len));
        assert_int_equal(len, 99);
    }
    assert_false(segops__json_string_measure("a\0b", 3, &len));
    assert_false(segops__json_string_measure("sixteen bytes..\0", 16, &len));
    assert_int_equal(len, 99);
}

/* 64 nested objects or arrays are accepted and 65 refused, whatever the mix. */
static void test_depth_limit_mixed(void **state) {
    (void)state;
    for (int shape = 0; shape < 4; shape++) {
        for (int depth = 63; depth <= 65; depth++) {
            char doc[1024];
            char closers[80];
            size_t n = 0;
            doc[n++] = '{';
            closers[0] = '}';
            for (int i = 1; i < depth; i++) {
                if (closers[i - 1] == '}') {
                    memcpy(doc + n, "\"k\":", 4);
                    n += 4;
                }
                bool object = shape == 0 || (shape == 2 && i % 2) || (shape == 3 && i % 3 == 0);
                doc[n++] = object ? '{' : '[';
                closers[i] = object ? '}' : ']';
            }
            for (int i = depth - 1; i >= 0; i--) doc[n++] = closers[i];
            segops_err_t want = depth <= 64 ? SEGOPS_OK : SEGOPS_E_INVALID_JSON;
            if (segops__json_check_object(doc, n) != want)
                fail_msg("shape %d depth %d: wrong verdict", shape, depth);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_objects),
        cmocka_unit_test(test_rejects_everything_else),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_special_bytes_at_every_offset_in_json),
        cmocka_unit_test(test_special_bytes_at_every_offset_in_strings),
        cmocka_unit_test(test_string_measure),
        cmocka_unit_test(test_depth_limit_mixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
