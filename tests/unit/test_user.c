/* The identity setters used inside get_user, and the mint body (src/user.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "user.h"

#define SIG "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_setters_refuse_bad_input_and_keep_what_was_set(void **state) {
    (void)state;
    segops_user_t user = {0};
    assert_int_equal(segops_user_set_id(NULL, "u"), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_user_set_id(&user, "u-1"), SEGOPS_OK);
    assert_int_equal(segops_user_set_id(&user, NULL), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_user_set_id(&user, ""), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_user_set_id(&user, "bad\xff"), SEGOPS_E_INVALID_ARG);
    assert_string_equal(user.user_id, "u-1");
    assert_int_equal(segops_user_set_anonymous_id(&user, ""), SEGOPS_E_INVALID_ARG);
    assert_null(user.anonymous_id);

    assert_int_equal(segops_user_set_signature(&user, SIG, 1795000000), SEGOPS_OK);
    assert_int_equal(segops_user_set_signature(&user, "abc", 1795000000), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_user_set_signature(&user, SIG, 0), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_user_set_signature(&user, SIG "0", 1), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_user_set_signature(NULL, SIG, 1), SEGOPS_E_INVALID_ARG);
    assert_string_equal(user.user_id_sig, SIG);
    assert_int_equal(user.user_id_ts, 1795000000);
    segops__user_clear(&user);
}

static void test_mint_body_holds_only_what_was_set(void **state) {
    (void)state;
    long live = segops__alloc_test_live();
    segops_user_t user = {0};
    segops__buf_t body = {0};
    assert_int_equal(segops__user_mint_body(&user, &body), SEGOPS_OK);
    assert_string_equal(body.data, "{}"); /* an anonymous mint */

    segops__buf_clear(&body);
    assert_int_equal(segops_user_set_anonymous_id(&user, "anon-1"), SEGOPS_OK);
    assert_int_equal(segops__user_mint_body(&user, &body), SEGOPS_OK);
    assert_string_equal(body.data, "{\"anonymous_id\":\"anon-1\"}");

    segops__buf_clear(&body);
    assert_int_equal(segops_user_set_id(&user, "u \"q\" \xc3\xa9"), SEGOPS_OK);
    /* Uppercase hex is stored lowercase; the timestamp is a JSON integer. */
    assert_int_equal(segops_user_set_signature(&user,
                                               "0123456789ABCDEF0123456789abcdef0123456789abcdef"
                                               "0123456789abcdef",
                                               1795000000),
                     SEGOPS_OK);
    assert_int_equal(segops__user_mint_body(&user, &body), SEGOPS_OK);
    assert_string_equal(body.data,
                        "{\"user_id\":\"u \\\"q\\\" \xc3\xa9\",\"anonymous_id\":\"anon-1\","
                        "\"user_id_sig\":\"" SIG "\",\"user_id_ts\":1795000000}");
    segops__buf_free(&body);
    segops__user_clear(&user);
    assert_int_equal(segops__alloc_test_live(), live);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setters_refuse_bad_input_and_keep_what_was_set),
        cmocka_unit_test(test_mint_body_holds_only_what_was_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
