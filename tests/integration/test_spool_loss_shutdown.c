/* The spool thread's last round under a slow on_error, and segops_flush while a shutdown runs. */
#include "spool_loss.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounded_thread.h"

#include "spool_loss.h"

static void slow_on_error(const segops_error_info_t *error, void *userdata) {
    sleep_ms(1500); /* the host's on_error is slow: nothing may be lost meanwhile */
    recorder_on_error(error, userdata);
}

/* Flips one payload byte of record `index` in a segment: that record alone is
 * lost. Returns its event number. */
static int flip_payload(const char *path, size_t index) {
    size_t off[RECORDS_MAX + 1];
    int num[RECORDS_MAX];
    size_t n = segment_records(path, off, num, RECORDS_MAX);
    assert_true(index + 1 < n);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    long at = (long)off[index + 1] - 4; /* in the padding: 'a' becomes 'b' */
    assert_int_equal(fseek(fp, at, SEEK_SET), 0);
    assert_int_equal(fputc('b', fp), 'b');
    assert_int_equal(fclose(fp), 0);
    return num[index];
}

/* Two damaged records far apart, found by different reads (requests of at
 * most 64 KiB; the server holds the first answer 300 ms, so the first loss is
 * being reported when the next reads run) during the final drain of a
 * shutdown: the first report takes 1.5 s, during which the worker finds the
 * second and the drain ends; both are reported and counted before shutdown
 * returns (the spool thread used to stop without a last round). */
static void test_slow_on_error_loses_no_report(void **state) {
    (void)state;
    const char *dir = spool_path("slow");
    leave_padded_on_disk(&loss, dir, 0, EVENTS, PAD);
    char run[600];
    only_run(dir, run, sizeof run);
    seg_list_t segs;
    list_segments(run, &segs);
    assert_true(segs.n >= 4);
    harm_t h;
    memset(&h, 0, sizeof h);
    h.lost[flip_payload(segs.path[0], 3)] = true;
    h.lost[flip_payload(segs.path[segs.n - 1], 1)] = true;
    h.nlost = 2;

    recorder_t rec;
    recorder_init(&rec);
    size_t from = server_events(loss.srv);
    assert_int_equal(devsrv_script_text(loss.srv, "delay=300"), 0);
    segops_options_t *opts = spool_options(&loss, 500, dir);
    assert_int_equal(segops_options_set_max_request_bytes(opts, 65536), SEGOPS_OK);
    assert_int_equal(segops_options_set_on_error(opts, slow_on_error, &rec), SEGOPS_OK);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops_shutdown(client, 60000), SEGOPS_OK);
    assert_conservation(client);
    segops_stats_t st = stats_of(client);
    segops_client_free(client);

    tally_t t;
    tally_server(loss.srv, from, EVENTS, &t);
    for (int i = 0; i < EVENTS; i++) assert_int_equal(t.copies[i], h.lost[i] ? 0 : 1);
    tally_free(&t);
    assert_int_equal(st.recovered, EVENTS);
    assert_int_equal(st.delivered, EVENTS - 2);
    assert_int_equal(st.dropped_spool_corrupt, 2);
    assert_int_equal(st.pending, 0);
    size_t reports;
    uint64_t reported;
    recorder_snapshot(&rec, &reports, &reported);
    assert_int_equal(reported, 2);
    assert_int_equal(rec.by_reason[SEGOPS_DROP_SPOOL_CORRUPT], 2);
    recorder_destroy(&rec);
    remove_tree(dir);
}

typedef struct stopper {
    segops_client_t *client;
    uint64_t requests; /* shut down once the server has seen this many */
    segops_err_t result;
} stopper_t;

/* Shuts the client down (deadline 0) once its flush's request reached the
 * server: the flush is waiting by then. No assertions off the main thread. */
