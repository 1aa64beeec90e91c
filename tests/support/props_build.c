/* Payload builders for the unit tests of src/props.c (test_props_*.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "json_text.h"
#include "props_build.h"

segops_props_t *new_props(void) {
    segops_props_t *p = NULL;
    assert_int_equal(segops_props_new(&p), SEGOPS_OK);
    assert_non_null(p);
    return p;
}

segops_props_t *new_array(void) {
    segops_props_t *p = NULL;
    assert_int_equal(segops_props_new_array(&p), SEGOPS_OK);
    assert_non_null(p);
    return p;
}

const char *props_text(const segops_props_t *p) {
    size_t len = 0;
    const char *s = segops_props_json(p, &len);
    assert_int_equal(strlen(s), len);
    assert_int_equal(segops__json_check_value(s, len), SEGOPS_OK);
    return s;
}
