/* Delivery under faults: every scripted server misbehaviour against the real
 * library, with what the server received, what on_error reported and the
 * stats accounted exactly. Times asserted are lower bounds the protocol demands
 * or generous hang detectors, never speed thresholds. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HANG_MS 3000 /* a call that should end promptly but takes this long is hung */

/* ---- helpers ---- */

typedef struct fixture {
    devsrv_t *srv;
    recorder_t rec;
    segops_client_t *client;
} fixture_t;

/* Options that keep events queued until the test flushes (or batch_size is
 * reached), with short backoff so retries happen within the test. */
static segops_options_t *fault_options(fixture_t *f, size_t batch_size) {
    segops_options_t *opts = make_options(f->srv, TEST_SK, &f->rec);
    assert_int_equal(segops_options_set_batch_size(opts, batch_size), SEGOPS_OK);
    assert_int_equal(segops_options_set_flush_interval_ms(opts, 3600000), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 10, 40), SEGOPS_OK);
    return opts;
}

static void fixture_start(fixture_t *f) {
    memset(f, 0, sizeof *f);
    f->srv = start_server(NULL);
    recorder_init(&f->rec);
}

static void fixture_client(fixture_t *f, segops_options_t *opts) {
    assert_int_equal(segops_client_new(opts, &f->client), SEGOPS_OK);
    segops_options_free(opts);
}

static void fixture_stop(fixture_t *f) {
    if (f->client) {
        assert_conservation(f->client);
        segops_shutdown(f->client, 5000);
        assert_conservation(f->client);
        segops_client_free(f->client);
    }
    devsrv_stop(f->srv);
    recorder_destroy(&f->rec);
}

/* Tracks events "e" with payload {"i":first..first+n-1}; each must be accepted. */
static void track_n(segops_client_t *client, int first, int n) {
    char payload[32];
    for (int i = first; i < first + n; i++) {
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        assert_int_equal(segops_track(client, "u", "e", payload), SEGOPS_OK);
    }
}

/* How often the server holds the event with payload {"i":i}, over all events. */
static int server_copies(devsrv_t *srv, int i) {
    char want[32];
    snprintf(want, sizeof want, "{\"i\":%d}", i);
    int copies = 0;
    size_t n = devsrv_event_count(srv);
    for (size_t k = 0; k < n; k++) {
        devsrv_event_t ev;
        assert_int_equal(devsrv_event_at(srv, k, &ev), 0);
        if (strcmp(ev.payload_json, want) == 0) copies++;
        devsrv_event_free(&ev);
    }
    return copies;
}

/* Asserts the server holds events first..first+n-1 exactly `copies` times each. */
static void assert_server_holds(devsrv_t *srv, int first, int n, int copies) {
    for (int i = first; i < first + n; i++) {
        int got = server_copies(srv, i);
        if (got != copies)
            fail_msg("event %d: the server holds %d copies, want %d", i, got, copies);
    }
}

static void assert_report(recorder_t *rec, size_t index, segops_err_t code, int http_status,
                          size_t count, segops_drop_reason_t reason) {
    pthread_mutex_lock(&rec->lock);
    segops_error_info_t info = rec->info[index];
    size_t reports = rec->reports;
    pthread_mutex_unlock(&rec->lock);
    assert_true(index < reports);
    assert_int_equal(info.code, code);
    assert_int_equal(info.http_status, http_status);
    assert_int_equal(info.event_count, count);
    assert_int_equal(info.reason, reason);
    assert_non_null(info.message);
    assert_null(strstr(info.message, TEST_SK));
}

/* Waits (hang-detector bound) until the server has seen n batch requests. */
static void wait_requests(devsrv_t *srv, uint64_t n) {
    int64_t end = now_ms() + 10000;
    while (server_stats(srv).batch_requests < n && now_ms() < end) sleep_ms(5);
    assert_true(server_stats(srv).batch_requests >= n);
}

/* A request held by NO_ANSWER ends when the server drops its connections. */
static void unstick(devsrv_t *srv) {
    assert_int_equal(devsrv_pause(srv), 0);
    assert_int_equal(devsrv_resume(srv), 0);
}

/* ---- status codes ---- */

static void test_503_then_success_delivers_once(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    fixture_client(&f, fault_options(&f, 1000));
    assert_int_equal(devsrv_script_text(f.srv, "503,503"), 0);
    track_n(f.client, 0, 5);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);

    assert_server_holds(f.srv, 0, 5, 1);
    assert_int_equal(devsrv_event_count(f.srv), 5);
    assert_int_equal(server_stats(f.srv).batch_requests, 3);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.delivered, 5);
    assert_int_equal(st.requests, 3);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

static void test_500_until_retries_exhausted(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    segops_options_t *opts = fault_options(&f, 1000);
    assert_int_equal(segops_options_set_max_retries(opts, 2), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(devsrv_script_text(f.srv, "500,500,500"), 0); /* max_retries + 1 */
    track_n(f.client, 0, 6);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);

    assert_int_equal(devsrv_script_pending(f.srv), 0);
    assert_int_equal(server_stats(f.srv).batch_requests, 3);
    assert_int_equal(devsrv_event_count(f.srv), 0);
    assert_int_equal(reports_of(&f.rec), 1);
    assert_report(&f.rec, 0, SEGOPS_E_SERVER, 500, 6, SEGOPS_DROP_RETRIES_EXHAUSTED);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.requests, 3);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.dropped_retries_exhausted, 6);
    assert_int_equal(st.dropped, 6);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(f.rec.events, st.dropped);
    fixture_stop(&f);
}