static void *shutdown_when_sent(void *arg) {
    stopper_t *s = arg;
    int64_t end = now_ms() + 10 * HANG_MS;
    devsrv_stats_t ss;
    do {
        sleep_ms(2);
        devsrv_get_stats(loss.srv, &ss);
    } while (ss.batch_requests < s->requests && now_ms() < end);
    s->result = segops_shutdown(s->client, 0);
    return NULL;
}

typedef struct flusher {
    segops_client_t *client;
    segops_err_t result;
} flusher_t;

static void *flush_without_deadline(void *arg) {
    flusher_t *fl = arg;
    fl->result = segops_flush(fl->client, -1);
    return NULL;
}

/* 100 events pending, nothing delivered: the shutdown leaves them on disk,
 * and the flush that waited for them says so. */
static void test_flush_during_shutdown_with_pending_events(void **state) {
    (void)state;
    const char *dir = spool_path("flush-pending");
    assert_int_equal(devsrv_script_text(loss.srv, "noanswer"), 0);
    stopper_t stop = {NULL, server_stats(loss.srv).batch_requests + 1, SEGOPS_OK};
    segops_options_t *opts = spool_options(&loss, 500, dir);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    stop.client = client;
    track_n(client, "u", 0, 100);
    bounded_thread_t t;
    bounded_start(&t, shutdown_when_sent, &stop);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_E_TIMEOUT);
    assert_true(bounded_join(&t, now_ms() + 10 * HANG_MS));
    assert_int_equal(stop.result, SEGOPS_E_TIMEOUT);
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.pending, 100); /* on disk for the next client */
    assert_conservation(client);
    unstick(loss.srv);
    segops_client_free(client);
    remove_tree(dir);
}

/* A backlog adopted from an earlier run, mostly unread when the shutdown
 * comes: a flush without a deadline returns (it used to spin forever). The
 * first request of 64 KiB gets a 503 and a long backoff, which only the flush
 * cuts: its retry, held by a silent server, shows the flush is waiting. */
static void test_flush_during_shutdown_with_an_unread_backlog(void **state) {
    (void)state;
    const char *dir = spool_path("flush-backlog");
    leave_padded_on_disk(&loss, dir, 0, EVENTS, PAD);
    assert_int_equal(devsrv_script_text(loss.srv, "503,noanswer"), 0);
    uint64_t requests = server_stats(loss.srv).batch_requests;
    stopper_t stop = {NULL, requests + 2, SEGOPS_OK};
    segops_options_t *opts = spool_options(&loss, 500, dir);
    assert_int_equal(segops_options_set_max_request_bytes(opts, 65536), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 60000, 60000), SEGOPS_OK);
    /* One request at a time: the script answers the first two requests, and
     * other senders' reads would be answered 200 before the 503 is seen. */
    assert_int_equal(segops_options_set_max_in_flight(opts, 1), SEGOPS_OK);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    stop.client = client;
    wait_requests(loss.srv, requests + 1); /* the 503: a backoff begins */
    bounded_thread_t stopper, flush;
    flusher_t fl = {client, SEGOPS_OK};
    bounded_start(&stopper, shutdown_when_sent, &stop);
    bounded_start(&flush, flush_without_deadline, &fl);
    if (!bounded_join(&flush, now_ms() + 10 * HANG_MS)) {
        bounded_abandon(&flush);
        fail_msg("segops_flush(-1) did not return after the shutdown");
    }
    assert_true(bounded_join(&stopper, now_ms() + 10 * HANG_MS));
    assert_int_equal(fl.result, SEGOPS_E_TIMEOUT);
    assert_int_equal(stop.result, SEGOPS_E_TIMEOUT);
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.dropped, 0);
    assert_conservation(client);
    unstick(loss.srv);
    segops_client_free(client);
    remove_tree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_on_error_loses_no_report),
        cmocka_unit_test(test_flush_during_shutdown_with_pending_events),
        cmocka_unit_test(test_flush_during_shutdown_with_an_unread_backlog),
    };
    return cmocka_run_group_tests(tests, loss_setup, loss_teardown);
}
