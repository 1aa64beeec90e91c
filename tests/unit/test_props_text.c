/* The exact JSON text of each payload setter: escaping, integers, replacement, arrays, depth,
 * reuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "json_number.h"
#include "json_text.h"
#include "props_build.h"
#include "skip.h"

#include "props_build.h"

static void test_empty_and_null(void **state) {
    (void)state;
    segops_props_t *p = new_props();
    assert_string_equal(props_text(p), "{}");
    assert_string_equal(segops_props_json(NULL, NULL), "{}");
    segops_props_t *a = new_array();
    assert_string_equal(props_text(a), "[]");
    assert_int_equal(segops_props_new(NULL), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_props_set_int(NULL, "k", 1), SEGOPS_E_INVALID_ARG);
    segops_props_free(NULL);
    segops_props_clear(NULL);
    segops_props_free(p);
    segops_props_free(a);
}

static void test_every_setter(void **state) {
    (void)state;
    segops_props_t *p = new_props();
    assert_int_equal(segops_props_set_string(p, "sku", "A-1"), SEGOPS_OK);
    assert_int_equal(segops_props_set_int(p, "qty", 3), SEGOPS_OK);
    assert_int_equal(segops_props_set_double(p, "total", 42.5), SEGOPS_OK);
    assert_int_equal(segops_props_set_bool(p, "gift", true), SEGOPS_OK);
    assert_int_equal(segops_props_set_bool(p, "paid", false), SEGOPS_OK);
    assert_int_equal(segops_props_set_null(p, "coupon"), SEGOPS_OK);
    assert_int_equal(segops_props_set_json(p, "tags", " [ \"a\", 1 ,{}] \n"), SEGOPS_OK);
    assert_int_equal(segops_props_set_string(p, "", ""), SEGOPS_OK);
    assert_string_equal(props_text(p),
                        "{\"sku\":\"A-1\",\"qty\":3,\"total\":42.5,\"gift\":true,"
                        "\"paid\":false,\"coupon\":null,\"tags\":[ \"a\", 1 ,{}],\"\":\"\"}");
    segops_props_free(p);
}

static void test_escaping(void **state) {
    (void)state;
    segops_props_t *p = new_props();
    assert_int_equal(segops_props_set_string(p, "q", "say \"hi\" \\ /"), SEGOPS_OK);
    assert_int_equal(segops_props_set_string(p, "ctl", "a\nb\tc\r\b\f\x01\x1f"), SEGOPS_OK);
    assert_int_equal(
        segops_props_set_string(p, "utf8", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), SEGOPS_OK);
    assert_int_equal(segops_props_set_int(p, "k\"e\ny", 1), SEGOPS_OK);
    assert_string_equal(props_text(p), "{\"q\":\"say \\\"hi\\\" \\\\ /\","
                                       "\"ctl\":\"a\\nb\\tc\\r\\b\\f\\u0001\\u001f\","
                                       "\"utf8\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\","
                                       "\"k\\\"e\\ny\":1}");
    /* A key that needs escaping is still found again. */
    assert_int_equal(segops_props_set_int(p, "k\"e\ny", 2), SEGOPS_OK);
    assert_non_null(strstr(props_text(p), "\"k\\\"e\\ny\":2}"));
    assert_null(strstr(props_text(p), ":1}"));
    segops_props_free(p);
}

static void test_integers(void **state) {
    (void)state;
    segops_props_t *p = new_props();
    assert_int_equal(segops_props_set_int(p, "min", INT64_MIN), SEGOPS_OK);
    assert_int_equal(segops_props_set_int(p, "max", INT64_MAX), SEGOPS_OK);
    assert_int_equal(segops_props_set_int(p, "zero", 0), SEGOPS_OK);
    assert_int_equal(segops_props_set_int(p, "neg", -1), SEGOPS_OK);
    assert_string_equal(props_text(p), "{\"min\":-9223372036854775808,\"max\":9223372036854775807,"
                                       "\"zero\":0,\"neg\":-1}");
    segops_props_free(p);
}