/* A status that is not retried: one request, the batch dropped once, and the
 * next batch goes through normally. */
static void check_not_retried(const char *script, int status, segops_err_t code) {
    fixture_t f;
    fixture_start(&f);
    fixture_client(&f, fault_options(&f, 1000));
    assert_int_equal(devsrv_script_text(f.srv, script), 0);
    track_n(f.client, 0, 4);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_int_equal(server_stats(f.srv).batch_requests, 1);
    assert_int_equal(reports_of(&f.rec), 1);
    assert_report(&f.rec, 0, code, status, 4, SEGOPS_DROP_REJECTED);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.retries, 0);
    assert_int_equal(st.dropped_rejected, 4);

    track_n(f.client, 4, 2);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 4, 0);
    assert_server_holds(f.srv, 4, 2, 1);
    assert_int_equal(reports_of(&f.rec), 1);
    assert_int_equal(stats_of(f.client).delivered, 2);
    fixture_stop(&f);
}

static void test_501_not_retried(void **state) {
    (void)state;
    check_not_retried("501", 501, SEGOPS_E_SERVER);
}

static void test_400_rejected_once(void **state) {
    (void)state;
    check_not_retried("400:body={\"detail\":\"bad event\"}", 400, SEGOPS_E_HTTP);
}

static void test_408_retried(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    fixture_client(&f, fault_options(&f, 1000));
    assert_int_equal(devsrv_script_text(f.srv, "408"), 0);
    track_n(f.client, 0, 3);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 3, 1);
    assert_int_equal(server_stats(f.srv).batch_requests, 2);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.retries, 1);
    assert_int_equal(st.delivered, 3);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

/* ---- 413: split ---- */

static void test_413_splits_batch_in_halves(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    fixture_client(&f, fault_options(&f, 1000));
    assert_int_equal(devsrv_script_text(f.srv, "413"), 0);
    track_n(f.client, 0, 10);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);

    assert_server_holds(f.srv, 0, 10, 1);
    devsrv_stats_t ss = server_stats(f.srv);
    assert_int_equal(ss.batch_requests, 3); /* the refused one, then two halves */
    assert_int_equal(ss.batch_accepted, 2);
    assert_int_equal(ss.max_events_per_request, 5);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.delivered, 10);
    assert_int_equal(st.requests, 3);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

static void test_413_down_to_single_events(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    fixture_client(&f, fault_options(&f, 1000));
    /* 4 events: one request of 4, two of 2, four of 1. */
    assert_int_equal(devsrv_script_text(f.srv, "413,413,413,413,413,413,413"), 0);
    track_n(f.client, 0, 4);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);

    assert_int_equal(devsrv_script_pending(f.srv), 0);
    assert_int_equal(server_stats(f.srv).batch_requests, 7);
    assert_int_equal(devsrv_event_count(f.srv), 0);
    assert_int_equal(reports_of(&f.rec), 4);
    for (size_t k = 0; k < 4; k++)
        assert_report(&f.rec, k, SEGOPS_E_TOO_LARGE, 413, 1, SEGOPS_DROP_TOO_LARGE);
    assert_int_equal(f.rec.by_reason[SEGOPS_DROP_TOO_LARGE], 4);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.dropped_too_large, 4);
    assert_int_equal(st.dropped, 4);
    assert_int_equal(st.requests, 7);
    fixture_stop(&f);
}

/* ---- 429 and Retry-After ---- */

