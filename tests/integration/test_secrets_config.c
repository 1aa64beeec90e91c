/* No secret in configuration errors, nor on stderr from the default on_error and logger. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "secrets_sink.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"

#include "secrets_sink.h"

/* A refused call: its reason (segops_last_error) holds no secret either. */
#define expect_refused(call, code)                                                                 \
    do {                                                                                           \
        assert_int_equal((call), (code));                                                          \
        assert_no_secret_in(segops_last_error(), "segops_last_error after " #call);                \
    } while (0)

static void test_config_errors(void **state) {
    (void)state;
    segops_options_t *opts = NULL;
    assert_int_equal(segops_options_new(&opts), SEGOPS_OK);
    assert_int_equal(segops_options_set_logger(opts, on_log, SEGOPS_LOG_DEBUG, NULL), SEGOPS_OK);
    assert_int_equal(segops_options_set_on_error(opts, on_error, NULL), SEGOPS_OK);
    expect_refused(segops_options_set_api_key(opts, "xk_" CANARY "_bad_prefix"), SEGOPS_E_CONFIG);
    expect_refused(segops_options_set_api_key(opts, "sk_" CANARY "\x01"), SEGOPS_E_INVALID_ARG);
    expect_refused(segops_options_set_api_key(opts, "sk_" CANARY " space"), SEGOPS_E_INVALID_ARG);
    expect_refused(segops_options_set_api_url(opts, "https://u:" URL_PASS "@segops.example"),
                   SEGOPS_E_INVALID_ARG);
    expect_refused(segops_options_set_api_url(opts, "https://segops.example/?key=" SK),
                   SEGOPS_E_INVALID_ARG);
    segops_client_t *client = NULL;
    /* No URL yet, then plain http to another host, then pk_ without get_user. */
    assert_int_equal(segops_options_set_api_key(opts, SK), SEGOPS_OK);
    expect_refused(segops_client_new(opts, &client), SEGOPS_E_CONFIG);
    assert_int_equal(segops_options_set_api_url(opts, "http://segops.example"), SEGOPS_OK);
    expect_refused(segops_client_new(opts, &client), SEGOPS_E_CONFIG);
    assert_int_equal(segops_options_set_api_url(opts, "https://segops.example"), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_key(opts, PK), SEGOPS_OK);
    expect_refused(segops_client_new(opts, &client), SEGOPS_E_CONFIG);
    assert_null(client);
    assert_int_equal(segops_options_set_api_key(opts, SK), SEGOPS_OK);
    assert_int_equal(segops_options_set_batch_size(opts, 50), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_queue_events(opts, 10), SEGOPS_OK);
    expect_refused(segops_client_new(opts, &client), SEGOPS_E_CONFIG);
    segops_options_free(opts);
    /* The refusals were logged (so the check below looks at real lines). */
    assert_true(sink.log_lines >= 3);
    sink_check(0);

    /* Signing helpers: failures are codes only. */
    segops_signed_user_t su;
    assert_int_equal(segops_sign_user_id(HMAC_HEX "0", "u", 0, &su), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_sign_user_id(HMAC_HEX, "u", 1700000000, &su), SEGOPS_OK);
    assert_int_equal(
        segops_verify_user_id(HMAC_HEX, "v", su.user_id_sig, su.user_id_ts, 1700000000, 300),
        SEGOPS_E_AUTH);
}

static void test_default_stderr(void **state) {
    (void)state;
    capture_t cap;
    capture_begin(&cap);
    devsrv_t *srv = start_secret_server(NULL);
    segops_client_t *client = new_client(srv, &(spec_t){.key = SK_WRONG, .default_on_error = true});
    send_n(client, 2);
    segops_client_free(client);
    client = new_client(srv, &(spec_t){.key = PK, .default_on_error = true});
    send_n(client, 1);
    remember_token(srv);
    devsrv_revoke_tokens(srv);
    devsrv_fail_mints(srv, 401, 1);
    send_n(client, 1);
    devsrv_set_expires_style(srv, DEVSRV_EXPIRES_GARBAGE);
    send_n(client, 1);
    remember_token(srv);
    segops_client_free(client);
    client = new_client(srv, &(spec_t){.key = PK_UNKNOWN, .default_on_error = true});
    send_n(client, 1);
    segops_client_free(client);
    client = new_client(srv, &(spec_t){.key = SK, .default_on_error = true});
    script_status(srv, 400, NULL, "{\"detail\":\"" SK "\"}");
    send_n(client, 1);
    segops_client_free(client);
    if (have_tls) {
        devsrv_config_t cfg = {.tls_cert_file = tls.server_cert, .tls_key_file = tls.server_key};
        devsrv_t *https = start_secret_server(&cfg);
        client = new_client(https, &(spec_t){.key = SK, .default_on_error = true});
        send_n(client, 1);
        segops_client_free(client);
        devsrv_stop(https);
    }
    char url[128];
    snprintf(url, sizeof url, "%s", devsrv_url(srv));
    devsrv_stop(srv);
    client = new_client(NULL, &(spec_t){.key = SK, .url = url, .default_on_error = true});
    send_n(client, 1);
    segops_client_free(client);
    char *err = capture_end(&cap);

    size_t lines = 0;
    for (const char *p = err; (p = strstr(p, "segops: dropped")); p++) lines++;
    if (lines < 6) fail_msg("expected at least 6 stderr reports, got %zu:\n%s", lines, err);
    assert_no_secret_in(err, "stderr");
    if (getenv("SEGOPS_TEST_VERBOSE")) print_message("stderr:\n%s", err);
    free(err);
    sink_check(0); /* the logger lines of the same run */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_config_errors, secrets_setup),
        cmocka_unit_test_setup_teardown(test_default_stderr, secrets_setup, secrets_teardown),
    };
    return cmocka_run_group_tests(tests, secrets_group_setup, secrets_group_teardown);
}