static void test_replace_in_place(void **state) {
    (void)state;
    segops_props_t *p = new_props();
    assert_int_equal(segops_props_set_int(p, "a", 1), SEGOPS_OK);
    assert_int_equal(segops_props_set_string(p, "b", "two"), SEGOPS_OK);
    assert_int_equal(segops_props_set_int(p, "c", 3), SEGOPS_OK);
    /* Longer, shorter, other type: the position of first set stays. */
    assert_int_equal(segops_props_set_string(p, "b", "a much longer value"), SEGOPS_OK);
    assert_string_equal(props_text(p), "{\"a\":1,\"b\":\"a much longer value\",\"c\":3}");
    assert_int_equal(segops_props_set_null(p, "b"), SEGOPS_OK);
    assert_string_equal(props_text(p), "{\"a\":1,\"b\":null,\"c\":3}");
    /* Members after the replaced one are still found at their new offsets. */
    assert_int_equal(segops_props_set_int(p, "c", 33), SEGOPS_OK);
    assert_int_equal(segops_props_set_int(p, "a", -1), SEGOPS_OK);
    assert_int_equal(segops_props_set_json(p, "b", "{\"x\":[1,2]}"), SEGOPS_OK);
    assert_int_equal(segops_props_set_bool(p, "d", true), SEGOPS_OK);
    assert_string_equal(props_text(p), "{\"a\":-1,\"b\":{\"x\":[1,2]},\"c\":33,\"d\":true}");
    segops_props_free(p);
}

static void test_many_members(void **state) {
    (void)state;
    segops_props_t *p = new_props();
    char key[32], expected[8192] = "{";
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "key_%03d", i);
        assert_int_equal(segops_props_set_int(p, key, i), SEGOPS_OK);
    }
    for (int i = 0; i < 300; i += 7) { /* replace some, far apart */
        snprintf(key, sizeof key, "key_%03d", i);
        assert_int_equal(segops_props_set_string(p, key, "x"), SEGOPS_OK);
    }
    for (int i = 0; i < 300; i++) {
        char member[48];
        if (i % 7 == 0)
            snprintf(member, sizeof member, "%s\"key_%03d\":\"x\"", i ? "," : "", i);
        else
            snprintf(member, sizeof member, ",\"key_%03d\":%d", i, i);
        strcat(expected, member);
    }
    strcat(expected, "}");
    assert_string_equal(props_text(p), expected);
    segops_props_free(p);
}

static void test_set_json_values(void **state) {
    (void)state;
    segops_props_t *p = new_props();
    assert_int_equal(segops_props_set_json(p, "s", "\"x\\u00e9\""), SEGOPS_OK);
    assert_int_equal(segops_props_set_json(p, "n", "\t-1.5e3\r\n"), SEGOPS_OK);
    assert_int_equal(segops_props_set_json(p, "t", "true"), SEGOPS_OK);
    assert_int_equal(segops_props_set_json(p, "z", "null"), SEGOPS_OK);
    assert_int_equal(segops_props_set_json(p, "o", "{\"a\":{\"b\":[]}}"), SEGOPS_OK);
    assert_string_equal(
        props_text(p),
        "{\"s\":\"x\\u00e9\",\"n\":-1.5e3,\"t\":true,\"z\":null,\"o\":{\"a\":{\"b\":[]}}}");
    segops_props_free(p);
}

