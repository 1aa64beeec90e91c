/* segops track end to end: delivery, flags over the environment, auth, network and input errors. */
#define _POSIX_C_SOURCE 200809L

#include "cli_run.h"
#include "skip.h"
#include "tlsutil.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SEGOPS_CLI_PATH
#error "SEGOPS_CLI_PATH must name the built segops binary (see tests/CMakeLists.txt)"
#endif
const char *const cli_binary = SEGOPS_CLI_PATH;

#include "cli_run.h"

/* Already in cJSON's compact form, so the server's re-serialisation is byte-equal. */
#define TRACK_PAYLOAD                                                                              \
    "{\"sku\":\"A-1\",\"qty\":2,\"price\":9.5,\"tags\":[\"x\",\"y\"],\"note\":\"caf\xc3\xa9\","    \
    "\"nested\":{\"ok\":true,\"none\":null}}"

static void test_track_delivers_one_event(void **state) {
    cli_fixture_t *f = *state;
    run_t r;
    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, NULL, "track", "--user", "us\xc3\xa9r-1",
            "--event", "order_placed", "--payload", TRACK_PAYLOAD, "--occurred-at",
            "2026-01-02T03:04:05.678Z", "--anonymous-id", "anon-7", NULL);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "");
    run_free(&r);

    assert_int_equal(devsrv_event_count(f->srv), 1);
    assert_event(f->srv, 0, "us\xc3\xa9r-1", "order_placed", TRACK_PAYLOAD, "anon-7");
    devsrv_event_t ev;
    memset(&ev, 0, sizeof ev);
    assert_int_equal(devsrv_event_at(f->srv, 0, &ev), 0);
    assert_string_equal(ev.occurred_at, "2026-01-02T03:04:05.678Z");
    devsrv_event_free(&ev);
    devsrv_last_headers_t h;
    devsrv_get_last_headers(f->srv, &h);
    assert_contains(h.user_agent, "segops-cli/" SEGOPS_VERSION_STRING);
}

static void test_track_url_flag_overrides_env(void **state) {
    cli_fixture_t *f = *state;
    run_t r;
    /* The environment points nowhere useful; --url wins. */
    run_cli(&r, "http://127.0.0.1:1", SK_KEY, NULL, NULL, "track", "-u", "u1", "-e", "page_viewed",
            "--url", devsrv_url(f->srv), NULL);
    assert_int_equal(r.exit_code, 0);
    run_free(&r);
    assert_int_equal(devsrv_event_count(f->srv), 1);
    assert_event(f->srv, 0, "u1", "page_viewed", "{}", NULL);
}

static void test_track_wrong_key_is_auth(void **state) {
    cli_fixture_t *f = *state;
    run_t r;
    run_cli(&r, devsrv_url(f->srv), WRONG_KEY, NULL, NULL, "track", "--user", "u1", "--event",
            "order_placed", NULL);
    assert_int_equal(r.exit_code, 5);
    assert_string_equal(r.out, "");
    assert_messages_well_formed(r.err);
    run_free(&r);
    assert_int_equal(devsrv_event_count(f->srv), 0);
}

static void test_track_server_down_is_network(void **state) {
    (void)state;
    char url[128];
    dead_server_url(url, sizeof url);

    run_t r;
    run_cli(&r, url, SK_KEY, NULL, NULL, "track", "--user", "u1", "--event", "order_placed",
            "--retries", "1", "--timeout-ms", "3000", NULL);
    assert_int_equal(r.exit_code, 4);
    assert_messages_well_formed(r.err);
    run_free(&r);
}

static void test_track_bad_values_are_input(void **state) {
    cli_fixture_t *f = *state;
    run_t r;
    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, NULL, "track", "--user", "u1", "--event", "e",
            "--payload", "[1,2]", NULL);
    assert_int_equal(r.exit_code, 3);
    assert_messages_well_formed(r.err);
    assert_contains(r.err, "--payload");
    run_free(&r);

    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, NULL, "track", "--user", "u1", "--event", "e",
            "--payload", "{\"a\":", NULL);
    assert_int_equal(r.exit_code, 3);
    run_free(&r);

    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, NULL, "track", "--user", "u1", "--event", "e",
            "--occurred-at", "yesterday", NULL);
    assert_int_equal(r.exit_code, 3);
    run_free(&r);

    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, NULL, "track", "--user", "u1", "--event", "e",
            "--timeout-ms", "-5", NULL);
    assert_int_equal(r.exit_code, 3);
    assert_messages_well_formed(r.err);
    run_free(&r);

    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, NULL, "track", "--user", "u1", "--event", "e",
            "--ca-file", "/nonexistent/ca.pem", NULL);
    assert_int_equal(r.exit_code, 3);
    assert_messages_well_formed(r.err);
    assert_contains(r.err, "track: cannot read --ca-file '/nonexistent/ca.pem': ");
    run_free(&r);

    /* A key of neither kind is a bad setting, and is not echoed. */
    run_cli(&r, devsrv_url(f->srv), "xk_not_a_key_777", NULL, NULL, "track", "--user", "u1",
            "--event", "e", NULL);
    assert_int_equal(r.exit_code, 3);
    assert_no_secret(r.err, "xk_not_a_key_777");
    run_free(&r);

    assert_int_equal(devsrv_event_count(f->srv), 0);
}

static void test_track_pk_key_with_signed_identity(void **state) {
    cli_fixture_t *f = *state;
    segops_signed_user_t su;
    assert_int_equal(segops_sign_user_id(HMAC_SECRET, "pk-user", 0, &su), SEGOPS_OK);
    char sig_env[128], ts_env[64];
    snprintf(sig_env, sizeof sig_env, "SEGOPS_USER_SIG=%s", su.user_id_sig);
    snprintf(ts_env, sizeof ts_env, "SEGOPS_USER_TS=%" PRId64, su.user_id_ts);
    const char *extra[] = {"SEGOPS_USER_ID=pk-user", sig_env, ts_env, NULL};

    run_t r;
    run_cli(&r, devsrv_url(f->srv), PK_KEY, extra, NULL, "track", "--user", "pk-user", "--event",
            "page_viewed", "--payload", "{\"path\":\"/home\"}", NULL);
    assert_int_equal(r.exit_code, 0);
    char token[1024];
    size_t token_len = devsrv_last_token(f->srv, token, sizeof token);
    assert_true(token_len > 0);
    assert_no_secret(r.out, token);
    assert_no_secret(r.err, token);
    run_free(&r);
    assert_int_equal(devsrv_event_count(f->srv), 1);
    assert_event(f->srv, 0, "pk-user", "page_viewed", "{\"path\":\"/home\"}", NULL);

    /* A signature for someone else: the mint is refused, an auth failure. */
    const char *forged[] = {"SEGOPS_USER_ID=other-user", sig_env, ts_env, NULL};
    run_cli(&r, devsrv_url(f->srv), PK_KEY, forged, NULL, "track", "--user", "other-user",
            "--event", "page_viewed", "--retries", "0", "--timeout-ms", "5000", NULL);
    assert_int_equal(r.exit_code, 5);
    assert_messages_well_formed(r.err);
    run_free(&r);
    assert_int_equal(devsrv_event_count(f->srv), 1);
}

int main(void) {
    /* A child that dies early must not kill the test through a broken pipe. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_track_delivers_one_event, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_track_url_flag_overrides_env, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_track_wrong_key_is_auth, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_track_server_down_is_network, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_track_bad_values_are_input, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_track_pk_key_with_signed_identity, cli_setup,
                                        cli_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