static void test_429_retry_after_seconds_is_honoured(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    fixture_client(&f, fault_options(&f, 1000));
    assert_int_equal(devsrv_script_text(f.srv, "429:ra=2"), 0);
    track_n(f.client, 0, 3);
    int64_t t0 = now_ms();
    assert_int_equal(segops_flush(f.client, 15000), SEGOPS_OK);
    int64_t elapsed = now_ms() - t0;
    /* A lower bound the server demands: the retry did not come before 2 s. */
    if (elapsed < 2000)
        fail_msg("retried after %lld ms despite Retry-After: 2", (long long)elapsed);
    assert_server_holds(f.srv, 0, 3, 1);
    assert_int_equal(server_stats(f.srv).batch_requests, 2);
    assert_int_equal(stats_of(f.client).delivered, 3);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

/* A 503 with Retry-After waits at least that long, even when a flush asks. */
static void test_503_retry_after_is_a_floor(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    fixture_client(&f, fault_options(&f, 1000));
    assert_int_equal(devsrv_script_text(f.srv, "503:ra=1"), 0);
    track_n(f.client, 0, 2);
    int64_t t0 = now_ms();
    assert_int_equal(segops_flush(f.client, 15000), SEGOPS_OK);
    int64_t elapsed = now_ms() - t0;
    if (elapsed < 1000)
        fail_msg("retried after %lld ms despite Retry-After: 1", (long long)elapsed);
    assert_server_holds(f.srv, 0, 2, 1);
    assert_int_equal(stats_of(f.client).retries, 1);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

static void test_429_does_not_use_up_retries(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    segops_options_t *opts = fault_options(&f, 1000);
    assert_int_equal(segops_options_set_max_retries(opts, 0), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(devsrv_script_text(f.srv, "429:ra=0,429:ra=0"), 0);
    track_n(f.client, 0, 3);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 3, 1);
    assert_int_equal(server_stats(f.srv).batch_requests, 3);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.delivered, 3);
    assert_int_equal(st.requests, 3);
    assert_int_equal(reports_of(&f.rec), 0);

    /* Whereas one 503 with max_retries 0 drops the batch. */
    assert_int_equal(devsrv_script_text(f.srv, "503"), 0);
    track_n(f.client, 3, 2);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_int_equal(reports_of(&f.rec), 1);
    assert_report(&f.rec, 0, SEGOPS_E_SERVER, 503, 2, SEGOPS_DROP_RETRIES_EXHAUSTED);
    fixture_stop(&f);
}

static void test_429_retry_after_http_date(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    fixture_client(&f, fault_options(&f, 1000));
    /* An HTTP-date 3 whole seconds past the current one: more than 2 s away. */
    int64_t t0 = now_ms();
    time_t when = time(NULL) + 3;
    struct tm tm;
    gmtime_r(&when, &tm);
    char date[64], script[128];
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(script, sizeof script, "429:ra=\"%s\"", date);
    assert_int_equal(devsrv_script_text(f.srv, script), 0);
    track_n(f.client, 0, 2);
    assert_int_equal(segops_flush(f.client, 15000), SEGOPS_OK);
    int64_t elapsed = now_ms() - t0;
    if (elapsed < 2000) fail_msg("retried after %lld ms, before %s", (long long)elapsed, date);
    assert_true(time(NULL) >= when);
    assert_server_holds(f.srv, 0, 2, 1);
    assert_int_equal(server_stats(f.srv).batch_requests, 2);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

/* ---- slow, silent and broken connections ---- */

static void test_delay_within_timeout_delivers(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    segops_options_t *opts = fault_options(&f, 1000);
    assert_int_equal(segops_options_set_request_timeout_ms(opts, 5000), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(devsrv_script_text(f.srv, "delay=300"), 0);
    track_n(f.client, 0, 3);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 3, 1);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.retries, 0);
    assert_int_equal(st.delivered, 3);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

static void test_no_answer_times_out_and_retries(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    segops_options_t *opts = fault_options(&f, 1000);
    assert_int_equal(segops_options_set_request_timeout_ms(opts, 300), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(devsrv_script_text(f.srv, "noanswer"), 0);
    track_n(f.client, 0, 3);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 3, 1);
    assert_int_equal(server_stats(f.srv).batch_requests, 2);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.requests, 2);
    assert_int_equal(st.retries, 1);
    assert_int_equal(st.delivered, 3);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

static void test_close_before_answer_retried_once(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    fixture_client(&f, fault_options(&f, 1000));
    assert_int_equal(devsrv_script_text(f.srv, "close"), 0);
    track_n(f.client, 0, 4);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 4, 1);
    assert_int_equal(devsrv_event_count(f.srv), 4);
    assert_int_equal(server_stats(f.srv).batch_requests, 2);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.retries, 1);
    assert_int_equal(st.delivered, 4);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

/* The server recorded the batch but the answer was cut: the client cannot know,
 * so it retries and the server holds every event twice (at-least-once). */
static void test_close_mid_answer_duplicates(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    fixture_client(&f, fault_options(&f, 1000));
    assert_int_equal(devsrv_script_text(f.srv, "closemid"), 0);
    track_n(f.client, 0, 4);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 4, 2);
    devsrv_stats_t ss = server_stats(f.srv);
    assert_int_equal(ss.events_received, 8);
    assert_int_equal(ss.batch_requests, 2);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.delivered, 4); /* counted once by the client */
    assert_int_equal(st.retries, 1);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

typedef struct resumer {
    devsrv_t *srv;
    int after_ms;
    int rc;
} resumer_t;

static void *resume_later(void *arg) {
    resumer_t *r = arg;
    sleep_ms(r->after_ms);
    r->rc = devsrv_resume(r->srv);
    return NULL;
}

static void test_server_down_for_a_while_loses_nothing(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    segops_options_t *opts = fault_options(&f, 1000);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 50, 200), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_retries(opts, 100), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(devsrv_pause(f.srv), 0); /* connections are refused */
    track_n(f.client, 0, 7);
    resumer_t r = {f.srv, 2000, -1};
    pthread_t t;
    pthread_create(&t, NULL, resume_later, &r);
    int64_t t0 = now_ms();
    assert_int_equal(segops_flush(f.client, 20000), SEGOPS_OK);
    int64_t elapsed = now_ms() - t0;
    pthread_join(t, NULL);
    assert_int_equal(r.rc, 0);
    assert_true(elapsed >= 1900); /* it could not have delivered while the port was shut */
    assert_server_holds(f.srv, 0, 7, 1);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.delivered, 7);
    assert_true(st.retries >= 2);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

/* ---- overflow policies ---- */

/* A client whose first batch (of `queue` events) is held by a silent server,
 * leaving an empty queue of `queue` places that does not drain. */
