/* Issue 19: SEGOPS_E_CRYPTO and SEGOPS_E_INTERNAL were never produced by a
 * test. They come from failures of the libraries underneath (OpenSSL, libcurl),
 * which a healthy machine never has, so this program makes them fail: it
 * defines RAND_bytes, HMAC and curl_global_init itself. The statically linked
 * library calls these instead of the shared libraries' (which each
 * stand-in calls in turn, through dlsym(RTLD_NEXT), unless its failure is
 * switched on for the calling thread).
 * - SEGOPS_E_CRYPTO: the random generator fails (segops_new_anonymous_id), the
 *   HMAC fails (segops_sign_user_id, segops_verify_user_id);
 * - SEGOPS_E_INTERNAL: libcurl cannot initialise (segops_client_new).
 * Each says why in one line that holds no secret. */
#define _GNU_SOURCE 1
#include "testutil.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

static _Thread_local bool fail_rand, fail_hmac;
static bool fail_curl_init; /* set before any client exists */

int RAND_bytes(unsigned char *buf, int num) {
    if (fail_rand) return 0;
    int (*real)(unsigned char *, int) =
        (int (*)(unsigned char *, int))dlsym(RTLD_NEXT, "RAND_bytes");
    return real(buf, num);
}

typedef unsigned char *(*hmac_fn)(const EVP_MD *, const void *, int, const unsigned char *, size_t,
                                  unsigned char *, unsigned int *);

unsigned char *HMAC(const EVP_MD *md, const void *key, int key_len, const unsigned char *data,
                    size_t data_len, unsigned char *md_out, unsigned int *md_len) {
    if (fail_hmac) return NULL;
    hmac_fn real = (hmac_fn)dlsym(RTLD_NEXT, "HMAC");
    return real(md, key, key_len, data, data_len, md_out, md_len);
}

CURLcode curl_global_init(long flags) {
    if (fail_curl_init) return CURLE_FAILED_INIT;
    CURLcode (*real)(long) = (CURLcode(*)(long))dlsym(RTLD_NEXT, "curl_global_init");
    return real(flags);
}

/* The reason of the last failed call: one line, naming `function`, no secret. */
static void assert_reason(const char *function, const char *secret) {
    const char *why = segops_last_error();
    printf("%s\n", why);
    assert_non_null(strstr(why, function));
    assert_null(strchr(why, '\n'));
    if (secret) assert_null(strstr(why, secret));
}

static void random_failure_is_e_crypto(void **state) {
    (void)state;
    char id[37];
    memset(id, 'x', sizeof id);
    fail_rand = true;
    segops_err_t err = segops_new_anonymous_id(id);
    fail_rand = false;
    assert_int_equal(err, SEGOPS_E_CRYPTO);
    assert_string_equal(id, ""); /* no half-random id */
    assert_reason("segops_new_anonymous_id", NULL);
    /* With the generator back, ids are made again. */
    assert_int_equal(segops_new_anonymous_id(id), SEGOPS_OK);
    assert_int_equal(strlen(id), 36);
}

static void hmac_failure_is_e_crypto(void **state) {
    (void)state;
    segops_signed_user_t signed_user;
    memset(&signed_user, 0, sizeof signed_user);
    fail_hmac = true;
    segops_err_t signed_err = segops_sign_user_id(TEST_PK_SECRET, "u1", 1700000000, &signed_user);
    assert_reason("segops_sign_user_id", TEST_PK_SECRET);
    segops_err_t verify_err = segops_verify_user_id(
        TEST_PK_SECRET, "u1", "0000000000000000000000000000000000000000000000000000000000000000",
        1700000000, 1700000000, 60);
    assert_reason("segops_verify_user_id", TEST_PK_SECRET);
    fail_hmac = false;
    assert_int_equal(signed_err, SEGOPS_E_CRYPTO);
    assert_string_equal(signed_user.user_id_sig, ""); /* nothing half-written */
    assert_int_equal(verify_err, SEGOPS_E_CRYPTO);
    assert_int_equal(segops_sign_user_id(TEST_PK_SECRET, "u1", 1700000000, &signed_user),
                     SEGOPS_OK);
    assert_int_equal(strlen(signed_user.user_id_sig), 64);
}

/* libcurl's one-time initialisation fails: no client can be made, whatever
 * its mode (SEGOPS_E_INTERNAL, no client, a reason that says so). It is checked
 * first in segops_client_new, holding no lock. Last: the failure stays for the
 * process. */
static void curl_init_failure_is_e_internal(void **state) {
    (void)state;
    fail_curl_init = true;
    segops_options_t *opts = make_options(NULL, TEST_SK, NULL);
    assert_int_equal(segops_options_set_api_url(opts, "http://127.0.0.1:9"), SEGOPS_OK);
    for (int batch = 1; batch >= 0; batch--) {
        assert_int_equal(segops_options_set_batch(opts, batch), SEGOPS_OK);
        segops_client_t *client = (segops_client_t *)opts; /* must be reset to NULL */
        assert_int_equal(segops_client_new(opts, &client), SEGOPS_E_INTERNAL);
        assert_null(client);
        assert_reason("segops_client_new", TEST_SK);
        assert_non_null(strstr(segops_last_error(), "libcurl could not start"));
    }
    segops_options_free(opts);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_failure_is_e_crypto),
        cmocka_unit_test(hmac_failure_is_e_crypto),
        cmocka_unit_test(curl_init_failure_is_e_internal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
