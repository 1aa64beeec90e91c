/* Secret-key delivery end to end: the real library against the local server. */
#include "testutil.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "latency.h"

static bool is_rfc3339_ms_utc(const char *s) {
    regex_t re;
    regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
            REG_EXTENDED | REG_NOSUB);
    bool ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* ---- many producers, exactly once, in order, byte-exact ---- */

/* More threads than lanes (lane.h), so some threads share a lane. */
#define THREADS 12
#define PER_THREAD 1000

typedef struct producer {
    segops_client_t *client;
    int id;
    int failures;
} producer_t;

static void *produce(void *arg) {
    producer_t *p = arg;
    char user[32], payload[96];
    snprintf(user, sizeof user, "user-%d", p->id);
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(payload, sizeof payload, "{\"thread\":%d,\"i\":%d,\"sku\":\"A-\\u00e9\"}", p->id,
                 i);
        if (segops_track(p->client, user, "order_placed", payload) != SEGOPS_OK) p->failures++;
    }
    return NULL;
}

static void test_threads_deliver_exactly_once(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(srv, TEST_SK, &rec);
    /* One request at a time: a thread's events then arrive in its order. */
    assert_int_equal(segops_options_set_max_in_flight(opts, 1), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);

    producer_t producers[THREADS];
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        producers[t] = (producer_t){client, t, 0};
        pthread_create(&threads[t], NULL, produce, &producers[t]);
    }
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < THREADS; t++) assert_int_equal(producers[t].failures, 0);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);

    const size_t total = THREADS * PER_THREAD;
    assert_int_equal(devsrv_event_count(srv), total);
    static unsigned char seen[THREADS][PER_THREAD];
    memset(seen, 0, sizeof seen);
    int last[THREADS];
    for (int t = 0; t < THREADS; t++) last[t] = -1;
    for (size_t k = 0; k < total; k++) {
        devsrv_event_t ev;
        assert_int_equal(devsrv_event_at(srv, k, &ev), 0);
        int t = -1, i = -1;
        assert_int_equal(sscanf(ev.payload_json, "{\"thread\":%d,\"i\":%d", &t, &i), 2);
        assert_true(t >= 0 && t < THREADS && i >= 0 && i < PER_THREAD);
        assert_int_equal(seen[t][i]++, 0); /* exactly once */
        assert_true(i > last[t]);          /* in the order its thread tracked them */
        last[t] = i;
        char user[32], raw[256];
        snprintf(user, sizeof user, "user-%d", t);
        assert_string_equal(ev.user_id, user);
        assert_string_equal(ev.event_type, "order_placed");
        assert_true(is_rfc3339_ms_utc(ev.occurred_at));
        assert_null(ev.anonymous_id);
        /* The event object on the wire, byte for byte. */
        snprintf(raw, sizeof raw,
                 "{\"user_id\":\"%s\",\"event_type\":\"order_placed\",\"occurred_at\":\"%s\","
                 "\"payload\":{\"thread\":%d,\"i\":%d,\"sku\":\"A-\\u00e9\"}}",
                 user, ev.occurred_at, t, i);
        assert_string_equal(ev.raw_json, raw);
        devsrv_event_free(&ev);
    }
    devsrv_stats_t ss;
    devsrv_get_stats(srv, &ss);
    assert_true(ss.max_events_per_request <= 500);
    /* Batches grow with the backlog: far fewer requests than one per 20 events. */
    assert_true(ss.batch_requests < total / 20 / 2);

    segops_stats_t st;
    assert_int_equal(segops_client_stats(client, &st), SEGOPS_OK);
    assert_int_equal(st.enqueued, total);
    assert_int_equal(st.delivered, total);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.requests, ss.batch_requests);
    assert_int_equal(st.connections, 1); /* keep-alive: every request on one connection */
    assert_int_equal(rec.reports, 0);
    assert_conservation(client);

    devsrv_last_headers_t h;
    devsrv_get_last_headers(srv, &h);
    assert_string_equal(h.authorization, "ApiKey " TEST_SK);
    assert_string_equal(h.content_type, "application/json");
    assert_true(strncmp(h.user_agent, "segops-c/" SEGOPS_VERSION_STRING " curl/", 15) == 0);

    assert_int_equal(segops_shutdown(client, 5000), SEGOPS_OK);
    segops_client_free(client);
    recorder_destroy(&rec);
    devsrv_stop(srv);
}

