/* The payload builder end to end: what the local server received from
 * segops_track_props / segops_identify_props / segops_track_event_props,
 * byte for byte, and how refused calls are counted. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A client of srv that sends only when flushed. */
static segops_client_t *new_client(devsrv_t *srv, recorder_t *rec, bool batch) {
    segops_options_t *opts = make_options(srv, TEST_SK, rec);
    assert_int_equal(segops_options_set_batch(opts, batch), SEGOPS_OK);
    assert_int_equal(segops_options_set_batch_size(opts, 1000), SEGOPS_OK);
    assert_int_equal(segops_options_set_flush_interval_ms(opts, 3600000), SEGOPS_OK);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    return client;
}

static segops_props_t *new_props(void) {
    segops_props_t *p = NULL;
    assert_int_equal(segops_props_new(&p), SEGOPS_OK);
    return p;
}

/* Asserts that event k arrived as exactly
 * {"user_id":user,"event_type":type,"occurred_at":<its stamp>,"payload":payload}. */
static void expect_event(devsrv_t *srv, size_t k, const char *user_json, const char *type,
                         const char *payload) {
    devsrv_event_t ev;
    assert_int_equal(devsrv_event_at(srv, k, &ev), 0);
    char want[4096];
    snprintf(want, sizeof want,
             "{\"user_id\":%s,\"event_type\":\"%s\",\"occurred_at\":\"%s\",\"payload\":%s}",
             user_json, type, ev.occurred_at, payload);
    assert_string_equal(ev.raw_json, want);
    assert_int_equal(strlen(ev.occurred_at), 24);
    devsrv_event_free(&ev);
}

static void shut(segops_client_t *client, devsrv_t *srv) {
    assert_conservation(client);
    assert_int_equal(segops_shutdown(client, 5000), SEGOPS_OK);
    segops_client_free(client);
    devsrv_stop(srv);
}

static void test_every_kind_of_value_on_the_wire(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    segops_client_t *client = new_client(srv, &rec, true);

    segops_props_t *p = new_props(), *tags = NULL, *address = new_props();
    assert_int_equal(segops_props_new_array(&tags), SEGOPS_OK);
    /* A product name a user typed: quotes, a backslash, a newline, a control
     * byte and non-ASCII text, which hand-written JSON gets wrong. */
    assert_int_equal(
        segops_props_set_string(p, "sku", "Mug \"XL\" \\ 2\n\x01 caf\xc3\xa9 \xf0\x9f\x98\x80"),
        SEGOPS_OK);
    assert_int_equal(segops_props_set_double(p, "total", 42.5), SEGOPS_OK);
    assert_int_equal(segops_props_set_double(p, "ratio", 0.1), SEGOPS_OK);
    assert_int_equal(segops_props_set_double(p, "huge", 1e300), SEGOPS_OK);
    assert_int_equal(segops_props_set_int(p, "min", INT64_MIN), SEGOPS_OK);
    assert_int_equal(segops_props_set_int(p, "qty", 3), SEGOPS_OK);
    assert_int_equal(segops_props_set_bool(p, "gift", true), SEGOPS_OK);
    assert_int_equal(segops_props_set_null(p, "coupon"), SEGOPS_OK);
    assert_int_equal(segops_props_set_json(p, "raw", " {\"a\": [1, 2]} "), SEGOPS_OK);
    assert_int_equal(segops_props_set_string(tags, NULL, "new"), SEGOPS_OK);
    assert_int_equal(segops_props_set_int(tags, NULL, 2), SEGOPS_OK);
    assert_int_equal(segops_props_set_props(p, "tags", tags), SEGOPS_OK);
    assert_int_equal(segops_props_set_string(address, "city", "Z\xc3\xbcrich"), SEGOPS_OK);
    assert_int_equal(segops_props_set_props(p, "address", address), SEGOPS_OK);
    assert_int_equal(segops_props_set_int(p, "qty", 4), SEGOPS_OK); /* replaced in place */
    assert_int_equal(segops_track_props(client, "u-\"1\"", "order_placed", p), SEGOPS_OK);

    /* The builder is reusable after a track: the first event is not affected. */
    assert_int_equal(segops_props_set_double(p, "total", -0.0), SEGOPS_OK);
    assert_int_equal(segops_track_props(client, "u-2", "order_placed", p), SEGOPS_OK);
    segops_props_clear(p);
    assert_int_equal(segops_props_set_string(p, "plan", "pro"), SEGOPS_OK);
    assert_int_equal(segops_identify_props(client, "u-2", p), SEGOPS_OK);
    assert_int_equal(segops_track_props(client, "u-3", "page_viewed", NULL), SEGOPS_OK);
    assert_int_equal(segops_identify_props(client, "u-3", NULL), SEGOPS_OK);
    segops_props_free(p);
    segops_props_free(tags);
    segops_props_free(address);

    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(devsrv_event_count(srv), 5);
    const char *rest = "\"ratio\":0.1,\"huge\":1e+300,\"min\":-9223372036854775808,\"qty\":4,"
                       "\"gift\":true,\"coupon\":null,\"raw\":{\"a\": [1, 2]},"
                       "\"tags\":[\"new\",2],\"address\":{\"city\":\"Z\xc3\xbcrich\"}}";
    char payload[1024];
    snprintf(payload, sizeof payload,
             "{\"sku\":\"Mug \\\"XL\\\" \\\\ 2\\n\\u0001 caf\xc3\xa9 \xf0\x9f\x98\x80\","
             "\"total\":42.5,%s",
             rest);
    expect_event(srv, 0, "\"u-\\\"1\\\"\"", "order_placed", payload);
    snprintf(payload, sizeof payload,
             "{\"sku\":\"Mug \\\"XL\\\" \\\\ 2\\n\\u0001 caf\xc3\xa9 \xf0\x9f\x98\x80\","
             "\"total\":-0,%s",
             rest);
    expect_event(srv, 1, "\"u-2\"", "order_placed", payload);
    expect_event(srv, 2, "\"u-2\"", "context_identified", "{\"plan\":\"pro\"}");
    expect_event(srv, 3, "\"u-3\"", "page_viewed", "{}");
    expect_event(srv, 4, "\"u-3\"", "context_identified", "{}");

    /* The server decoded the string to what was set (cJSON prints it back). */
    devsrv_event_t ev;
    assert_int_equal(devsrv_event_at(srv, 0, &ev), 0);
    assert_non_null(strstr(ev.payload_json, "\"sku\":\"Mug \\\"XL\\\" \\\\ 2\\n\\u0001 "
                                            "caf\xc3\xa9 \xf0\x9f\x98\x80\""));
    devsrv_event_free(&ev);

    segops_stats_t st = stats_of(client);
    assert_int_equal(st.enqueued, 5);
    assert_int_equal(st.delivered, 5);
    assert_int_equal(reports_of(&rec), 0);
    shut(client, srv);
    recorder_destroy(&rec);
}

