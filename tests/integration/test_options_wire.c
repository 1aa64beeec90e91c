/* Issue 19, untested promises: options whose effect shows on the wire, checked
 * against what the local server received.
 * - user_agent_suffix is appended to the User-Agent after a space;
 * - bytes_sent equals the request bodies the server received;
 * - max_request_bytes splits what is queued so no request body exceeds it;
 * - retry_after_max_ms caps the wait a Retry-After asks for (429 and 503);
 * - sync_timeout_ms (batch = false) ends a call whose answer never comes;
 * - connect_timeout_ms ends a connect that hangs (a full listen backlog). */
#include "fixture.h"
#include "spooltest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blackhole.h"
#include "bounded_thread.h"

/* The log of every batch request the server received (n of them, malloc'd). */
static devsrv_request_t *batch_log(devsrv_t *srv, size_t *n) {
    size_t all = devsrv_request_log(srv, NULL, 0);
    devsrv_request_t *log = calloc(all ? all : 1, sizeof *log);
    assert_non_null(log);
    devsrv_request_log(srv, log, all);
    size_t kept = 0;
    for (size_t i = 0; i < all; i++)
        if (log[i].kind == DEVSRV_REQUEST_BATCH) log[kept++] = log[i];
    *n = kept;
    return log;
}

static void user_agent_suffix_on_the_wire(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = fault_options(&f, 1);
    assert_int_equal(segops_options_set_user_agent_suffix(opts, "myapp/2.3 (build 77)"), SEGOPS_OK);
    fixture_client(&f, opts);
    track_and_flush(&f, NULL, 1, HANG_MS);

    devsrv_last_headers_t h;
    devsrv_get_last_headers(f.srv, &h);
    printf("User-Agent: %s\n", h.user_agent);
    char want[64];
    snprintf(want, sizeof want, "segops-c/%s curl/", segops_version());
    assert_true(strncmp(h.user_agent, want, strlen(want)) == 0);
    const char *suffix = " myapp/2.3 (build 77)";
    size_t len = strlen(h.user_agent);
    assert_true(len > strlen(suffix));
    assert_string_equal(h.user_agent + len - strlen(suffix), suffix);
    fixture_finish(&f);
}

/* Three flushes of different sizes, one of them retried after a 503: every
 * attempt's body counts, and the total is what the server read. */
static void bytes_sent_equals_the_bodies_received(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_faulty(&f, 1000);
    track_and_flush(&f, NULL, 3, HANG_MS);
    track_numbered_padded(f.client, 100, 40, 300);
    assert_int_equal(segops_flush(f.client, HANG_MS), SEGOPS_OK);
    assert_int_equal(devsrv_script_text(f.srv, "503"), 0);
    track_n(f.client, "u", 200, 7);
    assert_int_equal(segops_flush(f.client, HANG_MS), SEGOPS_OK);

    segops_stats_t st = stats_of(f.client);
    devsrv_stats_t ss = server_stats(f.srv);
    size_t n;
    devsrv_request_t *log = batch_log(f.srv, &n);
    uint64_t bodies = 0;
    for (size_t i = 0; i < n; i++) bodies += log[i].body_bytes;
    free(log);
    printf("bytes_sent %llu, server bodies %llu over %llu requests\n",
           (unsigned long long)st.bytes_sent, (unsigned long long)ss.bytes_received,
           (unsigned long long)ss.batch_requests);
    assert_int_equal(st.requests, 4);
    assert_int_equal(ss.batch_requests, 4);
    assert_true(st.bytes_sent > 40 * 300);
    assert_int_equal(st.bytes_sent, ss.bytes_received);
    assert_int_equal(st.bytes_sent, bodies);
    fixture_finish(&f);
}

/* 300 events of about 1 KiB with max_request_bytes at its 64 KiB minimum:
 * fewer than the 500 a request may carry, more than one body can hold. */
