/* sk_ delivery of identify and track, bad input and bad options that change nothing, sync mode. */
#include "testutil.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "latency.h"

static void test_identify_and_track_event(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_client_t *client = quiet_client(srv, NULL, 1000, 3600000);
    assert_int_equal(
        segops_identify(client, "u-123", "{\"email\":\"alice@example.com\",\"plan\":\"pro\"}"),
        SEGOPS_OK);
    assert_int_equal(segops_identify(client, "u-124", NULL), SEGOPS_OK);
    segops_event_t ev = {0};
    ev.user_id = "u \"quoted\" \\ \xc3\xa9\xe2\x82\xac";
    ev.event_type = "page_viewed";
    ev.payload_json = " { \"path\" : \"/home\" } ";
    ev.occurred_at = "2026-11-26T07:42:09.5+01:00";
    ev.anonymous_id = "anon-1";
    assert_int_equal(segops_track_event(client, &ev), SEGOPS_OK);
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(devsrv_event_count(srv), 3);

    devsrv_event_t got;
    assert_int_equal(devsrv_event_at(srv, 0, &got), 0);
    assert_string_equal(got.event_type, "context_identified");
    assert_string_equal(got.user_id, "u-123");
    assert_string_equal(got.payload_json, "{\"email\":\"alice@example.com\",\"plan\":\"pro\"}");
    devsrv_event_free(&got);
    assert_int_equal(devsrv_event_at(srv, 1, &got), 0);
    assert_string_equal(got.payload_json, "{}");
    devsrv_event_free(&got);
    assert_int_equal(devsrv_event_at(srv, 2, &got), 0);
    /* Escaped once, offset converted to UTC milliseconds, payload kept verbatim. */
    assert_string_equal(
        got.raw_json, "{\"user_id\":\"u \\\"quoted\\\" \\\\ \xc3\xa9\xe2\x82\xac\","
                      "\"event_type\":\"page_viewed\",\"occurred_at\":\"2026-11-26T06:42:09.500Z\","
                      "\"anonymous_id\":\"anon-1\",\"payload\": { \"path\" : \"/home\" } }");
    assert_string_equal(got.user_id, "u \"quoted\" \\ \xc3\xa9\xe2\x82\xac");
    assert_string_equal(got.anonymous_id, "anon-1");
    devsrv_event_free(&got);
    segops_client_free(client);
    devsrv_stop(srv);
}

static void test_bad_input_changes_nothing(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(srv, TEST_SK, &rec);
    assert_int_equal(segops_options_set_max_event_bytes(opts, 1024), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);

    assert_int_equal(segops_track(NULL, "u", "e", NULL), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_track(client, NULL, "e", NULL), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_track(client, "u", NULL, NULL), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_track(client, "", "e", NULL), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_track(client, "u", "", NULL), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_track(client, "u\xff", "e", NULL), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_track(client, "u", "e\xc0\xaf", NULL), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_track_event(client, NULL), SEGOPS_E_INVALID_ARG);
    segops_event_t ev = {"u", "e", NULL, "yesterday", NULL};
    assert_int_equal(segops_track_event(client, &ev), SEGOPS_E_INVALID_ARG);
    ev.occurred_at = NULL;
    ev.anonymous_id = "";
    assert_int_equal(segops_track_event(client, &ev), SEGOPS_E_INVALID_ARG);
    const char *not_objects[] = {
        "[1,2]",      "\"text\"",        "null",        "42",         "",
        "{",          "{\"a\":1",        "{\"a\":1} x", "{\"a\":1}}", "{'a':1}",
        "{\"a\":01}", "{\"a\":\"\\x\"}", "{\"a\":tru}", "{\"a\" 1}",  "{\"a\":1,}"};
    for (size_t i = 0; i < sizeof not_objects / sizeof *not_objects; i++)
        assert_int_equal(segops_track(client, "u", "e", not_objects[i]), SEGOPS_E_INVALID_JSON);
    assert_int_equal(segops_identify(client, "u", "[]"), SEGOPS_E_INVALID_JSON);
    char big[2048];
    memset(big, 'x', sizeof big);
    memcpy(big, "{\"k\":\"", 6);
    memcpy(big + sizeof big - 3, "\"}", 3);
    assert_int_equal(segops_track(client, "u", "e", big), SEGOPS_E_TOO_LARGE);

    assert_int_equal(segops_flush(client, 5000), SEGOPS_OK);
    segops_stats_t st;
    segops_client_stats(client, &st);
    assert_int_equal(st.enqueued, 0);
    assert_int_equal(st.requests, 0);
    assert_int_equal(st.rejected_invalid_arg, 9);
    assert_int_equal(st.rejected_invalid_json, 16);
    assert_int_equal(st.rejected_too_large, 1);
    assert_conservation(client);
    segops_client_free(client);
    assert_int_equal(devsrv_event_count(srv), 0);
    assert_int_equal(rec.reports, 0);
    recorder_destroy(&rec);
    devsrv_stop(srv);
}