/* The builder's text is what segops_track would send for the same JSON. */
static void test_same_bytes_as_the_text_path(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_client_t *client = new_client(srv, NULL, true);
    segops_props_t *p = new_props();
    assert_int_equal(segops_props_set_string(p, "order_id", "ord-8812734"), SEGOPS_OK);
    assert_int_equal(segops_props_set_double(p, "amount", 42.5), SEGOPS_OK);
    assert_int_equal(segops_props_set_int(p, "items", 3), SEGOPS_OK);
    assert_int_equal(segops_props_set_bool(p, "gift", false), SEGOPS_OK);
    const char *text = "{\"order_id\":\"ord-8812734\",\"amount\":42.5,\"items\":3,\"gift\":false}";
    assert_string_equal(segops_props_json(p, NULL), text);
    segops_event_t ev = {"u", "order_placed", NULL, "2026-01-02T03:04:05.678Z", "anon-1"};
    assert_int_equal(segops_track_event_props(client, &ev, p), SEGOPS_OK);
    ev.payload_json = text;
    assert_int_equal(segops_track_event(client, &ev), SEGOPS_OK);
    segops_props_free(p);
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    devsrv_event_t a, b;
    assert_int_equal(devsrv_event_at(srv, 0, &a), 0);
    assert_int_equal(devsrv_event_at(srv, 1, &b), 0);
    assert_string_equal(a.raw_json, b.raw_json);
    assert_string_equal(a.raw_json,
                        "{\"user_id\":\"u\",\"event_type\":\"order_placed\","
                        "\"occurred_at\":\"2026-01-02T03:04:05.678Z\",\"anonymous_id\":\"anon-1\","
                        "\"payload\":{\"order_id\":\"ord-8812734\",\"amount\":42.5,\"items\":3,"
                        "\"gift\":false}}");
    devsrv_event_free(&a);
    devsrv_event_free(&b);
    shut(client, srv);
}

/* Refusals return the code, send nothing and are counted like segops_track's. */
static void test_refusals_are_counted(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_client_t *client = new_client(srv, NULL, true);
    segops_props_t *p = new_props(), *array = NULL;
    assert_int_equal(segops_props_new_array(&array), SEGOPS_OK);
    assert_int_equal(segops_props_set_int(p, "n", 1), SEGOPS_OK);

    assert_int_equal(segops_track_props(NULL, "u", "e", p), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_track_props(client, NULL, "e", p), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_track_props(client, "", "e", p), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_track_props(client, "u\xff", "e", p), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_track_props(client, "u", NULL, p), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_identify_props(client, "", p), SEGOPS_E_INVALID_ARG);
    segops_event_t ev = {"u", "e", "{}", NULL, NULL}; /* payload given twice */
    assert_int_equal(segops_track_event_props(client, &ev, p), SEGOPS_E_INVALID_ARG);
    ev = (segops_event_t){"u", "e", NULL, "yesterday", NULL};
    assert_int_equal(segops_track_event_props(client, &ev, p), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_track_event_props(client, NULL, p), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_track_props(client, "u", "e", array), SEGOPS_E_INVALID_JSON);
    /* Over max_event_bytes (32768 by default). */
    char *big = malloc(40000);
    memset(big, 'x', 39999);
    big[39999] = '\0';
    assert_int_equal(segops_props_set_string(p, "big", big), SEGOPS_OK);
    assert_int_equal(segops_track_props(client, "u", "e", p), SEGOPS_E_TOO_LARGE);
    free(big);

    segops_stats_t st = stats_of(client);
    assert_int_equal(st.rejected_invalid_arg, 8); /* the NULL client is not counted */
    assert_int_equal(st.rejected_invalid_json, 1);
    assert_int_equal(st.rejected_too_large, 1);
    assert_int_equal(st.enqueued, 0);

    assert_int_equal(segops_shutdown(client, 5000), SEGOPS_OK);
    assert_int_equal(segops_track_props(client, "u", "e", NULL), SEGOPS_E_STATE);
    st = stats_of(client);
    assert_int_equal(st.rejected_state, 1);
    assert_int_equal(server_stats(srv).events_received, 0);
    segops_props_free(p);
    segops_props_free(array);
    segops_client_free(client);
    devsrv_stop(srv);
}