static void test_arrays_and_nesting(void **state) {
    (void)state;
    segops_props_t *p = new_props(), *tags = new_array(), *addr = new_props();
    assert_int_equal(segops_props_set_string(tags, NULL, "new"), SEGOPS_OK);
    assert_int_equal(segops_props_set_int(tags, NULL, 7), SEGOPS_OK);
    assert_int_equal(segops_props_set_double(tags, NULL, 0.5), SEGOPS_OK);
    assert_int_equal(segops_props_set_null(tags, NULL), SEGOPS_OK);
    assert_int_equal(segops_props_set_json(tags, NULL, "[]"), SEGOPS_OK);
    assert_string_equal(props_text(tags), "[\"new\",7,0.5,null,[]]");
    assert_int_equal(segops_props_set_string(addr, "city", "Z\xc3\xbcrich"), SEGOPS_OK);
    assert_int_equal(segops_props_set_props(p, "tags", tags), SEGOPS_OK);
    assert_int_equal(segops_props_set_props(p, "address", addr), SEGOPS_OK);
    assert_int_equal(segops_props_set_props(tags, NULL, addr), SEGOPS_OK);
    /* A copy was nested: later changes to the child do not reach the parent. */
    assert_int_equal(segops_props_set_string(addr, "zip", "8001"), SEGOPS_OK);
    assert_string_equal(props_text(p), "{\"tags\":[\"new\",7,0.5,null,[]],"
                                       "\"address\":{\"city\":\"Z\xc3\xbcrich\"}}");
    assert_string_equal(props_text(tags), "[\"new\",7,0.5,null,[],{\"city\":\"Z\xc3\xbcrich\"}]");
    segops_props_free(p);
    segops_props_free(tags);
    segops_props_free(addr);
}

/* 64 nested containers in all is the payload limit (json_text.c). */
static void test_depth_limit(void **state) {
    (void)state;
    segops_props_t *level[65];
    level[0] = new_props(); /* depth 1 */
    for (int i = 1; i < 64; i++) {
        level[i] = new_props();
        assert_int_equal(segops_props_set_props(level[i], "in", level[i - 1]), SEGOPS_OK);
    }
    size_t len;
    const char *deepest = segops_props_json(level[63], &len); /* 64 levels */
    assert_int_equal(segops__json_check_object(deepest, len), SEGOPS_OK);
    level[64] = new_props();
    assert_int_equal(segops_props_set_props(level[64], "in", level[63]), SEGOPS_E_INVALID_ARG);
    assert_string_equal(props_text(level[64]), "{}");
    /* The same through set_json: 64 levels of text fit only at the top. */
    char json[200] = "";
    for (int i = 0; i < 64; i++) strcat(json, "[");
    for (int i = 0; i < 64; i++) strcat(json, "]");
    assert_int_equal(segops_props_set_json(level[64], "deep", json), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_props_set_json(level[64], "deep", json + 1), SEGOPS_E_INVALID_JSON);
    json[0] = '\0'; /* 63 levels */
    for (int i = 0; i < 63; i++) strcat(json, "[");
    for (int i = 0; i < 63; i++) strcat(json, "]");
    assert_int_equal(segops_props_set_json(level[64], "deep", json), SEGOPS_OK);
    /* Replacing the deep member with a flat one lowers the depth again. */
    assert_int_equal(segops_props_set_int(level[64], "deep", 1), SEGOPS_OK);
    assert_int_equal(segops_props_set_props(level[63], "in", level[64]), SEGOPS_OK);
    for (int i = 0; i < 65; i++) segops_props_free(level[i]);
}

static void test_clear_and_reuse(void **state) {
    (void)state;
    segops_props_t *p = new_props(), *a = new_array();
    for (int round = 0; round < 3; round++) {
        assert_int_equal(segops_props_set_int(p, "round", round), SEGOPS_OK);
        assert_int_equal(segops_props_set_int(p, "x", 1), SEGOPS_OK);
        assert_int_equal(segops_props_set_int(a, NULL, round), SEGOPS_OK);
        char want[48];
        snprintf(want, sizeof want, "{\"round\":%d,\"x\":1}", round);
        assert_string_equal(props_text(p), want);
        snprintf(want, sizeof want, "[%d]", round);
        assert_string_equal(props_text(a), want);
        segops_props_clear(p);
        segops_props_clear(a);
        assert_string_equal(props_text(p), "{}");
        assert_string_equal(props_text(a), "[]");
    }
    segops_props_free(p);
    segops_props_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_null),   cmocka_unit_test(test_every_setter),
        cmocka_unit_test(test_escaping),         cmocka_unit_test(test_integers),
        cmocka_unit_test(test_replace_in_place), cmocka_unit_test(test_many_members),
        cmocka_unit_test(test_set_json_values),  cmocka_unit_test(test_arrays_and_nesting),
        cmocka_unit_test(test_depth_limit),      cmocka_unit_test(test_clear_and_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
