/* No secret in what the library says on error paths: HTTP errors, a wrong key, TLS, handshakes. */
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

static void test_batch_errors_sk(void **state) {
    (void)state;
    devsrv_t *srv = start_secret_server(NULL);
    segops_client_t *client = new_client(srv, &(spec_t){.key = SK});
    /* Error bodies that echo the credentials: never copied into a message. */
    static const char echo[] = "{\"detail\":\"bad key ApiKey " SK " / " HMAC_HEX "\"}";
    script_status(srv, 400, NULL, echo);
    send_n(client, 2);
    expect_last(SEGOPS_E_HTTP);
    script_status(srv, 401, NULL, echo);
    send_n(client, 1);
    expect_last(SEGOPS_E_AUTH);
    script_status(srv, 403, NULL, echo);
    send_n(client, 1);
    expect_last(SEGOPS_E_AUTH);
    script_status(srv, 413, NULL, echo);
    send_n(client, 1);
    expect_last(SEGOPS_E_TOO_LARGE);
    /* 429 whose Retry-After is past the retry budget: dropped at once. */
    script_status(srv, 429, "3600", echo);
    send_n(client, 1);
    expect_last(SEGOPS_E_RATE_LIMITED);
    /* 5xx past max_retries (the WARN lines say "retrying"). */
    for (int i = 0; i < 3; i++) script_status(srv, 503, NULL, echo);
    send_n(client, 1);
    expect_last(SEGOPS_E_SERVER);
    /* Connection closed mid-answer, then delivered. */
    assert_int_equal(devsrv_script_text(srv, "close,500"), 0);
    segops_stats_t st = send_n(client, 1);
    assert_int_equal(st.delivered, 1);
    segops_client_free(client);
    sink_check(6);
    assert_true(sink.log_lines > 0);
    devsrv_stop(srv);
}

static void test_wrong_key_and_server_down(void **state) {
    (void)state;
    devsrv_t *srv = start_secret_server(NULL);
    segops_client_t *client = new_client(srv, &(spec_t){.key = SK_WRONG});
    segops_stats_t st = send_n(client, 3);
    assert_int_equal(st.dropped_rejected, 3);
    expect_last(SEGOPS_E_AUTH);
    segops_client_free(client);

    /* batch = false: the outcome is returned, nothing is reported. */
    client = new_client(srv, &(spec_t){.key = SK_WRONG, .sync = true});
    assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_E_AUTH);
    assert_no_secret_in(segops_last_error(), "segops_last_error");
    segops_client_free(client);

    /* A server that is gone, directly and through a proxy with credentials. */
    char url[128];
    snprintf(url, sizeof url, "%s", devsrv_url(srv));
    devsrv_stop(srv);
    client = new_client(NULL, &(spec_t){.key = SK, .url = url});
    send_n(client, 1);
    expect_last(SEGOPS_E_NETWORK);
    segops_client_free(client);
    client = new_client(
        NULL,
        &(spec_t){.key = SK, .url = url, .proxy = "http://segops:" PROXY_PASS "@127.0.0.1:1"});
    send_n(client, 1);
    expect_last(SEGOPS_E_NETWORK);
    segops_client_free(client);
    client = new_client(NULL, &(spec_t){.key = PK, .url = url});
    send_n(client, 1);
    expect_last(SEGOPS_E_HANDSHAKE);
    segops_client_free(client);
    sink_check(4);
}