/* batch = false: the call sends and returns the outcome. */
static void test_sync_mode(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_client_t *client = new_client(srv, NULL, false);
    segops_props_t *p = new_props();
    assert_int_equal(segops_props_set_double(p, "pi", 3.141592653589793), SEGOPS_OK);
    assert_int_equal(segops_track_props(client, "u", "measured", p), SEGOPS_OK);
    assert_int_equal(devsrv_event_count(srv), 1); /* already there: no flush */
    expect_event(srv, 0, "\"u\"", "measured", "{\"pi\":3.141592653589793}");
    devsrv_script_text(srv, "400");
    assert_int_equal(segops_track_props(client, "u", "measured", p), SEGOPS_E_HTTP);
    segops_props_free(p);
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.delivered, 1);
    assert_int_equal(st.dropped_rejected, 1);
    shut(client, srv);
}

/* Threads with their own builders, plus one shared read-only builder. */
#define THREADS 4
#define PER_THREAD 500

typedef struct worker {
    segops_client_t *client;
    const segops_props_t *shared;
    int id;
    int failures;
} worker_t;

static void *produce(void *arg) {
    worker_t *w = arg;
    segops_props_t *own = NULL;
    if (segops_props_new(&own) != SEGOPS_OK) {
        w->failures++;
        return NULL;
    }
    for (int i = 0; i < PER_THREAD; i++) {
        segops_props_clear(own);
        bool ok = segops_props_set_int(own, "thread", w->id) == SEGOPS_OK &&
                  segops_props_set_int(own, "i", i) == SEGOPS_OK &&
                  segops_props_set_double(own, "x", i / 4.0) == SEGOPS_OK;
        if (!ok || segops_track_props(w->client, "u", "own", own) != SEGOPS_OK ||
            segops_track_props(w->client, "u", "shared", w->shared) != SEGOPS_OK)
            w->failures++;
    }
    segops_props_free(own);
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    /* One request at a time: each thread's events then arrive in its order. */
    segops_options_t *opts = make_options(srv, TEST_SK, NULL);
    assert_int_equal(segops_options_set_batch_size(opts, 1000), SEGOPS_OK);
    assert_int_equal(segops_options_set_flush_interval_ms(opts, 3600000), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_in_flight(opts, 1), SEGOPS_OK);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    segops_props_t *shared = new_props();
    assert_int_equal(segops_props_set_string(shared, "s", "same for all"), SEGOPS_OK);
    worker_t workers[THREADS];
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        workers[t] = (worker_t){client, shared, t, 0};
        pthread_create(&threads[t], NULL, produce, &workers[t]);
    }
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < THREADS; t++) assert_int_equal(workers[t].failures, 0);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    size_t n = devsrv_event_count(srv);
    assert_int_equal(n, 2 * THREADS * PER_THREAD);
    int next[THREADS] = {0};
    for (size_t k = 0; k < n; k++) {
        devsrv_event_t ev;
        assert_int_equal(devsrv_event_at(srv, k, &ev), 0);
        if (strcmp(ev.event_type, "shared") == 0) {
            assert_non_null(strstr(ev.raw_json, "\"payload\":{\"s\":\"same for all\"}}"));
        } else {
            int t = -1, i = -1;
            assert_int_equal(sscanf(ev.payload_json, "{\"thread\":%d,\"i\":%d", &t, &i), 2);
            assert_true(t >= 0 && t < THREADS);
            assert_int_equal(i, next[t]++); /* each thread's events in order, once */
            char want[96], x[32];
            snprintf(x, sizeof x, "%.15g", i / 4.0);
            snprintf(want, sizeof want, "{\"thread\":%d,\"i\":%d,\"x\":%s}", t, i, x);
            const char *raw = strstr(ev.raw_json, "\"payload\":");
            assert_non_null(raw);
            strcat(want, "}"); /* the event object's own close */
            assert_string_equal(raw + strlen("\"payload\":"), want);
        }
        devsrv_event_free(&ev);
    }
    segops_props_free(shared);
    shut(client, srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_of_value_on_the_wire),
        cmocka_unit_test(test_same_bytes_as_the_text_path),
        cmocka_unit_test(test_refusals_are_counted),
        cmocka_unit_test(test_sync_mode),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
