/*
 * The local SegOps server itself, driven by raw libcurl requests over real
 * sockets on 127.0.0.1: auth, validation, size limits, skipped events, the pk_
 * handshake and Bearer rewrite, every scripted fault, pause/resume, the /_dev
 * endpoints, NDJSON recording and raw_json byte-exactness. Other tests trust
 * this server, so it gets tested on its own. Helper threads only record facts;
 * assertions happen on the main thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

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

#define SK "sk_devtest_5d1c0e9f"
#define SK2 "sk_devtest_second"
#define PK "pk_devtest_open"
#define PK_SIGNED "pk_devtest_signed"
#define PK_SECRET_ONLY "pk_devtest_secret"
#define SECRET "00112233445566778899aabbccddeeff0123456789abcdef0123456789abcdef"
#define BATCH "/api/ingestion/track/batch/"
#define SESSION "/api/auth/session/"
#define EVENT(uid, type)                                                                           \
    "{\"user_id\":\"" uid "\",\"event_type\":\"" type                                              \
    "\",\"occurred_at\":\"2026-11-26T06:42:09.123Z\",\"payload\":{}}"
#define MAX_BODY (256 * 1024)

static const char *const sk_keys[] = {SK, SK2};
static const devsrv_pk_key_t pk_keys[] = {
    {PK, NULL, false}, {PK_SIGNED, SECRET, true}, {PK_SECRET_ONLY, SECRET, false}};

/* ------------------------------------------------------------------ helpers */

static void post_batch(devsrv_t *srv, const char *auth, const char *body, raw_resp_t *r) {
    raw_request(devsrv_url(srv), BATCH, auth, body, 10000, r);
}

/* {"events":[...n valid events...]} */
static char *batch_of(int n) {
    size_t cap = (size_t)n * 128 + 32;
    char *s = malloc(cap);
    size_t len = (size_t)snprintf(s, cap, "{\"events\":[");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s" EVENT("u-%d", "page_viewed"), i ? "," : "",
                                i);
    snprintf(s + len, cap - len, "]}");
    return s;
}

static const char *one_event = "{\"events\":[" EVENT("u-1", "order_placed") "]}";

static devsrv_t *start_with(const devsrv_config_t *extra) {
    devsrv_config_t cfg;
    if (extra)
        cfg = *extra;
    else
        memset(&cfg, 0, sizeof cfg);
    cfg.port = 0;
    cfg.sk_keys = sk_keys;
    cfg.sk_key_count = 2;
    cfg.pk_keys = pk_keys;
    cfg.pk_key_count = 3;
    cfg.keep_events = true;
    if (!cfg.max_body_bytes) cfg.max_body_bytes = MAX_BODY;
    if (!cfg.skip_event_type) cfg.skip_event_type = "schema_violation";
    devsrv_t *srv = NULL;
    assert_int_equal(devsrv_start(&cfg, &srv), 0);
    assert_non_null(srv);
    return srv;
}

static int setup(void **state) {
    *state = start_with(NULL);
    return 0;
}

static int teardown(void **state) {
    devsrv_stop(*state);
    return 0;
}

/* Mints with pk and body; returns the parsed answer (caller deletes) or NULL. */
static cJSON *mint(devsrv_t *srv, const char *pk, const char *body, raw_resp_t *r) {
    char auth[128];
    snprintf(auth, sizeof auth, "ApiKey %s", pk);
    raw_request(devsrv_url(srv), SESSION, auth, body, 10000, r);
    return r->status == 200 ? cJSON_Parse(r->body) : NULL;
}

/* ------------------------------------------------------------------- tests */

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