/* A backlog (the first answer is slow) drains in requests of up to 500 events. */
static void test_backlog_uses_large_requests(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    devsrv_script_text(srv, "delay=400");
    segops_options_t *opts = make_options(srv, TEST_SK, NULL);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    devsrv_stats_t ss;
    devsrv_get_stats(srv, &ss);
    assert_int_equal(ss.events_received, 5000);
    assert_int_equal(ss.max_events_per_request, 500);
    assert_true(ss.batch_requests <= 5000 / 500 + 2); /* the slow first one, then full ones */
    segops_stats_t st;
    segops_client_stats(client, &st);
    assert_true(st.requests >= 5);
    /* keep-alive across requests: one connection per sender (default 4 in
     * flight), each reused, for the 10 or more requests. */
    assert_true(st.connections >= 1 && st.connections <= 4);
    assert_conservation(client);
    segops_client_free(client);
    devsrv_stop(srv);
}

/* ---- flush, shutdown, interval ---- */

static segops_client_t *quiet_client(devsrv_t *srv, recorder_t *rec, size_t batch_size,
                                     uint32_t interval_ms) {
    segops_options_t *opts = make_options(srv, TEST_SK, rec);
    assert_int_equal(segops_options_set_batch_size(opts, batch_size), SEGOPS_OK);
    assert_int_equal(segops_options_set_flush_interval_ms(opts, interval_ms), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    return client;
}

static void test_flush_and_shutdown_deliver_everything(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_client_t *client = quiet_client(srv, NULL, 100000, 3600000);
    for (int i = 0; i < 137; i++) assert_int_equal(segops_track(client, "u", "a", "{}"), SEGOPS_OK);
    sleep_ms(100);
    assert_int_equal(devsrv_event_count(srv), 0); /* nothing due yet */
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(devsrv_event_count(srv), 137);
    for (int i = 0; i < 55; i++) assert_int_equal(segops_track(client, "u", "b", "{}"), SEGOPS_OK);
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);
    assert_int_equal(devsrv_event_count(srv), 192);
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK); /* idempotent */
    assert_int_equal(segops_track(client, "u", "c", "{}"), SEGOPS_E_STATE);
    assert_int_equal(segops_flush(client, 100), SEGOPS_E_STATE);
    segops_stats_t st;
    segops_client_stats(client, &st);
    assert_int_equal(st.delivered, 192);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.rejected_state, 1);
    assert_conservation(client);
    segops_client_free(client);
    devsrv_stop(srv);
}

/* The events of each batch request the server logged, in arrival order, once
 * each has its answer (the log records it just after the events are counted). */
static size_t request_sizes(devsrv_t *srv, uint32_t *sizes, size_t max) {
    devsrv_request_t log[8];
    size_t n;
    int64_t until = now_ms() + 10000; /* hang detector */
    for (;;) {
        n = devsrv_request_log(srv, log, 8);
        assert_true(n <= max && n <= 8);
        bool answered = true;
        for (size_t i = 0; i < n; i++) answered = answered && log[i].status != 0;
        if (answered || now_ms() > until) break;
        sleep_ms(1);
    }
    for (size_t i = 0; i < n; i++) sizes[i] = log[i].events;
    return n;
}

/* A 200 ms flush interval sends three events well before the pacing would
 * (a second client, with an hour-long interval, measures the pacing). */
static void test_interval_flush_fires_on_its_own(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_client_t *client = quiet_client(srv, NULL, 1000, 200);
    int64_t start = now_ms();
    for (int i = 0; i < 3; i++)
        assert_int_equal(segops_track(client, "u", "tick", NULL), SEGOPS_OK);
    int64_t by_interval = time_arrival(srv, 3, start);
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.delivered + st.pending, 3);
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);
    segops_client_free(client);

    segops_client_t *paced = quiet_client(srv, NULL, 1000, 3600000);
    int64_t by_pacing = track_and_time_arrival(paced, srv, 0, 4);
    assert_sooner_than_pacing(by_interval, by_pacing, "a 200 ms flush interval");
    assert_int_equal(segops_shutdown(paced, 10000), SEGOPS_OK);
    segops_client_free(paced);
    devsrv_stop(srv);
}

/* The batch_size-th event sends the batch at once: nine wait, the tenth goes
 * with them in one request, well before a lone event after it, which only the
 * pacing sends. */
static void test_batch_size_triggers_send(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_client_t *client = quiet_client(srv, NULL, 10, 3600000);
    for (int i = 0; i < 9; i++) assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    int64_t by_batch_size = track_and_time_arrival(client, srv, 0, 10);
    int64_t by_pacing = track_and_time_arrival(client, srv, 1, 11);
    uint32_t sizes[2];
    assert_int_equal(request_sizes(srv, sizes, 2), 2);
    assert_int_equal(sizes[0], 10); /* the nine waited for the tenth */
    assert_int_equal(sizes[1], 1);
    assert_sooner_than_pacing(by_batch_size, by_pacing, "the batch_size-th event");
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);
    segops_client_free(client);
    devsrv_stop(srv);
}

/* ---- identify, track_event ---- */

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

