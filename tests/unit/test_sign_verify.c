/* sign.c's verification (good and bad signatures, the time window, bad arguments) and secret
 * wiping. */
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

static void test_verify_good_and_bad(void **state) {
    (void)state;
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", GOOD_SIG, TS, TS, 300), SEGOPS_OK);
    /* Uppercase hex is the same signature. */
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42",
                                           "DA1041F6CA1BA9024EC707A87E22D6A4"
                                           "39439512BD7643B3B19D3626A543F3F7",
                                           TS, TS, 300),
                     SEGOPS_OK);
    /* One flipped digit, in the first and in the last byte. */
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42",
                                           "ea1041f6ca1ba9024ec707a87e22d6a4"
                                           "39439512bd7643b3b19d3626a543f3f7",
                                           TS, TS, 300),
                     SEGOPS_E_AUTH);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42",
                                           "da1041f6ca1ba9024ec707a87e22d6a4"
                                           "39439512bd7643b3b19d3626a543f3f8",
                                           TS, TS, 300),
                     SEGOPS_E_AUTH);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_43", GOOD_SIG, TS, TS, 300),
                     SEGOPS_E_AUTH);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", GOOD_SIG, TS + 1, TS, 300),
                     SEGOPS_E_AUTH);
    assert_int_equal(segops_verify_user_id("00" SECRET_32, "user_42", GOOD_SIG, TS, TS, 300),
                     SEGOPS_E_AUTH);
}

static void test_verify_window(void **state) {
    (void)state;
    /* Inclusive at exactly the tolerance, in both directions. */
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", GOOD_SIG, TS, TS + 300, 300),
                     SEGOPS_OK);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", GOOD_SIG, TS, TS - 300, 300),
                     SEGOPS_OK);
    /* Stale (signed too long ago) and from the future. */
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", GOOD_SIG, TS, TS + 301, 300),
                     SEGOPS_E_AUTH);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", GOOD_SIG, TS, TS - 301, 300),
                     SEGOPS_E_AUTH);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", GOOD_SIG, TS, TS, 0), SEGOPS_OK);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", GOOD_SIG, TS, TS + 1, 0),
                     SEGOPS_E_AUTH);
    /* now <= 0 is the current time, years after TS. */
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", GOOD_SIG, TS, 0, 300),
                     SEGOPS_E_AUTH);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", GOOD_SIG, TS, -1, INT64_MAX),
                     SEGOPS_OK);
}

static void test_verify_invalid_args(void **state) {
    (void)state;
    assert_int_equal(segops_verify_user_id(NULL, "user_42", GOOD_SIG, TS, TS, 300),
                     SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_verify_user_id("abc", "user_42", GOOD_SIG, TS, TS, 300),
                     SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_verify_user_id(SECRET_32, "", GOOD_SIG, TS, TS, 300),
                     SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_verify_user_id(SECRET_32, "\xff", GOOD_SIG, TS, TS, 300),
                     SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", NULL, TS, TS, 300),
                     SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", "", TS, TS, 300),
                     SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", GOOD_SIG "0", TS, TS, 300),
                     SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42",
                                           "da1041f6ca1ba9024ec707a87e22d6a4"
                                           "39439512bd7643b3b19d3626a543f3f",
                                           TS, TS, 300),
                     SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42",
                                           "zz1041f6ca1ba9024ec707a87e22d6a4"
                                           "39439512bd7643b3b19d3626a543f3f7",
                                           TS, TS, 300),
                     SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", GOOD_SIG, 0, TS, 300),
                     SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", GOOD_SIG, -TS, TS, 300),
                     SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_verify_user_id(SECRET_32, "user_42", GOOD_SIG, TS, TS, -1),
                     SEGOPS_E_INVALID_ARG);
}

static void test_secure_wipe_and_secret_free(void **state) {
    (void)state;
    unsigned char buf[16];
    memset(buf, 0xab, sizeof buf);
    segops__secure_wipe(buf, sizeof buf);
    for (size_t i = 0; i < sizeof buf; i++) assert_int_equal(buf[i], 0);
    segops__secure_wipe(NULL, 0);

    long live = segops__alloc_test_live();
    char *secret = segops__strdup("deadbeef");
    assert_non_null(secret);
    segops__secret_free(secret);
    segops__secret_free(NULL);
    assert_int_equal(segops__alloc_test_live(), live);

    unsigned char a[32] = {0}, b[32] = {0};
    assert_int_equal(segops__random_bytes(a, sizeof a), SEGOPS_OK);
    assert_int_equal(segops__random_bytes(b, sizeof b), SEGOPS_OK);
    assert_memory_not_equal(a, b, sizeof a);
    assert_int_equal(segops__random_bytes(a, 0), SEGOPS_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_good_and_bad),
        cmocka_unit_test(test_verify_window),
        cmocka_unit_test(test_verify_invalid_args),
        cmocka_unit_test(test_secure_wipe_and_secret_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