static void test_mint_and_bearer_rewrite(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    const char *mint_body = "{\"user_id\":\"u-42\",\"anonymous_id\":\"a-9\"}";
    cJSON *ans = mint(srv, PK, mint_body, &r);
    assert_non_null(ans);
    const char *token = cJSON_GetObjectItemCaseSensitive(ans, "token")->valuestring;
    const char *expires = cJSON_GetObjectItemCaseSensitive(ans, "expires_at")->valuestring;
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ans, "uid")->valuestring, "u-42");
    assert_true(strlen(token) >= 32);
    /* RFC 3339 UTC with milliseconds: 2026-11-26T06:42:09.123Z */
    assert_int_equal(strlen(expires), 24);
    assert_int_equal(expires[19], '.');
    assert_int_equal(expires[23], 'Z');

    char buf[512];
    assert_int_equal(devsrv_last_token(srv, buf, sizeof buf), strlen(token));
    assert_string_equal(buf, token);
    assert_int_equal(devsrv_last_mint_body(srv, buf, sizeof buf), strlen(mint_body));
    assert_string_equal(buf, mint_body);

    char auth[256];
    snprintf(auth, sizeof auth, "Bearer %s", token);
    const char *body = "{\"events\":[" EVENT("spoofed", "order_placed") "]}";
    post_batch(srv, auth, body, &r);
    assert_int_equal(r.status, 200);
    devsrv_event_t ev;
    assert_int_equal(devsrv_event_at(srv, 0, &ev), 0);
    assert_string_equal(ev.user_id, "u-42");
    assert_non_null(strstr(ev.raw_json, "spoofed")); /* raw stays as sent */
    devsrv_event_free(&ev);

    /* Revoked tokens get 401, both ways of revoking. */
    devsrv_revoke_tokens(srv);
    post_batch(srv, auth, body, &r);
    assert_int_equal(r.status, 401);
    cJSON_Delete(ans);

    ans = mint(srv, PK, "{\"anonymous_id\":\"a-1\"}", &r);
    assert_non_null(ans);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ans, "uid")->valuestring, "anon:a-1");
    snprintf(auth, sizeof auth, "Bearer %s",
             cJSON_GetObjectItemCaseSensitive(ans, "token")->valuestring);
    post_batch(srv, auth, body, &r);
    assert_int_equal(r.status, 200);
    raw_request(devsrv_url(srv), "/_dev/revoke", NULL, "", 5000, &r);
    assert_int_equal(r.status, 200);
    post_batch(srv, auth, body, &r);
    assert_int_equal(r.status, 401);
    cJSON_Delete(ans);

    ans = mint(srv, PK, "{}", &r);
    assert_non_null(ans);
    assert_memory_equal(cJSON_GetObjectItemCaseSensitive(ans, "uid")->valuestring, "anon:", 5);
    cJSON_Delete(ans);

    devsrv_stats_t st = server_stats(srv);
    assert_int_equal(st.mints, 3);
    assert_int_equal(st.mint_requests, 3);
    assert_int_equal(st.auth_failures, 2);
}

static void test_mint_rejections(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    assert_null(mint(srv, "pk_unknown", "{}", &r));
    assert_int_equal(r.status, 401);
    assert_null(mint(srv, SK, "{}", &r)); /* the handshake takes pk_ keys only */
    assert_int_equal(r.status, 401);

    static const char *const bad[] = {
        "[]",
        "nope",
        "{\"user_id\":5}",
        "{\"user_id\":\"\"}",
        "{\"user_id\":\"u\",\"user_id_sig\":\"ABC\",\"user_id_ts\":1}",
        "{\"user_id\":\"u\",\"user_id_sig\":"
        "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
        "\"user_id_ts\":\"1764139329\"}",
        "{\"user_id\":\"u\",\"user_id_sig\":"
        "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
        "\"user_id_ts\":1764139329.5}",
        "{\"user_id\":\"u\",\"user_id_sig\":"
        "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
        "\"user_id_ts\":1.7e9}",
        "{\"user_id\":\"u\",\"user_id_sig\":"
        "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(mint(srv, PK_SECRET_ONLY, bad[i], &r));
        assert_int_equal(r.status, 400);
    }
    assert_int_equal(server_stats(srv).mints, 0);
}

static void test_signed_mint(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    char body[512];
    segops_signed_user_t su;

    assert_null(mint(srv, PK_SIGNED, "{\"user_id\":\"u-7\"}", &r));
    assert_int_equal(r.status, 401);

    assert_int_equal(segops_sign_user_id(SECRET, "u-7", 0, &su), SEGOPS_OK);
    snprintf(body, sizeof body, "{\"user_id\":\"u-7\",\"user_id_sig\":\"%s\",\"user_id_ts\":%lld}",
             su.user_id_sig, (long long)su.user_id_ts);
    cJSON *ans = mint(srv, PK_SIGNED, body, &r);
    assert_non_null(ans);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ans, "uid")->valuestring, "u-7");
    cJSON_Delete(ans);

    /* Signed for someone else. */
    snprintf(body, sizeof body, "{\"user_id\":\"u-8\",\"user_id_sig\":\"%s\",\"user_id_ts\":%lld}",
             su.user_id_sig, (long long)su.user_id_ts);
    assert_null(mint(srv, PK_SIGNED, body, &r));
    assert_int_equal(r.status, 401);
    assert_null(mint(srv, PK_SECRET_ONLY, body, &r)); /* a bad signature is never ignored */
    assert_int_equal(r.status, 401);

    /* Stale: outside the 5-minute window. */
    assert_int_equal(segops_sign_user_id(SECRET, "u-7", (int64_t)time(NULL) - 1000, &su),
                     SEGOPS_OK);
    snprintf(body, sizeof body, "{\"user_id\":\"u-7\",\"user_id_sig\":\"%s\",\"user_id_ts\":%lld}",
             su.user_id_sig, (long long)su.user_id_ts);
    assert_null(mint(srv, PK_SIGNED, body, &r));
    assert_int_equal(r.status, 401);

    /* Unsigned mints are fine where signatures are optional. */
    ans = mint(srv, PK_SECRET_ONLY, "{\"user_id\":\"u-7\"}", &r);
    assert_non_null(ans);
    cJSON_Delete(ans);
    assert_int_equal(server_stats(srv).auth_failures, 4);
}