/* ---- bad input: a code, no effect ---- */

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

/* ---- batching off: the delivery outcome is the return value ---- */

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

/* ---- failures are reported with counts and without secrets ---- */

static void test_wrong_key_reported(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(srv, "sk_live_wrong_secret_value", &rec);
    assert_int_equal(segops_options_set_batch_size(opts, 1000), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    for (int i = 0; i < 7; i++) assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(rec.reports, 1);
    assert_int_equal(rec.info[0].code, SEGOPS_E_AUTH);
    assert_int_equal(rec.info[0].http_status, 401);
    assert_int_equal(rec.info[0].event_count, 7);
    assert_int_equal(rec.info[0].reason, SEGOPS_DROP_REJECTED);
    assert_null(strstr(rec.messages[0], "sk_live"));
    segops_stats_t st;
    segops_client_stats(client, &st);
    assert_int_equal(st.dropped_rejected, 7);
    assert_int_equal(st.delivered, 0);
    assert_conservation(client);
    segops_client_free(client);
    assert_int_equal(devsrv_event_count(srv), 0);
    recorder_destroy(&rec);
    devsrv_stop(srv);
}

static void test_server_down_reported(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    char url[64];
    snprintf(url, sizeof url, "%s", devsrv_url(srv));
    devsrv_stop(srv); /* nothing listens on that port now */
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(NULL, TEST_SK, &rec);
    assert_int_equal(segops_options_set_api_url(opts, url), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_retries(opts, 2), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 10, 20), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    for (int i = 0; i < 5; i++) assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(rec.reports, 1);
    assert_int_equal(rec.info[0].code, SEGOPS_E_NETWORK);
    assert_int_equal(rec.info[0].http_status, 0);
    assert_int_equal(rec.info[0].event_count, 5);
    assert_int_equal(rec.info[0].reason, SEGOPS_DROP_RETRIES_EXHAUSTED);
    assert_null(strstr(rec.messages[0], TEST_SK));
    segops_stats_t st;
    segops_client_stats(client, &st);
    assert_int_equal(st.requests, 3);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.dropped_retries_exhausted, 5);
    assert_conservation(client);
    segops_client_free(client);
    recorder_destroy(&rec);
}

static void test_skipped_events_reported(void **state) {
    (void)state;
    devsrv_config_t cfg = {.skip_event_type = "bad_event"};
    devsrv_t *srv = start_server(&cfg);
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(srv, TEST_SK, &rec);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops_track(client, "u", "good_event", NULL), SEGOPS_OK);
    assert_int_equal(segops_track(client, "u", "bad_event", NULL), SEGOPS_OK);
    assert_int_equal(segops_track(client, "u", "bad_event", NULL), SEGOPS_OK);
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(rec.reports, 1);
    assert_int_equal(rec.info[0].code, SEGOPS_E_SKIPPED);
    assert_int_equal(rec.info[0].event_count, 2);
    assert_int_equal(rec.info[0].reason, SEGOPS_DROP_SKIPPED);
    segops_stats_t st;
    segops_client_stats(client, &st);
    assert_int_equal(st.delivered, 1);
    assert_int_equal(st.dropped_skipped, 2);
    assert_conservation(client);
    segops_client_free(client);
    recorder_destroy(&rec);
    devsrv_stop(srv);
}

/* Without on_error, each drop is one line on stderr, with no key in it. */
static void test_default_on_error_writes_one_line(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_options_t *opts = make_options(srv, "sk_live_do_not_print_me", NULL);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    char path[] = "/tmp/segops-stderr-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    for (int i = 0; i < 3; i++) segops_track(client, "u", "e", NULL);
    segops_flush(client, 10000);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char out[1024] = {0};
    ssize_t n = pread(fd, out, sizeof out - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    assert_non_null(strstr(out, "segops: dropped 3 events"));
    assert_non_null(strstr(out, "HTTP 401"));
    assert_null(strstr(out, "sk_live"));
    assert_non_null(strchr(out, '\n'));
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1); /* exactly one line */
    segops_client_free(client);
    devsrv_stop(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_deliver_exactly_once),
        cmocka_unit_test(test_backlog_uses_large_requests),
        cmocka_unit_test(test_flush_and_shutdown_deliver_everything),
        cmocka_unit_test(test_interval_flush_fires_on_its_own),
        cmocka_unit_test(test_batch_size_triggers_send),
        cmocka_unit_test(test_identify_and_track_event),
        cmocka_unit_test(test_bad_input_changes_nothing),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_sync_mode_returns_outcome),
        cmocka_unit_test(test_wrong_key_reported),
        cmocka_unit_test(test_server_down_reported),
        cmocka_unit_test(test_skipped_events_reported),
        cmocka_unit_test(test_default_on_error_writes_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
