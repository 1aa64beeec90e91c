/* The dev server's batch endpoint: loopback binding, sk_ auth, bad bodies, size limit, skipped
 * events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <segops/segops.h>

#include "devserver.h"
#include "testutil.h"

#include "cJSON.h"
#include "rawhttp.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "devserver_raw.h"

static void test_start_binds_loopback_ephemeral(void **state) {
    devsrv_t *srv = *state;
    char want[64];
    assert_true(devsrv_port(srv) != 0);
    snprintf(want, sizeof want, "http://127.0.0.1:%u", (unsigned)devsrv_port(srv));
    assert_string_equal(devsrv_url(srv), want);

    /* A second server gets its own port. */
    devsrv_t *other = start_with(NULL);
    assert_int_not_equal(devsrv_port(other), devsrv_port(srv));
    devsrv_stop(other);
    devsrv_stop(NULL);
}

static void test_sk_auth(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    CURL *h = curl_easy_init();

    raw_request_on(h, devsrv_url(srv), BATCH, "ApiKey " SK, one_event, strlen(one_event), 5000, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"queued\":1,\"skipped\":0}");
    assert_int_equal(r.connects, 1);

    /* Keep-alive: the second request reuses the connection. */
    raw_request_on(h, devsrv_url(srv), BATCH, "ApiKey " SK2, one_event, strlen(one_event), 5000,
                   &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.connects, 0);
    curl_easy_cleanup(h);

    devsrv_last_headers_t lh;
    devsrv_get_last_headers(srv, &lh);
    assert_string_equal(lh.authorization, "ApiKey " SK2);
    assert_string_equal(lh.content_type, "application/json");

    post_batch(srv, "ApiKey sk_devtest_wrong", one_event, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "\"detail\""));
    post_batch(srv, NULL, one_event, &r);
    assert_int_equal(r.status, 401);
    post_batch(srv, "ApiKey " PK, one_event, &r); /* a pk_ key cannot send events */
    assert_int_equal(r.status, 401);
    post_batch(srv, "Bearer not-a-token", one_event, &r);
    assert_int_equal(r.status, 401);

    devsrv_stats_t st = server_stats(srv);
    assert_int_equal(st.batch_requests, 6);
    assert_int_equal(st.batch_accepted, 2);
    assert_int_equal(st.events_received, 2);
    assert_int_equal(st.auth_failures, 4);
    assert_int_equal(devsrv_event_count(srv), 2);
}

static void test_bad_bodies_get_400(void **state) {
    devsrv_t *srv = *state;
    static const char *const bad[] = {
        "not json",       "", "[]", "{\"events\":{}}", "{\"evts\":[]}", "{\"events\":[]} trailing",
        "{\"events\":[}",
    };
    raw_resp_t r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        post_batch(srv, "ApiKey " SK, bad[i], &r);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr(r.body, "\"detail\""));
    }

    char *body = batch_of(501);
    post_batch(srv, "ApiKey " SK, body, &r);
    free(body);
    assert_int_equal(r.status, 400);

    body = batch_of(500);
    post_batch(srv, "ApiKey " SK, body, &r);
    free(body);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"queued\":500,\"skipped\":0}");

    post_batch(srv, "ApiKey " SK, "{\"events\":[]}", &r);
    assert_string_equal(r.body, "{\"queued\":0,\"skipped\":0}");

    devsrv_stats_t st = server_stats(srv);
    assert_int_equal(st.events_received, 500);
    assert_int_equal(st.max_events_per_request, 500);
    assert_int_equal(st.batch_accepted, 2);
}

static void test_too_large_gets_413(void **state) {
    devsrv_t *srv = *state;
    size_t n = MAX_BODY + 100;
    char *body = malloc(n + 1);
    memset(body, ' ', n);
    memcpy(body, "{\"events\":[]", 12);
    body[n - 1] = '}';
    body[n] = '\0';
    raw_resp_t r;
    post_batch(srv, "ApiKey " SK, body, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 413);

    /* Exactly at the limit is fine. */
    body[MAX_BODY - 1] = '}';
    body[MAX_BODY] = '\0';
    post_batch(srv, "ApiKey " SK, body, &r);
    assert_int_equal(r.status, 200);
    free(body);

    devsrv_stats_t st = server_stats(srv);
    assert_int_equal(st.batch_requests, 2);
    assert_int_equal(st.bytes_received, (uint64_t)n + MAX_BODY);
}