static void start_stuck(fixture_t *f, size_t queue, segops_overflow_t policy, uint32_t block_ms) {
    fixture_start(f);
    segops_options_t *opts = fault_options(f, queue);
    assert_int_equal(segops_options_set_max_queue_events(opts, queue), SEGOPS_OK);
    assert_int_equal(segops_options_set_overflow(opts, policy), SEGOPS_OK);
    assert_int_equal(segops_options_set_block_timeout_ms(opts, block_ms), SEGOPS_OK);
    fixture_client(f, opts);
    assert_int_equal(devsrv_script_text(f->srv, "noanswer"), 0);
    track_n(f->client, 0, (int)queue);
    wait_requests(f->srv, 1);
    assert_int_equal(stats_of(f->client).pending, queue);
}

static void test_overflow_drop_newest(void **state) {
    (void)state;
    fixture_t f;
    start_stuck(&f, 5, SEGOPS_OVERFLOW_DROP_NEWEST, 0);
    track_n(f.client, 5, 5); /* fills the queue */
    for (int i = 10; i < 13; i++)
        assert_int_equal(segops_track(f.client, "u", "e", "{\"late\":true}"), SEGOPS_E_QUEUE_FULL);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.rejected_queue_full, 3);
    assert_int_equal(st.enqueued, 10);
    assert_int_equal(st.pending, 10);
    assert_conservation(f.client);

    unstick(f.srv);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 10, 1);
    assert_int_equal(devsrv_event_count(f.srv), 10);
    st = stats_of(f.client);
    assert_int_equal(st.delivered, 10);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(reports_of(&f.rec), 0); /* a refused track is not a drop */
    fixture_stop(&f);
}

/* The bounds hold across lanes: threads racing for the last places of a full
 * queue never overfill it, and every refusal is counted. */
enum { RACE_THREADS = 8, RACE_TRIES = 200, RACE_QUEUE = 400 };

typedef struct racer {
    segops_client_t *client;
    int id;
    int accepted, refused;
} racer_t;

static void *race_for_room(void *arg) {
    racer_t *r = arg;
    char payload[48];
    for (int i = 0; i < RACE_TRIES; i++) {
        snprintf(payload, sizeof payload, "{\"i\":%d}", 1000 + r->id * RACE_TRIES + i);
        segops_err_t err = segops_track(r->client, "u", "e", payload);
        if (err == SEGOPS_OK)
            r->accepted++;
        else if (err == SEGOPS_E_QUEUE_FULL)
            r->refused++;
    }
    return NULL;
}

static void test_queue_bound_holds_across_threads(void **state) {
    (void)state;
    fixture_t f;
    start_stuck(&f, RACE_QUEUE, SEGOPS_OVERFLOW_DROP_NEWEST, 0); /* RACE_QUEUE in flight */
    racer_t racers[RACE_THREADS];
    pthread_t threads[RACE_THREADS];
    for (int t = 0; t < RACE_THREADS; t++) {
        racers[t] = (racer_t){f.client, t, 0, 0};
        pthread_create(&threads[t], NULL, race_for_room, &racers[t]);
    }
    int accepted = 0, refused = 0;
    for (int t = 0; t < RACE_THREADS; t++) {
        pthread_join(threads[t], NULL);
        accepted += racers[t].accepted;
        refused += racers[t].refused;
    }
    assert_int_equal(accepted + refused, RACE_THREADS * RACE_TRIES);
    assert_true(accepted <= RACE_QUEUE);                /* never over the bound */
    assert_true(accepted >= RACE_QUEUE - RACE_THREADS); /* a race may refuse near it */
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.enqueued, RACE_QUEUE + (uint64_t)accepted);
    assert_int_equal(st.rejected_queue_full, (uint64_t)refused);
    assert_int_equal(st.pending, RACE_QUEUE + (uint64_t)accepted);
    assert_conservation(f.client);

    unstick(f.srv);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    st = stats_of(f.client);
    assert_int_equal(st.delivered, RACE_QUEUE + (uint64_t)accepted);
    assert_int_equal(devsrv_event_count(f.srv), RACE_QUEUE + (size_t)accepted);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

static void test_overflow_drop_oldest(void **state) {
    (void)state;
    fixture_t f;
    start_stuck(&f, 5, SEGOPS_OVERFLOW_DROP_OLDEST, 0);
    track_n(f.client, 5, 8); /* 5..9 fill the queue; 10..12 evict 5..7 */
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.enqueued, 13);
    assert_int_equal(st.dropped_queue_overflow, 3);
    assert_int_equal(st.pending, 10);
    assert_conservation(f.client);
    assert_int_equal(reports_of(&f.rec), 3); /* one per evicting track, on its thread */
    for (size_t k = 0; k < 3; k++)
        assert_report(&f.rec, k, SEGOPS_E_QUEUE_FULL, 0, 1, SEGOPS_DROP_QUEUE_OVERFLOW);

    unstick(f.srv);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 5, 1); /* the batch in flight was never evictable */
    assert_server_holds(f.srv, 5, 3, 0); /* the evicted ones */
    assert_server_holds(f.srv, 8, 5, 1); /* the newest queued ones */
    assert_int_equal(devsrv_event_count(f.srv), 10);
    st = stats_of(f.client);
    assert_int_equal(st.delivered, 10);
    assert_int_equal(f.rec.by_reason[SEGOPS_DROP_QUEUE_OVERFLOW], 3);
    assert_int_equal(f.rec.events, st.dropped);
    fixture_stop(&f);
}