static void test_bad_options(void **state) {
    (void)state;
    segops_options_t *opts;
    segops_client_t *client = (segops_client_t *)&client;
    assert_int_equal(segops_options_new(NULL), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_options_new(&opts), SEGOPS_OK);
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_E_CONFIG); /* no URL, no key */
    assert_null(client);
    assert_int_equal(segops_client_new(NULL, &client), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_options_set_api_url(opts, "ftp://x"), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_options_set_api_url(opts, "https://"), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_options_set_api_url(opts, "https://a b"), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_options_set_api_url(opts, "https://u:p@host"), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_options_set_api_url(opts, "https://api.segops.ai/"), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_key(opts, "xk_123"), SEGOPS_E_CONFIG);
    assert_int_equal(segops_options_set_api_key(opts, "sk_"), SEGOPS_E_CONFIG);
    assert_int_equal(segops_options_set_api_key(opts, ""), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_options_set_batch_size(opts, 0), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_options_set_flush_interval_ms(opts, 0), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_options_set_overflow(opts, (segops_overflow_t)7), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_options_set_api_key(opts, "pk_abc"), SEGOPS_OK);
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_E_CONFIG); /* pk_ needs get_user */
    assert_int_equal(segops_options_set_api_key(opts, "sk_abc"), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_url(opts, "http://api.segops.ai"), SEGOPS_OK);
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_E_CONFIG); /* clear text off-box */
    assert_int_equal(segops_options_set_allow_insecure_http(opts, true), SEGOPS_OK);
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts); /* the client keeps its own copy */
    assert_int_equal(segops_shutdown(client, 0), SEGOPS_OK);
    segops_client_free(client);
    segops_client_free(NULL);
    segops_options_free(NULL);
    assert_string_equal(segops_version(), SEGOPS_VERSION_STRING);
    assert_non_null(segops_strerror((segops_err_t)999));
}

static void test_sync_mode_returns_outcome(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(srv, TEST_SK, &rec);
    assert_int_equal(segops_options_set_batch(opts, false), SEGOPS_OK);
    segops_client_t *good;
    assert_int_equal(segops_client_new(opts, &good), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_key(opts, "sk_wrong"), SEGOPS_OK);
    segops_client_t *bad;
    assert_int_equal(segops_client_new(opts, &bad), SEGOPS_OK);
    segops_options_free(opts);

    assert_int_equal(segops_track(good, "u", "sync_sent", "{\"n\":1}"), SEGOPS_OK);
    assert_int_equal(devsrv_event_count(srv), 1); /* delivered before track returned */
    assert_int_equal(segops_track(bad, "u", "sync_sent", "{\"n\":2}"), SEGOPS_E_AUTH);
    assert_int_equal(devsrv_event_count(srv), 1);
    segops_stats_t st;
    segops_client_stats(bad, &st);
    assert_int_equal(st.dropped_rejected, 1);
    assert_conservation(bad);
    segops_client_stats(good, &st);
    assert_int_equal(st.delivered, 1);
    assert_int_equal(rec.reports, 0); /* the caller got the outcome directly */
    segops_client_free(good);
    segops_client_free(bad);
    recorder_destroy(&rec);
    devsrv_stop(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identify_and_track_event),
        cmocka_unit_test(test_bad_input_changes_nothing),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_sync_mode_returns_outcome),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