static void test_token_expiry(void **state) {
    (void)state;
    devsrv_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.token_lifetime_s = 1;
    devsrv_t *srv = start_with(&cfg);
    raw_resp_t r;
    cJSON *ans = mint(srv, PK, "{\"user_id\":\"u\"}", &r);
    assert_non_null(ans);
    char auth[256];
    snprintf(auth, sizeof auth, "Bearer %s",
             cJSON_GetObjectItemCaseSensitive(ans, "token")->valuestring);
    cJSON_Delete(ans);
    post_batch(srv, auth, one_event, &r);
    assert_int_equal(r.status, 200);
    sleep_ms(1100);
    post_batch(srv, auth, one_event, &r);
    assert_int_equal(r.status, 401);
    devsrv_stop(srv);
}

static void test_fault_statuses(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    assert_int_equal(devsrv_script_text(srv, "503:ra=7, 429:ra=\"Wed, 21 Oct 2015 07:28:00 GMT\":"
                                             "body={\"detail\":\"slow, down: now\"},500"),
                     0);
    devsrv_fault_t f = {.kind = DEVSRV_STATUS, .status = 413};
    devsrv_script(srv, &f, 1);
    assert_int_equal(devsrv_script_pending(srv), 4);

    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.retry_after, "7");
    assert_non_null(strstr(r.body, "\"detail\""));
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.retry_after, "Wed, 21 Oct 2015 07:28:00 GMT");
    assert_string_equal(r.body, "{\"detail\":\"slow, down: now\"}");
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.retry_after, "");
    post_batch(srv, "ApiKey sk_wrong", one_event, &r); /* faults come before auth */
    assert_int_equal(r.status, 413);
    assert_int_equal(devsrv_script_pending(srv), 0);
    assert_int_equal(server_stats(srv).events_received, 0);

    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 200);
    devsrv_stats_t st = server_stats(srv);
    assert_int_equal(st.faults_applied, 4);
    assert_int_equal(st.batch_requests, 5);
    assert_int_equal(st.batch_accepted, 1);
    assert_int_equal(st.events_received, 1);

    /* Malformed scripts append nothing. */
    static const char *const bad[] = {"abc",      "503:xx=1",  "99",       "5030",
                                      "503,,500", "delay=",    "delay=-1", "500:body={",
                                      "503:ra=",  "noanswer2", "close mid"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(devsrv_script_text(srv, bad[i]), -1);
    assert_int_equal(devsrv_script_text(srv, ""), 0);
    assert_int_equal(devsrv_script_pending(srv), 0);
}

static void test_fault_delay_and_answer_delay(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    assert_int_equal(devsrv_script_text(srv, "delay=300"), 0);
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.elapsed_ms >= 290);
    assert_int_equal(server_stats(srv).events_received, 1);

    /* A delay of 1 s, then none: the undelayed request takes well under half
     * of the delayed one (compared in one run, so a slow machine slows both). */
    devsrv_set_answer_delay(srv, 1000);
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.elapsed_ms >= 990);
    int64_t delayed = r.elapsed_ms;
    devsrv_set_answer_delay(srv, 0);
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 200);
    if (r.elapsed_ms * 2 >= delayed)
        fail_msg("with the delay set back to 0 a request took %lld ms, with 1 s %lld ms",
                 (long long)r.elapsed_ms, (long long)delayed);
}