/* DROP_OLDEST under load: producers evict from the head while the worker walks
 * the queue without the lock to take a batch. Every event is delivered once or
 * reported dropped, and each producer's events arrive in the order tracked. */
enum { EVICT_THREADS = 3, EVICT_PER_THREAD = 20000 };

typedef struct evict_producer {
    segops_client_t *client;
    int id;
} evict_producer_t;

static void *evict_produce(void *arg) {
    evict_producer_t *p = arg;
    char payload[48];
    for (int i = 0; i < EVICT_PER_THREAD; i++) {
        snprintf(payload, sizeof payload, "{\"t\":%d,\"i\":%d}", p->id, i);
        assert_int_equal(segops_track(p->client, "u", "e", payload), SEGOPS_OK);
    }
    return NULL;
}

static void drop_oldest_race(size_t queue_events, size_t batch_size) {
    fixture_t f;
    fixture_start(&f);
    segops_options_t *opts = make_options(f.srv, TEST_SK, &f.rec);
    assert_int_equal(segops_options_set_max_queue_events(opts, queue_events), SEGOPS_OK);
    assert_int_equal(segops_options_set_batch_size(opts, batch_size), SEGOPS_OK);
    assert_int_equal(segops_options_set_overflow(opts, SEGOPS_OVERFLOW_DROP_OLDEST), SEGOPS_OK);
    fixture_client(&f, opts);

    evict_producer_t prod[EVICT_THREADS];
    pthread_t threads[EVICT_THREADS];
    for (int t = 0; t < EVICT_THREADS; t++) {
        prod[t] = (evict_producer_t){f.client, t};
        pthread_create(&threads[t], NULL, evict_produce, &prod[t]);
    }
    for (int t = 0; t < EVICT_THREADS; t++) pthread_join(threads[t], NULL);
    assert_int_equal(segops_flush(f.client, 20000), SEGOPS_OK);

    segops_stats_t st = stats_of(f.client);
    const uint64_t total = EVICT_THREADS * EVICT_PER_THREAD;
    assert_int_equal(st.enqueued, total);
    assert_int_equal(st.pending, 0);
    assert_true(st.dropped_queue_overflow > 0); /* producers did outrun the worker */
    assert_int_equal(st.delivered + st.dropped_queue_overflow, total);
    assert_int_equal(f.rec.events, st.dropped);
    assert_int_equal(f.rec.by_reason[SEGOPS_DROP_QUEUE_OVERFLOW], st.dropped);

    size_t n = devsrv_event_count(f.srv);
    assert_int_equal(n, st.delivered);
    int last[EVICT_THREADS];
    for (int t = 0; t < EVICT_THREADS; t++) last[t] = -1;
    for (size_t k = 0; k < n; k++) {
        devsrv_event_t ev;
        assert_int_equal(devsrv_event_at(f.srv, k, &ev), 0);
        int t = -1, i = -1;
        assert_int_equal(sscanf(ev.payload_json, "{\"t\":%d,\"i\":%d}", &t, &i), 2);
        assert_true(t >= 0 && t < EVICT_THREADS);
        assert_true(i > last[t]); /* in order, and never twice */
        last[t] = i;
        devsrv_event_free(&ev);
    }
    fixture_stop(&f);
}

static void test_drop_oldest_while_worker_walks(void **state) {
    (void)state;
    drop_oldest_race(600, 100);
}

/* A queue of 3: evictions empty it while the worker walks, and refill it. */
static void test_drop_oldest_tiny_queue(void **state) {
    (void)state;
    drop_oldest_race(3, 3);
}

typedef struct blocked_track {
    segops_client_t *client;
    segops_err_t rc;
    int done;
    pthread_mutex_t lock;
} blocked_track_t;

static void *track_blocking(void *arg) {
    blocked_track_t *b = arg;
    segops_err_t rc = segops_track(b->client, "u", "e", "{\"i\":100}");
    pthread_mutex_lock(&b->lock);
    b->rc = rc;
    b->done = 1;
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

static void test_overflow_block(void **state) {
    (void)state;
    fixture_t f;
    start_stuck(&f, 3, SEGOPS_OVERFLOW_BLOCK, 2000);
    track_n(f.client, 3, 3); /* fills the queue */

    int64_t t0 = now_ms();
    assert_int_equal(segops_track(f.client, "u", "e", "{\"late\":1}"), SEGOPS_E_QUEUE_FULL);
    int64_t waited = now_ms() - t0;
    assert_true(waited >= 1990);          /* it did block for block_timeout_ms */
    assert_true(waited < 2000 + HANG_MS); /* and no longer */
    assert_int_equal(stats_of(f.client).rejected_queue_full, 1);

    blocked_track_t b = {f.client, SEGOPS_E_INTERNAL, 0, PTHREAD_MUTEX_INITIALIZER};
    pthread_t t;
    pthread_create(&t, NULL, track_blocking, &b);
    sleep_ms(100);
    pthread_mutex_lock(&b.lock);
    assert_int_equal(b.done, 0); /* still waiting for room */
    pthread_mutex_unlock(&b.lock);
    /* The retry of the stuck batch goes through; the next batch hangs in turn:
     * taking it from the queue is what makes room, not delivering it. */
    assert_int_equal(devsrv_script_text(f.srv, "delay=0,noanswer"), 0);
    unstick(f.srv);
    pthread_join(t, NULL);
    assert_int_equal(b.rc, SEGOPS_OK);
    wait_requests(f.srv, 3);
    assert_server_holds(f.srv, 0, 3, 1);
    assert_server_holds(f.srv, 3, 3, 0); /* the second batch is still held */

    unstick(f.srv);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 6, 1);
    assert_server_holds(f.srv, 100, 1, 1);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.enqueued, 7);
    assert_int_equal(st.delivered, 7);
    assert_int_equal(st.rejected_queue_full, 1);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

