/* sign.c's HMAC-SHA256 (RFC 4231 known answers) and SegOps signatures (vectors from Python). */
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

static void to_hex(const unsigned char *in, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

static void fill(unsigned char *p, unsigned char value, size_t n) { memset(p, value, n); }

static void check_hmac(const void *key, size_t key_len, const char *msg, size_t msg_len,
                       const char *expected_hex) {
    unsigned char mac[32];
    char hex[65];
    assert_int_equal(segops__hmac_sha256(key, key_len, msg, msg_len, mac), SEGOPS_OK);
    to_hex(mac, sizeof mac, hex);
    /* Case 5 expects a truncated output: compare only the prefix it gives. */
    assert_true(strlen(expected_hex) <= 64);
    assert_memory_equal(hex, expected_hex, strlen(expected_hex));
}

static void test_rfc4231_case1(void **state) {
    (void)state;
    unsigned char key[20];
    fill(key, 0x0b, sizeof key);
    check_hmac(key, sizeof key, "Hi There", 8,
               "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static void test_rfc4231_case2(void **state) {
    (void)state;
    const char *msg = "what do ya want for nothing?";
    check_hmac("Jefe", 4, msg, strlen(msg),
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_rfc4231_case3(void **state) {
    (void)state;
    unsigned char key[20];
    char msg[50];
    fill(key, 0xaa, sizeof key);
    memset(msg, 0xdd, sizeof msg);
    check_hmac(key, sizeof key, msg, sizeof msg,
               "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}

static void test_rfc4231_case4(void **state) {
    (void)state;
    unsigned char key[25];
    char msg[50];
    for (size_t i = 0; i < sizeof key; i++) key[i] = (unsigned char)(i + 1);
    memset(msg, 0xcd, sizeof msg);
    check_hmac(key, sizeof key, msg, sizeof msg,
               "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
}

static void test_rfc4231_case5_truncated(void **state) {
    (void)state;
    unsigned char key[20];
    fill(key, 0x0c, sizeof key);
    const char *msg = "Test With Truncation";
    check_hmac(key, sizeof key, msg, strlen(msg), "a3b6167473100ee06e0c796c2955552b");
}

static void test_rfc4231_case6(void **state) {
    (void)state;
    unsigned char key[131];
    fill(key, 0xaa, sizeof key);
    const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
    check_hmac(key, sizeof key, msg, strlen(msg),
               "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_rfc4231_case7(void **state) {
    (void)state;
    unsigned char key[131];
    fill(key, 0xaa, sizeof key);
    const char *msg = "This is a test using a larger than block-size key and a larger than "
                      "block-size data. The key needs to be hashed before being used by the "
                      "HMAC algorithm.";
    check_hmac(key, sizeof key, msg, strlen(msg),
               "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

static void expect_sig(const char *secret, const char *user_id, int64_t ts, const char *expected) {
    segops_signed_user_t out;
    memset(&out, 0x5a, sizeof out);
    assert_int_equal(segops_sign_user_id(secret, user_id, ts, &out), SEGOPS_OK);
    assert_string_equal(out.user_id_sig, expected);
    assert_int_equal(out.user_id_ts, ts);
}

static void test_sign_vector_basic(void **state) {
    (void)state;
    /* KEY=bytes.fromhex("000102...1e1f")  MSG=b"user_42|1700000000" */
    expect_sig(SECRET_32, "user_42", 1700000000,
               "da1041f6ca1ba9024ec707a87e22d6a439439512bd7643b3b19d3626a543f3f7");
}

static void test_sign_vector_unicode_uppercase_secret(void **state) {
    (void)state;
    /* KEY=bytes.fromhex("DEADBEEFCAFEBABE0123456789ABCDEF")
     * MSG="Zoë-🚀-用户|1712345678".encode()   (UTF-8) */
    expect_sig("DEADBEEFCAFEBABE0123456789ABCDEF",
               "Zo\xc3\xab-\xf0\x9f\x9a\x80-\xe7\x94\xa8\xe6\x88\xb7", 1712345678,
               "0b198a47b4fa90e383da2053a642be59e1512f871dae26df05e110802e0ac1f5");
    /* Mixed case decodes to the same key. */
    expect_sig("DeadBeefCafeBabe0123456789abcdef",
               "Zo\xc3\xab-\xf0\x9f\x9a\x80-\xe7\x94\xa8\xe6\x88\xb7", 1712345678,
               "0b198a47b4fa90e383da2053a642be59e1512f871dae26df05e110802e0ac1f5");
}

static void test_sign_vector_block_size_key(void **state) {
    (void)state;
    /* Exactly one SHA-256 block of key: the largest key used without hashing.
     * KEY=bytes(range(64))  MSG=b"bob|1700000000" */
    char secret[129];
    unsigned char raw[64];
    for (size_t i = 0; i < sizeof raw; i++) raw[i] = (unsigned char)i;
    to_hex(raw, sizeof raw, secret);
    expect_sig(secret, "bob", 1700000000,
               "a4f8ff082b834cbf65032802e586e54fb4bee6a805c0e5cf99e2a81063936af7");
}

static void test_sign_vector_long_key(void **state) {
    (void)state;
    /* Longer than a block, so sign.c hashes the key itself in chunks.
     * KEY=b"\xaa"*131  MSG=b"alice|1" */
    char secret[263];
    for (size_t i = 0; i < 262; i++) secret[i] = (i % 2) ? 'A' : 'a';
    secret[262] = '\0';
    expect_sig(secret, "alice", 1,
               "45bdbb0b97a5d35696e00ef1e928221bda86e5be12f8ffee1bb915d6699cf5ba");
}

static void test_sign_vector_long_user_id(void **state) {
    (void)state;
    /* Too long for the stack message buffer: the heap path, freed again.
     * KEY=bytes.fromhex("0f"*16)  MSG=b"x"*1000+b"|1234567890" */
    char user_id[1001];
    memset(user_id, 'x', 1000);
    user_id[1000] = '\0';
    long live = segops__alloc_test_live();
    expect_sig("0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f", user_id, 1234567890,
               "304539130aee60a22932d6b9b7094310bc51771fe559f8a03853c34fd118e021");
    assert_int_equal(segops__alloc_test_live(), live);

    segops_signed_user_t out;
    segops__alloc_test_set_fail_after(0);
    assert_int_equal(segops_sign_user_id("0f0f", user_id, 1, &out), SEGOPS_E_NOMEM);
    segops__alloc_test_set_fail_after(-1);
    assert_int_equal(segops__alloc_test_live(), live);
}

/* The classic bug: keying HMAC with the hex text instead of the decoded bytes. */
static void test_sign_uses_decoded_secret_not_hex_text(void **state) {
    (void)state;
    const char *msg = "user_42|1700000000";
    /* KEY=b"000102...1e1f" (the 64 ASCII characters)  MSG=b"user_42|1700000000" */
    const char *text_keyed = "b0ccf47befcdb98413eb5c9ee4425e341c4ca6bf7cc732800919d044c894cadc";
    const char *decoded_keyed = "da1041f6ca1ba9024ec707a87e22d6a439439512bd7643b3b19d3626a543f3f7";

    unsigned char mac[32];
    char hex[65];
    assert_int_equal(segops__hmac_sha256(SECRET_32, strlen(SECRET_32), msg, strlen(msg), mac),
                     SEGOPS_OK);
    to_hex(mac, sizeof mac, hex);
    assert_string_equal(hex, text_keyed);
    assert_string_not_equal(text_keyed, decoded_keyed);

    segops_signed_user_t out;
    assert_int_equal(segops_sign_user_id(SECRET_32, "user_42", 1700000000, &out), SEGOPS_OK);
    assert_string_equal(out.user_id_sig, decoded_keyed);
    assert_string_not_equal(out.user_id_sig, text_keyed);
}

static void test_sign_now_when_ts_not_positive(void **state) {
    (void)state;
    segops_signed_user_t out;
    int64_t before = (int64_t)time(NULL);
    assert_int_equal(segops_sign_user_id(SECRET_32, "u", 0, &out), SEGOPS_OK);
    int64_t after = (int64_t)time(NULL);
    assert_true(out.user_id_ts >= before && out.user_id_ts <= after);
    assert_int_equal(segops_verify_user_id(SECRET_32, "u", out.user_id_sig, out.user_id_ts, 0, 5),
                     SEGOPS_OK);
    assert_int_equal(segops_sign_user_id(SECRET_32, "u", -7, &out), SEGOPS_OK);
    assert_true(out.user_id_ts >= before);
    for (size_t i = 0; i < 64; i++) assert_non_null(strchr("0123456789abcdef", out.user_id_sig[i]));
    assert_int_equal(out.user_id_sig[64], '\0');
}

static void test_sign_invalid_args(void **state) {
    (void)state;
    segops_signed_user_t out;
    assert_int_equal(segops_sign_user_id(NULL, "u", 1, &out), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_sign_user_id("", "u", 1, &out), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_sign_user_id("abc", "u", 1, &out), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_sign_user_id("0g", "u", 1, &out), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_sign_user_id("zz00", "u", 1, &out), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_sign_user_id("00 1", "u", 1, &out), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_sign_user_id("0x00", "u", 1, &out), SEGOPS_E_INVALID_ARG);
    /* A bad digit deep inside a long (hashed-in-chunks) secret is still caught. */
    char long_secret[301];
    memset(long_secret, 'a', 300);
    long_secret[300] = '\0';
    long_secret[250] = 'q';
    assert_int_equal(segops_sign_user_id(long_secret, "u", 1, &out), SEGOPS_E_INVALID_ARG);

    assert_int_equal(segops_sign_user_id(SECRET_32, NULL, 1, &out), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_sign_user_id(SECRET_32, "", 1, &out), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_sign_user_id(SECRET_32, "bad\xff", 1, &out), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_sign_user_id(SECRET_32, "\xc0\xaf", 1, &out), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_sign_user_id(SECRET_32, "\xed\xa0\x80", 1, &out), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_sign_user_id(SECRET_32, "u", 1, NULL), SEGOPS_E_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4231_case1),
        cmocka_unit_test(test_rfc4231_case2),
        cmocka_unit_test(test_rfc4231_case3),
        cmocka_unit_test(test_rfc4231_case4),
        cmocka_unit_test(test_rfc4231_case5_truncated),
        cmocka_unit_test(test_rfc4231_case6),
        cmocka_unit_test(test_rfc4231_case7),
        cmocka_unit_test(test_sign_vector_basic),
        cmocka_unit_test(test_sign_vector_unicode_uppercase_secret),
        cmocka_unit_test(test_sign_vector_block_size_key),
        cmocka_unit_test(test_sign_vector_long_key),
        cmocka_unit_test(test_sign_vector_long_user_id),
        cmocka_unit_test(test_sign_uses_decoded_secret_not_hex_text),
        cmocka_unit_test(test_sign_now_when_ts_not_positive),
        cmocka_unit_test(test_sign_invalid_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