static void test_fault_close_before_and_mid(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    assert_int_equal(devsrv_script_text(srv, "close,closemid"), 0);

    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.rc, CURLE_GOT_NOTHING);
    assert_int_equal(server_stats(srv).events_received, 0);

    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.rc, CURLE_PARTIAL_FILE);
    assert_int_equal(r.status, 200);
    assert_true(r.len > 0 && r.len < strlen("{\"queued\":1,\"skipped\":0}"));
    assert_int_equal(server_stats(srv).events_received, 1); /* recorded before the cut */

    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(devsrv_wait_events(srv, 2, 1000), 2);
}

static void test_noanswer_client_timeout(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    assert_int_equal(devsrv_script_text(srv, "noanswer"), 0);
    raw_request(devsrv_url(srv), BATCH, "ApiKey " SK, one_event, 300, &r);
    assert_int_equal(r.rc, CURLE_OPERATION_TIMEDOUT);
    assert_int_equal(server_stats(srv).events_received, 0);
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 200);
}

/* A request sent from a helper thread; it only records what happened. */
typedef struct bg {
    pthread_t thread;
    const char *url;
    raw_resp_t r;
} bg_t;

static void *bg_post(void *arg) {
    bg_t *bg = arg;
    raw_request(bg->url, BATCH, "ApiKey " SK, one_event, 20000, &bg->r);
    return NULL;
}

/* Waits until the server has seen n batch requests (the helper's arrived). */
static bool wait_batch_requests(devsrv_t *srv, uint64_t n) {
    for (int i = 0; i < 500; i++) {
        if (server_stats(srv).batch_requests >= n) return true;
        sleep_ms(10);
    }
    return false;
}

static void test_noanswer_does_not_hang_stop(void **state) {
    (void)state;
    devsrv_t *srv = start_with(NULL);
    assert_int_equal(devsrv_script_text(srv, "noanswer"), 0);
    bg_t bg = {.url = devsrv_url(srv)};
    assert_int_equal(pthread_create(&bg.thread, NULL, bg_post, &bg), 0);
    assert_true(wait_batch_requests(srv, 1));

    /* Stopping cuts the held request: the client sees it end, not time out
     * (after its 20 s), which is what a stop waiting for it would give. */
    devsrv_stop(srv);
    pthread_join(bg.thread, NULL);
    assert_int_not_equal(bg.r.rc, CURLE_OK);
    assert_int_not_equal(bg.r.rc, CURLE_OPERATION_TIMEDOUT);
}

static void test_pause_resume_same_port(void **state) {
    devsrv_t *srv = *state;
    uint16_t port = devsrv_port(srv);
    raw_resp_t r;

    /* A request left hanging is cut off by the pause, which returns promptly. */
    assert_int_equal(devsrv_script_text(srv, "noanswer"), 0);
    bg_t bg = {.url = devsrv_url(srv)};
    assert_int_equal(pthread_create(&bg.thread, NULL, bg_post, &bg), 0);
    assert_true(wait_batch_requests(srv, 1));
    assert_int_equal(devsrv_pause(srv), 0);
    pthread_join(bg.thread, NULL);
    assert_int_not_equal(bg.r.rc, CURLE_OK);
    assert_int_not_equal(bg.r.rc, CURLE_OPERATION_TIMEDOUT); /* cut, not waited out */

    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.rc, CURLE_COULDNT_CONNECT);
    assert_int_equal(devsrv_pause(srv), 0); /* idempotent */

    assert_int_equal(devsrv_resume(srv), 0);
    assert_int_equal(devsrv_port(srv), port);
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(devsrv_resume(srv), 0); /* already listening */
    assert_int_equal(server_stats(srv).events_received, 1);
}

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
        cmocka_unit_test_setup_teardown(test_start_binds_loopback_ephemeral, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sk_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_bodies_get_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large_gets_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_events_are_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mint_and_bearer_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mint_rejections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signed_mint, setup, teardown),
        cmocka_unit_test(test_token_expiry),
        cmocka_unit_test_setup_teardown(test_fault_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_delay_and_answer_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_close_before_and_mid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noanswer_client_timeout, setup, teardown),
        cmocka_unit_test(test_noanswer_does_not_hang_stop),
        cmocka_unit_test_setup_teardown(test_pause_resume_same_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_json_is_byte_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dev_endpoints, setup, teardown),
        cmocka_unit_test(test_record_ndjson),
        cmocka_unit_test_setup_teardown(test_wait_events, setup, teardown),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_start_rejects_bad_config),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
