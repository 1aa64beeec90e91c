/* The shared integration-test fixture (see fixture.h). */
#include "fixture.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void fixture_start(fixture_t *f, const devsrv_config_t *cfg) {
    memset(f, 0, sizeof *f);
    f->srv = start_server(cfg);
    recorder_init(&f->rec);
}

void fixture_client(fixture_t *f, segops_options_t *opts) {
    assert_int_equal(segops_client_new(opts, &f->client), SEGOPS_OK);
    segops_options_free(opts);
}

static void teardown(fixture_t *f, int shutdown_ms, bool must_deliver) {
    if (f->client) {
        assert_conservation(f->client);
        segops_err_t err = segops_shutdown(f->client, shutdown_ms);
        if (must_deliver) assert_int_equal(err, SEGOPS_OK);
        assert_conservation(f->client);
        segops_client_free(f->client);
        f->client = NULL;
    }
    devsrv_stop(f->srv);
    recorder_destroy(&f->rec);
}

void fixture_stop(fixture_t *f) { teardown(f, 5000, false); }

void fixture_finish(fixture_t *f) { teardown(f, 10000, true); }

segops_options_t *fault_options(fixture_t *f, size_t batch_size) {
    segops_options_t *opts = make_options(f->srv, TEST_SK, &f->rec);
    assert_int_equal(segops_options_set_batch_size(opts, batch_size), SEGOPS_OK);
    assert_int_equal(segops_options_set_flush_interval_ms(opts, 3600000), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 10, 40), SEGOPS_OK);
    return opts;
}

void fixture_start_faulty(fixture_t *f, size_t batch_size) {
    fixture_start(f, NULL);
    fixture_client(f, fault_options(f, batch_size));
}

int64_t track_and_flush(fixture_t *f, const char *script, int n, int flush_ms) {
    if (script) assert_int_equal(devsrv_script_text(f->srv, script), 0);
    track_n(f->client, "u", 0, n);
    int64_t t0 = now_ms();
    assert_int_equal(segops_flush(f->client, flush_ms), SEGOPS_OK);
    return now_ms() - t0;
}

void fixture_start_stuck(fixture_t *f, size_t queue, segops_overflow_t policy, uint32_t block_ms) {
    fixture_start(f, NULL);
    segops_options_t *opts = fault_options(f, queue);
    assert_int_equal(segops_options_set_max_queue_events(opts, queue), SEGOPS_OK);
    assert_int_equal(segops_options_set_overflow(opts, policy), SEGOPS_OK);
    assert_int_equal(segops_options_set_block_timeout_ms(opts, block_ms), SEGOPS_OK);
    /* One request at a time: nothing else drains the queue. */
    assert_int_equal(segops_options_set_max_in_flight(opts, 1), SEGOPS_OK);
    fixture_client(f, opts);
    assert_int_equal(devsrv_script_text(f->srv, "noanswer"), 0);
    track_n(f->client, "u", 0, (int)queue);
    wait_requests(f->srv, 1);
    assert_int_equal(stats_of(f->client).pending, queue);
}

void track_n(segops_client_t *client, const char *user, int first, int n) {
    char payload[32];
    for (int i = first; i < first + n; i++) {
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        assert_int_equal(segops_track(client, user, "item_viewed", payload), SEGOPS_OK);
    }
}

int server_copies(devsrv_t *srv, int i) {
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

void assert_server_holds(devsrv_t *srv, int first, int n, int copies) {
    for (int i = first; i < first + n; i++) {
        int got = server_copies(srv, i);
        if (got != copies)
            fail_msg("event %d: the server holds %d copies, want %d", i, got, copies);
    }
}

void assert_delivered_once(fixture_t *f, int n, uint64_t requests) {
    assert_server_holds(f->srv, 0, n, 1);
    assert_int_equal(devsrv_event_count(f->srv), n);
    assert_int_equal(server_stats(f->srv).batch_requests, requests);
    segops_stats_t st = stats_of(f->client);
    assert_int_equal(st.requests, requests);
    assert_int_equal(st.retries, requests - 1);
    assert_int_equal(st.delivered, n);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(reports_of(&f->rec), 0);
}

void assert_all_user_ids(devsrv_t *srv, const char *uid) {
    size_t n = devsrv_event_count(srv);
    for (size_t k = 0; k < n; k++) {
        devsrv_event_t ev;
        assert_int_equal(devsrv_event_at(srv, k, &ev), 0);
        assert_string_equal(ev.user_id, uid);
        devsrv_event_free(&ev);
    }
}

void assert_report(recorder_t *rec, size_t index, segops_err_t code, int http_status, size_t count,
                   segops_drop_reason_t reason) {
    assert_true(index < RECORDER_MAX);
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

void wait_requests(devsrv_t *srv, uint64_t n) {
    int64_t end = now_ms() + 10000;
    while (server_stats(srv).batch_requests < n && now_ms() < end) sleep_ms(5);
    assert_true(server_stats(srv).batch_requests >= n);
}

void unstick(devsrv_t *srv) {
    assert_int_equal(devsrv_pause(srv), 0);
    assert_int_equal(devsrv_resume(srv), 0);
}