#define SPLIT_EVENTS 300
#define SPLIT_PAD 1000
#define SPLIT_LIMIT 65536

static void max_request_bytes_splits_requests(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = fault_options(&f, 100000);
    assert_int_equal(segops_options_set_max_request_bytes(opts, SPLIT_LIMIT), SEGOPS_OK);
    fixture_client(&f, opts);
    track_numbered_padded(f.client, 0, SPLIT_EVENTS, SPLIT_PAD);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);

    assert_numbered_once(f.srv, 0, 0, SPLIT_EVENTS);
    size_t n;
    devsrv_request_t *log = batch_log(f.srv, &n);
    uint64_t largest = 0, total = 0, events = 0;
    for (size_t i = 0; i < n; i++) {
        printf("request %zu: %llu bytes, %u events, status %d\n", i + 1,
               (unsigned long long)log[i].body_bytes, log[i].events, log[i].status);
        if (log[i].body_bytes > largest) largest = log[i].body_bytes;
        total += log[i].body_bytes;
        events += log[i].events;
        assert_int_equal(log[i].status, 200);
    }
    free(log);
    assert_int_equal(events, SPLIT_EVENTS);
    if (largest > SPLIT_LIMIT)
        fail_msg("a request body of %llu bytes exceeds max_request_bytes %d",
                 (unsigned long long)largest, SPLIT_LIMIT);
    /* Split, not one event per request: as few requests as the bound allows
     * give or take one partly filled request per split. */
    uint64_t least = (total + SPLIT_LIMIT - 1) / SPLIT_LIMIT;
    assert_true(n >= least);
    assert_true(n <= 2 * least);
    assert_int_equal(stats_of(f.client).delivered, SPLIT_EVENTS);
    fixture_finish(&f);
}

/* A Retry-After of an hour (a quota, on a 429; a floor, on a 503) with
 * retry_after_max_ms 300: the batch waits 300 ms, not the hour, then is
 * delivered. A flush does not cut the server's wait, so a flush that returns
 * OK within its hang-detector bound shows the cap applied. */
#define RA_CAP_MS 300

static void check_retry_after_capped(const char *script) {
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = fault_options(&f, 1000);
    assert_int_equal(segops_options_set_retry_after_max_ms(opts, RA_CAP_MS), SEGOPS_OK);
    fixture_client(&f, opts);
    track_and_flush(&f, script, 2, 10000);
    assert_delivered_once(&f, 2, 2);

    size_t n;
    devsrv_request_t *log = batch_log(f.srv, &n);
    assert_int_equal(n, 2);
    int64_t waited = log[1].arrival_ms - log[0].arrival_ms;
    free(log);
    printf("%s: the retry came %lld ms after the first request\n", script, (long long)waited);
    /* Never sooner than the capped Retry-After (a floor: a busy machine only
     * makes it later). */
    assert_true(waited >= RA_CAP_MS);
    fixture_finish(&f);
}

static void retry_after_max_caps_a_429_quota(void **state) {
    (void)state;
    check_retry_after_capped("429:ra=3600");
}

static void retry_after_max_caps_a_503_floor(void **state) {
    (void)state;
    check_retry_after_capped("503:ra=3600");
}

typedef struct sync_call {
    segops_client_t *client;
    segops_err_t result;
} sync_call_t;

static void *run_sync_track(void *arg) {
    sync_call_t *call = arg;
    call->result = segops_track(call->client, "u", "item_viewed", "{\"i\":0}");
    return NULL;
}

/* batch = false, sync_timeout_ms 300, request_timeout_ms at its maximum and a
 * server that holds its answer for 20 s: the call returns SEGOPS_E_TIMEOUT
 * while the server still holds the request (its log entry has no answer yet),
 * and the event is counted dropped. Were the option ignored (the default 30 s,
 * or the request timeout), the answer would come first and be delivered. */