static void test_invalid_events_are_skipped(void **state) {
    devsrv_t *srv = *state;
    const char *body = "{\"events\":[" EVENT(
        "u-ok",
        "order_placed") ","
                        "{\"event_type\":\"e\",\"occurred_at\":\"2026-11-26T06:42:09Z\","
                        "\"payload\":{}},"
                        "{\"user_id\":\"\",\"event_type\":\"e\",\"occurred_at\":\"2026-11-26T06:42:"
                        "09Z\",\"payload\":{}},"
                        "{\"user_id\":\"u\",\"event_type\":\"\",\"occurred_at\":\"2026-11-26T06:42:"
                        "09Z\",\"payload\":{}},"
                        "{\"user_id\":\"u\",\"event_type\":\"e\",\"occurred_at\":\"yesterday\","
                        "\"payload\":{}},"
                        "{\"user_id\":\"u\",\"event_type\":\"e\",\"occurred_at\":\"2026-11-26T06:"
                        "42:09\",\"payload\":{}},"
                        "{\"user_id\":\"u\",\"event_type\":\"e\",\"occurred_at\":\"2026-02-30T06:"
                        "42:09Z\",\"payload\":{}},"
                        "{\"user_id\":\"u\",\"event_type\":\"e\",\"occurred_at\":\"2026-11-26T06:"
                        "42:09Z\",\"payload\":[]},"
                        "{\"user_id\":\"u\",\"event_type\":\"e\",\"occurred_at\":\"2026-11-26T06:"
                        "42:09Z\"},"
                        "{\"user_id\":7,\"event_type\":\"e\",\"occurred_at\":\"2026-11-26T06:42:"
                        "09Z\",\"payload\":{}},"
                        "{\"user_id\":\"u\",\"event_type\":\"e\",\"occurred_at\":\"2026-11-26T06:"
                        "42:09Z\",\"payload\":{},\"anonymous_id\":5},"
                        "\"not an object\"," EVENT(
                            "u-x",
                            "schema_violation") ","
                                                "{\"user_id\":\"u-off\",\"event_type\":\"e\","
                                                "\"occurred_at\":\"2026-11-26T08:42:09.5+02:00\","
                                                "\"payload\":{\"k\":1},\"anonymous_id\":\"anon-1\"}"
                                                "]}";
    raw_resp_t r;
    post_batch(srv, "ApiKey " SK, body, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"queued\":2,\"skipped\":12}");

    devsrv_stats_t st = server_stats(srv);
    assert_int_equal(st.events_received, 2);
    assert_int_equal(st.events_skipped, 12);
    assert_int_equal(st.max_events_per_request, 14);
    assert_int_equal(devsrv_event_count(srv), 2);

    devsrv_event_t ev;
    assert_int_equal(devsrv_event_at(srv, 1, &ev), 0);
    assert_string_equal(ev.user_id, "u-off");
    assert_string_equal(ev.occurred_at, "2026-11-26T08:42:09.5+02:00");
    assert_string_equal(ev.anonymous_id, "anon-1");
    assert_string_equal(ev.payload_json, "{\"k\":1}");
    devsrv_event_free(&ev);
    assert_int_equal(devsrv_event_at(srv, 0, &ev), 0);
    assert_null(ev.anonymous_id);
    devsrv_event_free(&ev);
    assert_int_equal(devsrv_event_at(srv, 2, &ev), -1);
}

static void test_start_rejects_bad_config(void **state) {
    (void)state;
    devsrv_t *srv = (devsrv_t *)1;
    devsrv_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.tls_cert_file = "/nonexistent/cert.pem";
    assert_int_equal(devsrv_start(&cfg, &srv), -1); /* cert without key */
    assert_null(srv);
    cfg.tls_key_file = "/nonexistent/key.pem";
    assert_int_equal(devsrv_start(&cfg, &srv), -1);
    memset(&cfg, 0, sizeof cfg);
    cfg.record_path = "/nonexistent/dir/record.ndjson";
    assert_int_equal(devsrv_start(&cfg, &srv), -1);

    /* A port already taken is an error, not a silent rebind. */
    devsrv_t *a = start_with(NULL);
    memset(&cfg, 0, sizeof cfg);
    cfg.port = devsrv_port(a);
    assert_int_equal(devsrv_start(&cfg, &srv), -1);
    devsrv_stop(a);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_binds_loopback_ephemeral, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_sk_auth, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_bad_bodies_get_400, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_too_large_gets_413, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_events_are_skipped, server_setup,
                                        server_teardown),
        cmocka_unit_test(test_start_rejects_bad_config),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