/* Tracks an event of about 1300 encoded bytes: three fit in 4096 bytes. */
static segops_err_t track_big(segops_client_t *client, int i) {
    char payload[1400];
    int n = snprintf(payload, sizeof payload, "{\"i\":%d,\"pad\":\"", i);
    memset(payload + n, 'x', 1200);
    memcpy(payload + n + 1200, "\"}", 3);
    return segops_track(client, "u", "e", payload);
}

static segops_client_t *bytes_bound_client(fixture_t *f, segops_overflow_t policy) {
    segops_options_t *opts = fault_options(f, 20);
    assert_int_equal(segops_options_set_max_event_bytes(opts, 2048), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_queue_bytes(opts, 4096), SEGOPS_OK);
    assert_int_equal(segops_options_set_overflow(opts, policy), SEGOPS_OK);
    assert_int_equal(segops_options_set_block_timeout_ms(opts, 5000), SEGOPS_OK);
    fixture_client(f, opts);
    return f->client;
}

static void test_max_queue_bytes_drop_newest(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    bytes_bound_client(&f, SEGOPS_OVERFLOW_DROP_NEWEST);
    for (int i = 0; i < 3; i++) assert_int_equal(track_big(f.client, i), SEGOPS_OK);
    assert_int_equal(track_big(f.client, 3), SEGOPS_E_QUEUE_FULL);
    assert_int_equal(track_big(f.client, 4), SEGOPS_E_QUEUE_FULL);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.enqueued, 3);
    assert_int_equal(st.rejected_queue_full, 2);
    assert_true(st.pending_bytes <= 4096);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_int_equal(devsrv_event_count(f.srv), 3);
    assert_int_equal(stats_of(f.client).delivered, 3);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

/* The byte bound fills before batch_size is reached: a blocked track must still
 * make the worker send, or it waits for the (hour-long) flush interval. */
static void test_max_queue_bytes_block_drains(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    bytes_bound_client(&f, SEGOPS_OVERFLOW_BLOCK);
    for (int i = 0; i < 8; i++) assert_int_equal(track_big(f.client, i), SEGOPS_OK);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_int_equal(devsrv_event_count(f.srv), 8);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.delivered, 8);
    assert_int_equal(st.rejected_queue_full, 0);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

/* ---- deadlines against a server that never answers ---- */

static void test_shutdown_deadline_with_silent_server(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    fixture_client(&f, fault_options(&f, 1000)); /* default request timeout: 10 s */
    assert_int_equal(devsrv_script_text(f.srv, "noanswer"), 0);
    track_n(f.client, 0, 600); /* 500 go in flight, 100 stay queued */
    int64_t t0 = now_ms();
    assert_int_equal(segops_shutdown(f.client, 500), SEGOPS_E_TIMEOUT);
    int64_t elapsed = now_ms() - t0;
    if (elapsed >= HANG_MS) fail_msg("shutdown(500) took %lld ms", (long long)elapsed);
    assert_true(elapsed >= 450);

    assert_int_equal(devsrv_event_count(f.srv), 0);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.enqueued, 600);
    assert_int_equal(st.dropped_shutdown, 600);
    assert_int_equal(st.dropped, 600);
    assert_int_equal(st.pending, 0);
    assert_conservation(f.client);
    assert_int_equal(f.rec.events, 600);
    assert_int_equal(f.rec.by_reason[SEGOPS_DROP_SHUTDOWN], 600);
    for (size_t k = 0; k < reports_of(&f.rec); k++) {
        assert_int_equal(f.rec.info[k].code, SEGOPS_E_TIMEOUT);
        assert_int_equal(f.rec.info[k].reason, SEGOPS_DROP_SHUTDOWN);
    }
    /* Idempotent: a later call returns the first one's result, never SEGOPS_OK
     * for the events it dropped. */
    assert_int_equal(segops_shutdown(f.client, 500), SEGOPS_E_TIMEOUT);
    fixture_stop(&f);
}

static void test_flush_deadline_with_silent_server(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    fixture_client(&f, fault_options(&f, 1000));
    assert_int_equal(devsrv_script_text(f.srv, "noanswer"), 0);
    track_n(f.client, 0, 5);
    int64_t t0 = now_ms();
    assert_int_equal(segops_flush(f.client, 500), SEGOPS_E_TIMEOUT);
    int64_t elapsed = now_ms() - t0;
    assert_true(elapsed >= 490);
    if (elapsed >= HANG_MS) fail_msg("flush(500) took %lld ms", (long long)elapsed);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.pending, 5); /* a flush timeout drops nothing */
    assert_int_equal(st.dropped, 0);
    assert_int_equal(reports_of(&f.rec), 0);
    assert_conservation(f.client);

    t0 = now_ms();
    assert_int_equal(segops_shutdown(f.client, 300), SEGOPS_E_TIMEOUT);
    if (now_ms() - t0 >= HANG_MS) fail_msg("shutdown(300) hung");
    assert_int_equal(reports_of(&f.rec), 1);
    assert_report(&f.rec, 0, SEGOPS_E_TIMEOUT, 0, 5, SEGOPS_DROP_SHUTDOWN);
    fixture_stop(&f);
}