static void test_tls_failure(void **state) {
    (void)state;
    require_or_skip(have_tls, "no openssl tool to make certificates", SKIP_INSTALLABLE);
    devsrv_config_t cfg = {.tls_cert_file = tls.server_cert, .tls_key_file = tls.server_key};
    devsrv_t *srv = start_secret_server(&cfg);
    segops_client_t *client = new_client(srv, &(spec_t){.key = SK});
    send_n(client, 1);
    expect_last(SEGOPS_E_TLS);
    segops_client_free(client);
    client = new_client(srv, &(spec_t){.key = PK});
    send_n(client, 1);
    expect_last(SEGOPS_E_TLS);
    segops_client_free(client);
    /* Over working TLS, a token is minted; a revoked one and a failed mint then. */
    client = new_client(srv, &(spec_t){.key = PK, .ca_file = tls.ca_file});
    assert_int_equal(send_n(client, 1).delivered, 1);
    remember_token(srv);
    devsrv_revoke_tokens(srv);
    devsrv_fail_mints(srv, 401, 1);
    send_n(client, 1);
    expect_last(SEGOPS_E_HANDSHAKE); /* a refused mint is a handshake failure */
    segops_client_free(client);
    sink_check(3);
    devsrv_stop(srv);
}

static void test_handshake_errors(void **state) {
    (void)state;
    devsrv_t *srv = start_secret_server(NULL);
    size_t first = token_count;
    segops_client_t *client = new_client(srv, &(spec_t){.key = PK});
    assert_int_equal(send_n(client, 1).delivered, 1);
    remember_token(srv);
    assert_int_equal(token_count, first + 1);

    /* Revoked: a 401, a fresh mint, delivered (logged at INFO). */
    devsrv_revoke_tokens(srv);
    assert_int_equal(send_n(client, 1).delivered, 2);
    remember_token(srv);
    /* Revoked and the re-mint refused. */
    devsrv_revoke_tokens(srv);
    devsrv_fail_mints(srv, 403, 1);
    send_n(client, 1);
    expect_last(SEGOPS_E_HANDSHAKE);
    /* Revoked and the mint failing with 500 until retries run out. */
    devsrv_fail_mints(srv, 500, 10);
    send_n(client, 1);
    expect_last(SEGOPS_E_HANDSHAKE);
    devsrv_fail_mints(srv, 500, 0);
    /* An answer carrying a token but an expires_at that is no time. */
    devsrv_set_expires_style(srv, DEVSRV_EXPIRES_GARBAGE);
    send_n(client, 1);
    expect_last(SEGOPS_E_HANDSHAKE);
    remember_token(srv);
    devsrv_set_expires_style(srv, DEVSRV_EXPIRES_MS_Z);
    /* And a batch 401 after the re-mint too: refused twice. */
    assert_int_equal(send_n(client, 1).delivered, 3);
    remember_token(srv);
    static const char echo[] = "{\"detail\":\"token refused\"}";
    script_status(srv, 401, NULL, echo);
    script_status(srv, 401, NULL, echo);
    send_n(client, 1);
    expect_last(SEGOPS_E_AUTH);
    remember_token(srv);
    segops_client_free(client);
    assert_true(token_count >= first + 4);

    /* An unknown pk_ key, a wrong signature, and batch = false. */
    client = new_client(srv, &(spec_t){.key = PK_UNKNOWN});
    send_n(client, 1);
    expect_last(SEGOPS_E_HANDSHAKE);
    segops_client_free(client);
    client = new_client(srv, &(spec_t){.key = PK, .sign_with = "00112233445566778899aabbccddeeff"});
    send_n(client, 1);
    expect_last(SEGOPS_E_HANDSHAKE);
    segops_client_free(client);
    client = new_client(srv, &(spec_t){.key = PK, .sync = true});
    devsrv_fail_mints(srv, 401, 1);
    assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_E_HANDSHAKE);
    assert_no_secret_in(segops_last_error(), "segops_last_error");
    assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    remember_token(srv);
    segops_client_free(client);

    /* The tokens were what they should be: the check above was not vacuous. */
    for (size_t i = 0; i < token_count; i++) assert_true(strlen(tokens[i]) >= 16);
    sink_check(6);
    devsrv_stop(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_batch_errors_sk, secrets_setup),
        cmocka_unit_test_setup(test_wrong_key_and_server_down, secrets_setup),
        cmocka_unit_test_setup(test_tls_failure, secrets_setup),
        cmocka_unit_test_setup(test_handshake_errors, secrets_setup),
    };
    return cmocka_run_group_tests(tests, secrets_group_setup, secrets_group_teardown);
}
