/* sk_ delivery from many threads: each event exactly once, in order, byte-exact; a backlog in large
 * requests. */
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_deliver_exactly_once),
        cmocka_unit_test(test_backlog_uses_large_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