/* ---- a flush cuts a backoff wait short ---- */

static segops_client_t *long_backoff_client(fixture_t *f) {
    segops_options_t *opts = fault_options(f, 5);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 20000, 20000), SEGOPS_OK);
    fixture_client(f, opts);
    return f->client;
}

static void test_flush_cuts_backoff_short(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    long_backoff_client(&f);
    assert_int_equal(devsrv_script_text(f.srv, "503"), 0);
    track_n(f.client, 0, 5); /* batch_size: sent at once, answered 503 */
    wait_requests(f.srv, 1);
    sleep_ms(100); /* the worker is in its 10..20 s backoff now */
    /* A backoff is at least 10 s: delivering within 8 s proves the cut. */
    assert_int_equal(segops_flush(f.client, 8000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 5, 1);
    assert_int_equal(stats_of(f.client).retries, 1);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

/* The flush arrives while the failing attempt is still in flight: the backoff
 * that follows must not ignore it. */
static void test_flush_during_failing_attempt_cuts_backoff(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    long_backoff_client(&f);
    devsrv_set_answer_delay(f.srv, 500);
    assert_int_equal(devsrv_script_text(f.srv, "503"), 0);
    track_n(f.client, 0, 5);
    wait_requests(f.srv, 1); /* the server holds the request for 500 ms, then 503 */
    devsrv_set_answer_delay(f.srv, 0);
    assert_int_equal(segops_flush(f.client, 8000), SEGOPS_OK);
    assert_server_holds(f.srv, 0, 5, 1);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_stop(&f);
}

/* ---- soak: producers, random faults, exact books ---- */

#define SOAK_THREADS 4
#define SOAK_MS 8000
#define SOAK_MAX_PER_THREAD 20000

typedef struct soak_producer {
    segops_client_t *client;
    int id;
    int produced;
    int failures;
    volatile int *stop;
} soak_producer_t;

static void *soak_produce(void *arg) {
    soak_producer_t *p = arg;
    char payload[64];
    while (!__atomic_load_n(p->stop, __ATOMIC_ACQUIRE) && p->produced < SOAK_MAX_PER_THREAD) {
        snprintf(payload, sizeof payload, "{\"t\":%d,\"i\":%d}", p->id, p->produced);
        if (segops_track(p->client, "soak-user", "soak_event", payload) == SEGOPS_OK)
            p->produced++;
        else
            p->failures++;
        if (p->produced % 4 == 0) sleep_ms(1);
    }
    return NULL;
}

static void test_soak_random_faults_balance_exactly(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f);
    segops_options_t *opts = make_options(f.srv, TEST_SK, &f.rec);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 5, 50), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_retries(opts, 100), SEGOPS_OK);
    assert_int_equal(segops_options_set_flush_interval_ms(opts, 100), SEGOPS_OK);
    assert_int_equal(segops_options_set_request_timeout_ms(opts, 2000), SEGOPS_OK);
    fixture_client(&f, opts);

    unsigned seed = (unsigned)time(NULL);
    printf("soak seed %u\n", seed);
    static const char *const kinds[] = {"503", "429:ra=0", "delay=150", "close", "closemid"};
    int scripted[5] = {0};

    volatile int stop = 0;
    soak_producer_t prod[SOAK_THREADS];
    pthread_t threads[SOAK_THREADS];
    for (int t = 0; t < SOAK_THREADS; t++) {
        prod[t] = (soak_producer_t){f.client, t, 0, 0, &stop};
        pthread_create(&threads[t], NULL, soak_produce, &prod[t]);
    }
    int64_t end = now_ms() + SOAK_MS;
    while (now_ms() < end) {
        int k = (int)(rand_r(&seed) % 5);
        assert_int_equal(devsrv_script_text(f.srv, kinds[k]), 0);
        scripted[k]++;
        sleep_ms(40 + (int)(rand_r(&seed) % 80));
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int t = 0; t < SOAK_THREADS; t++) pthread_join(threads[t], NULL);

    /* Make every scripted fault apply: each flush sends at least one request. */
    int extra = 0;
    while (devsrv_script_pending(f.srv) > 0) {
        char payload[64];
        snprintf(payload, sizeof payload, "{\"t\":%d,\"i\":%d}", SOAK_THREADS, extra);
        assert_int_equal(segops_track(f.client, "soak-user", "soak_event", payload), SEGOPS_OK);
        extra++;
        assert_int_equal(segops_flush(f.client, 20000), SEGOPS_OK);
    }
    int64_t t0 = now_ms();
    assert_int_equal(segops_shutdown(f.client, 20000), SEGOPS_OK);
    assert_true(now_ms() - t0 < 20000 + HANG_MS);

    uint64_t produced = (uint64_t)extra;
    for (int t = 0; t < SOAK_THREADS; t++) {
        assert_int_equal(prod[t].failures, 0);
        produced += (uint64_t)prod[t].produced;
    }
    int faults = 0;
    for (int k = 0; k < 5; k++) faults += scripted[k];
    printf("soak: %llu events, %d faults (503 %d, 429 %d, delay %d, close %d, closemid %d)\n",
           (unsigned long long)produced, faults, scripted[0], scripted[1], scripted[2], scripted[3],
           scripted[4]);

    segops_stats_t st = stats_of(f.client);
    devsrv_stats_t ss = server_stats(f.srv);
    assert_int_equal(ss.faults_applied, (uint64_t)faults);
    assert_int_equal(st.enqueued, produced);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.enqueued, st.delivered + st.dropped + st.pending);
    assert_int_equal(st.dropped, 0); /* retries were plentiful and the deadline generous */
    assert_int_equal(f.rec.events, st.dropped);

    /* Every event on the server, counted by identity; the copies beyond the
     * first came from requests cut after the server recorded them. */
    int *copies[SOAK_THREADS + 1];
    uint64_t *last_req[SOAK_THREADS + 1];
    int sizes[SOAK_THREADS + 1];
    for (int t = 0; t <= SOAK_THREADS; t++) {
        sizes[t] = t < SOAK_THREADS ? prod[t].produced : extra;
        copies[t] = calloc((size_t)sizes[t] + 1, sizeof(int));
        last_req[t] = calloc((size_t)sizes[t] + 1, sizeof(uint64_t));
    }
    size_t n = devsrv_event_count(f.srv);
    assert_int_equal(n, ss.events_received);
    uint64_t max_req = ss.batch_requests + 1;
    unsigned char *cut_req = calloc(max_req + 1, 1); /* requests whose events came again */
    uint64_t duplicates = 0;
    for (size_t k = 0; k < n; k++) {
        devsrv_event_t ev;
        assert_int_equal(devsrv_event_at(f.srv, k, &ev), 0);
        int t = -1, i = -1;
        assert_int_equal(sscanf(ev.payload_json, "{\"t\":%d,\"i\":%d}", &t, &i), 2);
        assert_true(t >= 0 && t <= SOAK_THREADS && i >= 0 && i < sizes[t]);
        if (copies[t][i]++ > 0) {
            duplicates++;
            assert_true(last_req[t][i] < ev.request_no);
            cut_req[last_req[t][i]] = 1;
        }
        last_req[t][i] = ev.request_no;
        devsrv_event_free(&ev);
    }
    uint64_t unique = 0;
    for (int t = 0; t <= SOAK_THREADS; t++) {
        for (int i = 0; i < sizes[t]; i++) {
            if (copies[t][i] == 0) fail_msg("event t=%d i=%d never reached the server", t, i);
            unique++;
        }
        free(copies[t]);
        free(last_req[t]);
    }
    int cut_requests = 0;
    for (uint64_t r = 0; r <= max_req; r++) cut_requests += cut_req[r];
    free(cut_req);

    assert_int_equal(unique, st.delivered);
    assert_int_equal(ss.events_received, st.delivered + duplicates);
    /* Exactly one request per applied closemid had its events recorded twice. */
    assert_int_equal(cut_requests, scripted[4]);
    assert_conservation(f.client);
    fixture_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_503_then_success_delivers_once),
        cmocka_unit_test(test_500_until_retries_exhausted),
        cmocka_unit_test(test_501_not_retried),
        cmocka_unit_test(test_400_rejected_once),
        cmocka_unit_test(test_408_retried),
        cmocka_unit_test(test_413_splits_batch_in_halves),
        cmocka_unit_test(test_413_down_to_single_events),
        cmocka_unit_test(test_429_retry_after_seconds_is_honoured),
        cmocka_unit_test(test_503_retry_after_is_a_floor),
        cmocka_unit_test(test_429_does_not_use_up_retries),
        cmocka_unit_test(test_429_retry_after_http_date),
        cmocka_unit_test(test_delay_within_timeout_delivers),
        cmocka_unit_test(test_no_answer_times_out_and_retries),
        cmocka_unit_test(test_close_before_answer_retried_once),
        cmocka_unit_test(test_close_mid_answer_duplicates),
        cmocka_unit_test(test_server_down_for_a_while_loses_nothing),
        cmocka_unit_test(test_overflow_drop_newest),
        cmocka_unit_test(test_queue_bound_holds_across_threads),
        cmocka_unit_test(test_overflow_drop_oldest),
        cmocka_unit_test(test_drop_oldest_while_worker_walks),
        cmocka_unit_test(test_drop_oldest_tiny_queue),
        cmocka_unit_test(test_overflow_block),
        cmocka_unit_test(test_max_queue_bytes_drop_newest),
        cmocka_unit_test(test_max_queue_bytes_block_drains),
        cmocka_unit_test(test_shutdown_deadline_with_silent_server),
        cmocka_unit_test(test_flush_deadline_with_silent_server),
        cmocka_unit_test(test_flush_cuts_backoff_short),
        cmocka_unit_test(test_flush_during_failing_attempt_cuts_backoff),
        cmocka_unit_test(test_soak_random_faults_balance_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
