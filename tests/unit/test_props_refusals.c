/* Payload setters that fail (bad input, no memory) leave the builder unchanged, and free what they
 * took. */
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

/* Every refusal: the code, and the builder byte for byte as it was. */
static void test_failed_setter_leaves_builder_unchanged(void **state) {
    (void)state;
    segops_props_t *p = new_props(), *a = new_array();
    assert_int_equal(segops_props_set_string(p, "keep", "me"), SEGOPS_OK);
    char before[64];
    snprintf(before, sizeof before, "%s", props_text(p));

    assert_int_equal(segops_props_set_string(p, "bad\xff", "v"), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_props_set_string(p, "keep", "bad\xc3"), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_props_set_string(p, "keep", "\xed\xa0\x80"), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_props_set_string(p, "keep", NULL), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_props_set_string(p, NULL, "v"), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_props_set_double(p, "keep", NAN), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_props_set_double(p, "keep", INFINITY), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_props_set_props(p, "self", p), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_props_set_props(p, "none", NULL), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_props_set_value(p, "v", 1, NULL), SEGOPS_E_INVALID_ARG);
    segops_value_t odd = {(segops_value_type_t)99, {.integer = 0}};
    assert_int_equal(segops_props_set_value(p, "v", 1, &odd), SEGOPS_E_INVALID_ARG);
    segops_value_t nul = {SEGOPS_VALUE_STRING, {.text = {"a\0b", 3}}};
    assert_int_equal(segops_props_set_value(p, "keep", 4, &nul), SEGOPS_E_INVALID_ARG);
    const char *bad_json[] = {"",        " ",   "{",        "[1,]",  "01", "{\"a\":1} x",
                              "nan",     "'s'", "\"\x01\"", "{a:1}", NULL, "[1] [2]",
                              "\"\\x\"", "tru", "-",        "1.",    "+1", "\"\xff\""};
    for (size_t i = 0; i < sizeof bad_json / sizeof *bad_json; i++) {
        if (segops_props_set_json(p, "keep", bad_json[i]) != SEGOPS_E_INVALID_JSON)
            fail_msg("set_json accepted %s", bad_json[i] ? bad_json[i] : "NULL");
    }
    assert_string_equal(props_text(p), before);

    assert_int_equal(segops_props_set_int(a, "key", 1), SEGOPS_E_INVALID_ARG);
    assert_string_equal(props_text(a), "[]");
    segops_props_free(p);
    segops_props_free(a);
}

/* One scenario, run with allocation n failing for every n until it passes:
 * each call returns OK or NOMEM, a NOMEM leaves the builder unchanged, and
 * nothing leaks. */
static bool build_with_failures(long n) {
    long base = segops__alloc_test_live();
    uint64_t attempts = segops__alloc_test_count();
    segops__alloc_test_set_fail_after(n);
    segops_props_t *p = NULL, *child = NULL;
    segops_err_t err = segops_props_new(&p);
    if (err == SEGOPS_OK) err = segops_props_new_array(&child);
    static char before[3][16384];
    for (int i = 0; err == SEGOPS_OK && i < 40; i++) {
        char key[300];
        /* Long keys that need escaping take the heap path of the lookup. */
        memset(key, 'k', 280);
        snprintf(key + 280, sizeof key - 280, "\"%d", i % 30);
        snprintf(before[0], sizeof before[0], "%s", segops_props_json(p, NULL));
        snprintf(before[1], sizeof before[1], "%s", segops_props_json(child, NULL));
        err = segops_props_set_string(p, key, "a value long enough to grow the text");
        if (err == SEGOPS_OK) err = segops_props_set_int(child, NULL, i);
        if (err == SEGOPS_OK) {
            snprintf(before[2], sizeof before[2], "%s", segops_props_json(p, NULL));
            err = segops_props_set_props(p, "child", child);
            if (err != SEGOPS_OK) assert_string_equal(segops_props_json(p, NULL), before[2]);
        } else if (strcmp(segops_props_json(p, NULL), before[0]) == 0) {
            /* p's own set failed, or child's after it: one of them is unchanged */
            assert_true(err == SEGOPS_E_NOMEM);
        } else {
            assert_string_equal(segops_props_json(child, NULL), before[1]);
        }
        if (err != SEGOPS_OK) assert_int_equal(err, SEGOPS_E_NOMEM);
    }
    segops__alloc_test_set_fail_after(-1);
    bool fired = segops__alloc_test_count() - attempts > (uint64_t)n;
    if (!fired)
        assert_int_equal(err, SEGOPS_OK);
    else
        assert_int_equal(err, SEGOPS_E_NOMEM);
    segops_props_free(p);
    segops_props_free(child);
    assert_int_equal(segops__alloc_test_live(), base);
    return fired;
}

static void test_allocation_failures(void **state) {
    (void)state;
    long n = 0;
    while (build_with_failures(n)) n++;
    assert_true(n > 5); /* the scenario does allocate: struct, text, members, keys */
}

/* A NOMEM from a setter leaves the builder byte for byte as it was. */
static void test_nomem_leaves_builder_unchanged(void **state) {
    (void)state;
    segops_props_t *p = new_props();
    char key[300];
    memset(key, 'k', 290);
    strcpy(key + 290, "\"");
    int failures = 0;
    for (int i = 0; i < 400; i++) {
        char before[65536];
        snprintf(before, sizeof before, "%s", props_text(p));
        char k[16];
        snprintf(k, sizeof k, "m%d", i);
        segops__alloc_test_set_fail_after(0);
        segops_err_t err = i % 3 ? segops_props_set_string(p, k, "0123456789012345678901234567")
                                 : segops_props_set_int(p, key, i);
        segops__alloc_test_set_fail_after(-1);
        if (err == SEGOPS_E_NOMEM) {
            failures++;
            assert_string_equal(props_text(p), before);
        } else {
            assert_int_equal(err, SEGOPS_OK);
        }
    }
    assert_true(failures > 3); /* growth of the text, the members, the escaped-key lookup */
    segops_props_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_setter_leaves_builder_unchanged),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_nomem_leaves_builder_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
