/* With batch = false, a track that was not delivered says why in
 * segops_last_error: the HTTP status and the server's own message (never a
 * credential it echoed), a transport failure's cause, and a refused pk_ mint as
 * SEGOPS_E_HANDSHAKE. Batch drop reports carry the server's message too. The
 * real library against the local server. */
#include "identity.h"

#include <string.h>

/* A batch = false sk_ client of f with one quick retry. */
static void start_sync(fixture_t *f) {
    fixture_start(f, NULL);
    segops_options_t *opts = make_options(f->srv, TEST_SK, &f->rec);
    assert_int_equal(segops_options_set_batch(opts, false), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_retries(opts, 1), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 5, 10), SEGOPS_OK);
    fixture_client(f, opts);
}

/* The reason is exactly `want`. */
static void expect_reason(const char *want) {
    if (strcmp(segops_last_error(), want) != 0)
        fail_msg("reason \"%s\", expected \"%s\"", segops_last_error(), want);
}

static void test_status_and_server_message(void **state) {
    (void)state;
    fixture_t f;
    start_sync(&f);
    assert_int_equal(
        devsrv_script_text(f.srv, "400:body={\"detail\":\"event_type must be snake_case\"}"), 0);
    assert_int_equal(segops_track(f.client, "u", "Order Placed", NULL), SEGOPS_E_HTTP);
    expect_reason("segops_track: not delivered: HTTP 400 from the batch endpoint: event_type "
                  "must be snake_case");

    /* A status that is retried: the last answer's words. */
    assert_int_equal(devsrv_script_text(f.srv, "503:body={\"message\":\"down for maintenance\"},"
                                               "503:body={\"message\":\"down for maintenance\"}"),
                     0);
    assert_int_equal(segops_track(f.client, "u", "e", NULL), SEGOPS_E_SERVER);
    expect_reason(
        "segops_track: not delivered: HTTP 503 from the batch endpoint: down for maintenance");

    /* A body that is not JSON (a proxy's text), over two lines: one line. */
    assert_int_equal(devsrv_script_text(f.srv, "413:body=request entity\ntoo large"), 0);
    assert_int_equal(segops_track(f.client, "u", "e", NULL), SEGOPS_E_TOO_LARGE);
    expect_reason("segops_track: not delivered: the server refused a single event as too large");

    /* The scripted default body, {"detail":"..."} of the dev server. */
    assert_int_equal(devsrv_script_text(f.srv, "404"), 0);
    assert_int_equal(segops_track(f.client, "u", "e", NULL), SEGOPS_E_HTTP);
    if (!strstr(segops_last_error(), "HTTP 404 from the batch endpoint"))
        fail_msg("reason \"%s\" does not name the status", segops_last_error());

    /* Delivered: the reason of the failure before stays. */
    assert_int_equal(segops_track(f.client, "u", "e", NULL), SEGOPS_OK);
    assert_true(strstr(segops_last_error(), "HTTP 404") != NULL);
    assert_int_equal(reports_of(&f.rec), 0); /* sync sends report through the return value */
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.delivered, 1);
    assert_int_equal(st.dropped, 4);
    fixture_finish(&f);
}

static void test_plain_text_body(void **state) {
    (void)state;
    fixture_t f;
    start_sync(&f);
    assert_int_equal(devsrv_script_text(f.srv, "400:body=bad\trequest: payload\nrejected"), 0);
    assert_int_equal(segops_track(f.client, "u", "e", NULL), SEGOPS_E_HTTP);
    expect_reason(
        "segops_track: not delivered: HTTP 400 from the batch endpoint: bad request: payload "
        "rejected");
    fixture_finish(&f);
}

/* A server that echoes credentials: the words that may be secrets are gone. */
static void test_echoed_credentials_are_redacted(void **state) {
    (void)state;
    fixture_t f;
    start_sync(&f);
    assert_int_equal(devsrv_script_text(f.srv,
                                        "401:body={\"detail\":\"key " TEST_SK
                                        " refused; Bearer abc.def; sig "
                                        "0123456789abcdef0123456789abcdef; other pk_live_x1\"}"),
                     0);
    assert_int_equal(segops_track(f.client, "u", "e", NULL), SEGOPS_E_AUTH);
    expect_reason("segops_track: not delivered: HTTP 401 from the batch endpoint: key [redacted] "
                  "refused; Bearer [redacted]; sig [redacted]; other [redacted]");
    fixture_finish(&f);
}

static void test_transport_failure_says_why(void **state) {
    (void)state;
    fixture_t f;
    start_sync(&f);
    assert_int_equal(devsrv_pause(f.srv), 0); /* connections refused */
    assert_int_equal(segops_track(f.client, "u", "e", NULL), SEGOPS_E_NETWORK);
    const char *why = segops_last_error();
    if (strncmp(why, "segops_track: not delivered: ", 29) != 0 || strlen(why) <= 29)
        fail_msg("no cause in \"%s\"", why);
    assert_int_equal(devsrv_resume(f.srv), 0);
    fixture_finish(&f);
}

/* A refused pk_ mint: SEGOPS_E_HANDSHAKE, with the status, in sync mode. */
static void test_refused_mint_is_handshake(void **state) {
    (void)state;
    identity_t id;
    identity_init(&id, "uid-sync");
    fixture_t f;
    pk_fixture_start(&f, &id, NULL, &(pk_setup_t){.sync = true});
    devsrv_fail_mints(f.srv, 401, 1);
    assert_int_equal(segops_track(f.client, "u", "e", NULL), SEGOPS_E_HANDSHAKE);
    const char *why = segops_last_error();
    if (!strstr(why, "segops_track: not delivered: session handshake: HTTP 401, the server "
                     "refused the key or identity"))
        fail_msg("reason \"%s\"", why);
    assert_int_equal(server_stats(f.srv).mint_requests, 1); /* final: not retried */
    assert_int_equal(segops_track(f.client, "u", "e", NULL), SEGOPS_OK);
    fixture_finish(&f);
}

/* Batch mode: the drop report carries the server's message. */
static void test_batch_report_carries_server_message(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_faulty(&f, 100);
    track_n(f.client, "u", 0, 3);
    assert_int_equal(devsrv_script_text(f.srv, "400:body={\"detail\":\"payload.i is invalid\"}"),
                     0);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_int_equal(reports_of(&f.rec), 1);
    assert_report(&f.rec, 0, SEGOPS_E_HTTP, 400, 3, SEGOPS_DROP_REJECTED);
    assert_string_equal(f.rec.messages[0],
                        "HTTP 400 from the batch endpoint: payload.i is invalid");
    fixture_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_server_message),
        cmocka_unit_test(test_plain_text_body),
        cmocka_unit_test(test_echoed_credentials_are_redacted),
        cmocka_unit_test(test_transport_failure_says_why),
        cmocka_unit_test(test_refused_mint_is_handshake),
        cmocka_unit_test(test_batch_report_carries_server_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