static void sync_timeout_ends_an_unanswered_call(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = make_options(f.srv, TEST_SK, &f.rec);
    assert_int_equal(segops_options_set_batch(opts, false), SEGOPS_OK);
    assert_int_equal(segops_options_set_sync_timeout_ms(opts, 300), SEGOPS_OK);
    assert_int_equal(segops_options_set_request_timeout_ms(opts, 600000), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(devsrv_script_text(f.srv, "delay=20000"), 0);

    sync_call_t call = {f.client, SEGOPS_E_INTERNAL};
    bounded_thread_t t;
    bounded_start(&t, run_sync_track, &call);
    if (!bounded_join(&t, now_ms() + 60000)) {
        bounded_abandon(&t);
        fail_msg("a batch=false track with sync_timeout_ms 300 still blocked after 60 s");
    }
    size_t n;
    devsrv_request_t *log = batch_log(f.srv, &n);
    assert_int_equal(n, 1);
    int answered = log[0].status;
    free(log);
    assert_int_equal(answered, 0); /* the server was still holding it */
    assert_int_equal(call.result, SEGOPS_E_TIMEOUT);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.enqueued, 1);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.dropped_retries_exhausted, 1);
    assert_int_equal(st.pending, 0);
    assert_int_equal(server_events(f.srv), 0);
    fixture_stop(&f);
}

/* A connect to a full backlog hangs; with connect_timeout_ms 100 each attempt
 * ends on its own and is retried, so all four attempts (max_retries 3) are
 * made and the call returns SEGOPS_E_TIMEOUT with the event dropped, long
 * before the request and sync timeouts (at their maxima) would end it. Were the
 * option ignored, the first connect would hang for the whole request timeout. */
static void connect_timeout_ends_a_hanging_connect(void **state) {
    (void)state;
    static blackhole_t hole; /* outlives a failed test: an abandoned call may still connect */
    blackhole_open(&hole);
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(NULL, TEST_SK, &rec);
    assert_int_equal(segops_options_set_api_url(opts, hole.url), SEGOPS_OK);
    assert_int_equal(segops_options_set_batch(opts, false), SEGOPS_OK);
    assert_int_equal(segops_options_set_connect_timeout_ms(opts, 100), SEGOPS_OK);
    assert_int_equal(segops_options_set_request_timeout_ms(opts, 600000), SEGOPS_OK);
    assert_int_equal(segops_options_set_sync_timeout_ms(opts, 86400000), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_retries(opts, 3), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 1, 10), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);

    sync_call_t call = {client, SEGOPS_E_INTERNAL};
    bounded_thread_t t;
    bounded_start(&t, run_sync_track, &call);
    if (!bounded_join(&t, now_ms() + 60000)) {
        bounded_abandon(&t);
        fail_msg(
            "a track to a hanging connect with connect_timeout_ms 100 still blocked after 60 s");
    }
    segops_stats_t st = stats_of(client);
    printf("%s after %llu attempts\n", segops_strerror(call.result),
           (unsigned long long)st.requests);
    assert_int_equal(call.result, SEGOPS_E_TIMEOUT);
    assert_int_equal(st.requests, 4);
    assert_int_equal(st.retries, 3);
    assert_int_equal(st.dropped_retries_exhausted, 1);
    assert_int_equal(st.pending, 0);
    assert_conservation(client);
    segops_client_free(client);
    recorder_destroy(&rec);
    blackhole_close(&hole);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(user_agent_suffix_on_the_wire),
        cmocka_unit_test(bytes_sent_equals_the_bodies_received),
        cmocka_unit_test(max_request_bytes_splits_requests),
        cmocka_unit_test(retry_after_max_caps_a_429_quota),
        cmocka_unit_test(retry_after_max_caps_a_503_floor),
        cmocka_unit_test(sync_timeout_ends_an_unanswered_call),
        cmocka_unit_test(connect_timeout_ends_a_hanging_connect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
