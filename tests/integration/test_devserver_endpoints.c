/* The dev server's /_dev endpoints, raw_json byte-exactness, NDJSON recording, waits and TLS. */
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

static void test_raw_json_is_byte_exact(void **state) {
    devsrv_t *srv = *state;
    /* Odd spacing, escapes, braces inside strings, a decoy "events" member
     * before the real one and an escaped key spelling of it. */
    const char *e0 = "{ \"user_id\" : \"u\\u00e9\\\"1\",\n\t\"event_type\":\"a}b]\","
                     "\"occurred_at\":\"2026-11-26T06:42:09.123Z\", \"payload\" : "
                     "{\"b\": [1, 2.50, {\"c\": \"}\\\\\"}], \"n\":null, \"t\":true} }";
    const char *e1 = "{\"payload\":{},\"anonymous_id\":\"an\\/1\",\"occurred_at\":"
                     "\"2026-11-26T06:42:09Z\",\"event_type\":\"x\",\"user_id\":\"\xc3\xa9\"}";
    char body[2048];
    snprintf(body, sizeof body,
             " {\"meta\": {\"events\": [{\"x\": 1}]}, \"note\": \"\\\"events\\\": [\",\n"
             "  \"ev\\u0065nts\" : [ %s ,\r\n %s\n, 17 ] , \"tail\": [] } ",
             e0, e1);
    raw_resp_t r;
    post_batch(srv, "ApiKey " SK, body, &r);
    post_batch(srv, "ApiKey " SK, body, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"queued\":2,\"skipped\":1}");
    assert_int_equal(devsrv_event_count(srv), 4);

    devsrv_event_t ev;
    assert_int_equal(devsrv_event_at(srv, 2, &ev), 0);
    assert_string_equal(ev.raw_json, e0);
    assert_string_equal(ev.user_id, "u\xc3\xa9\"1");
    assert_string_equal(ev.event_type, "a}b]");
    assert_string_equal(ev.payload_json, "{\"b\":[1,2.5,{\"c\":\"}\\\\\"}],\"n\":null,\"t\":true}");
    assert_int_equal(ev.request_no, 2);
    devsrv_event_free(&ev);

    assert_int_equal(devsrv_event_at(srv, 3, &ev), 0);
    assert_string_equal(ev.raw_json, e1);
    assert_string_equal(ev.anonymous_id, "an/1");
    assert_string_equal(ev.payload_json, "{}");
    devsrv_event_free(&ev);
}

static void test_dev_endpoints(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    post_batch(srv, "ApiKey " SK, one_event, &r);

    raw_request(devsrv_url(srv), "/_dev/script", NULL, "503:ra=1,delay=10", 5000, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"pending\":2}");
    raw_request(devsrv_url(srv), "/_dev/script", NULL, "bogus", 5000, &r);
    assert_int_equal(r.status, 400);
    assert_int_equal(devsrv_script_pending(srv), 2);

    raw_request(devsrv_url(srv), "/_dev/stats", NULL, NULL, 5000, &r);
    assert_int_equal(r.status, 200);
    cJSON *js = cJSON_Parse(r.body);
    assert_non_null(js);
    devsrv_stats_t st = server_stats(srv);
    char want[512];
    devsrv_stats_json(&st, want, sizeof want);
    assert_string_equal(r.body, want);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(js, "events_received")->valuedouble, 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(js, "batch_requests")->valuedouble, 1);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(js, "faults_applied"));
    cJSON_Delete(js);

    raw_request(devsrv_url(srv), "/nope", NULL, NULL, 5000, &r);
    assert_int_equal(r.status, 404);
    raw_request(devsrv_url(srv), BATCH, "ApiKey " SK, NULL, 5000, &r); /* GET */
    assert_int_equal(r.status, 405);
    raw_request(devsrv_url(srv), "/api/ingestion/track/batch", "ApiKey " SK, one_event, 5000, &r);
    assert_int_equal(r.status, 404); /* the path always ends in / */
    assert_int_equal(server_stats(srv).batch_requests, 1);
}

static void test_record_ndjson(void **state) {
    (void)state;
    char path[] = "/tmp/segops-devsrv-record-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    devsrv_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.record_path = path;
    devsrv_t *srv = start_with(&cfg);

    raw_resp_t r;
    cJSON *ans = mint(srv, PK, "{\"user_id\":\"rec-1\"}", &r);
    assert_non_null(ans);
    char auth[256];
    snprintf(auth, sizeof auth, "Bearer %s",
             cJSON_GetObjectItemCaseSensitive(ans, "token")->valuestring);
    cJSON_Delete(ans);
    post_batch(
        srv, auth,
        "{\"events\":[" EVENT("x", "a") ", " EVENT(
            "y",
            "schema_violation") ",\n"
                                "{\"user_id\":\"z\", "
                                "\"event_type\":\"b\",\"occurred_at\":\"2026-11-26T06:42:09Z\","
                                "\"payload\": {\"k\": [1, 2]}}]}",
        &r);
    assert_string_equal(r.body, "{\"queued\":2,\"skipped\":1}");

    /* Flushed per request: readable while the server runs. */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "{\"user_id\":\"rec-1\",\"event_type\":\"a\",\"occurred_at\":"
                              "\"2026-11-26T06:42:09.123Z\",\"payload\":{}}\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "{\"user_id\":\"rec-1\",\"event_type\":\"b\",\"occurred_at\":"
                              "\"2026-11-26T06:42:09Z\",\"payload\":{\"k\":[1,2]}}\n");
    assert_null(fgets(line, sizeof line, f));
    fclose(f);
    devsrv_stop(srv);
    unlink(path);
}

static void test_wait_events(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    int64_t t0 = now_ms();
    assert_int_equal(devsrv_wait_events(srv, 1, 100), 0);
    assert_true(now_ms() - t0 >= 90);

    assert_int_equal(devsrv_script_text(srv, "delay=200"), 0);
    bg_t bg = {.url = devsrv_url(srv)};
    assert_int_equal(pthread_create(&bg.thread, NULL, bg_post, &bg), 0);
    assert_int_equal(devsrv_wait_events(srv, 1, 5000), 1);
    pthread_join(bg.thread, NULL);
    assert_int_equal(bg.r.status, 200);
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(devsrv_wait_events(srv, 1, 0), 2);
}

/* HTTPS with a throwaway certificate from the openssl tool (skipped without it). */
static void test_tls(void **state) {
    (void)state;
    char dir[] = "/tmp/segops-devsrv-tls-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[1024], cert[128], key[128];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
             "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout %s -out %s "
             ">/dev/null 2>&1",
             key, cert);
    if (system(cmd) != 0) {
        rmdir(dir);
        SEGOPS_SKIP("the openssl tool cannot make a certificate", SKIP_INSTALLABLE);
    }
    devsrv_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.tls_cert_file = cert;
    cfg.tls_key_file = key;
    devsrv_t *srv = start_with(&cfg);
    assert_memory_equal(devsrv_url(srv), "https://127.0.0.1:", 18);

    raw_resp_t r;
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_CAINFO, cert);
    raw_request_on(h, devsrv_url(srv), BATCH, "ApiKey " SK, one_event, strlen(one_event), 10000,
                   &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    curl_easy_cleanup(h);

    /* Without trusting the certificate the handshake fails. */
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_not_equal(r.rc, CURLE_OK);
    devsrv_stop(srv);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_raw_json_is_byte_exact, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_dev_endpoints, server_setup, server_teardown),
        cmocka_unit_test(test_record_ndjson),
        cmocka_unit_test_setup_teardown(test_wait_events, server_setup, server_teardown),
        cmocka_unit_test(test_tls),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
