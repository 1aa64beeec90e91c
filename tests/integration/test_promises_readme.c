/* Issue 19, untested README promises, checked against the local server:
 * - redirects are not followed (they would carry the key elsewhere);
 * - segops_flush / segops_shutdown return SEGOPS_E_STATE and
 *   segops_client_free does nothing from inside a callback;
 * - with batching off, idle connections are kept for reuse, up to 8. */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounded_thread.h"
#include "producers.h"

/* ---- redirects ---- */

/* The batch endpoint answers 307 pointing at a second server that knows the
 * same key: the client must not send the events (or the key) there. The 307
 * is an HTTP status like any other 3xx: the events are dropped as rejected
 * and reported once. */
static void redirects_are_not_followed(void **state) {
    (void)state;
    fixture_t f;
    fixture_start_faulty(&f, 1);
    devsrv_t *elsewhere = start_server(NULL);
    char script[256];
    snprintf(script, sizeof script, "307:loc=\"%s/api/ingestion/track/batch/\"",
             devsrv_url(elsewhere));
    track_and_flush(&f, script, 1, HANG_MS);

    assert_int_equal(server_stats(elsewhere).batch_requests, 0);
    assert_int_equal(server_stats(f.srv).batch_requests, 1);
    assert_int_equal(devsrv_event_count(f.srv), 0);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.dropped_rejected, 1);
    assert_int_equal(reports_of(&f.rec), 1);
    assert_report(&f.rec, 0, SEGOPS_E_HTTP, 307, 1, SEGOPS_DROP_REJECTED);
    devsrv_stop(elsewhere);
    fixture_stop(&f);
}

/* ---- lifecycle calls from inside callbacks ---- */

/* What the lifecycle calls returned inside a callback; written by the
 * library's threads, read by the test after a flush has settled them. */
typedef struct inside {
    pthread_mutex_t lock;
    segops_client_t *client;
    int calls;
    segops_err_t flushed, shut_down;
} inside_t;

static void call_lifecycle(inside_t *in) {
    pthread_mutex_lock(&in->lock);
    segops_client_t *client = in->client;
    bool first = in->calls++ == 0;
    pthread_mutex_unlock(&in->lock);
    if (!first) return;
    segops_err_t flushed = segops_flush(client, 1000);
    segops_err_t shut_down = segops_shutdown(client, 1000);
    segops_client_free(client); /* must do nothing here */
    pthread_mutex_lock(&in->lock);
    in->flushed = flushed;
    in->shut_down = shut_down;
    pthread_mutex_unlock(&in->lock);
}

static void on_error_calls_lifecycle(const segops_error_info_t *error, void *userdata) {
    (void)error;
    call_lifecycle(userdata);
}

static void logger_calls_lifecycle(segops_log_level_t level, const char *message, void *userdata) {
    (void)message;
    if (level == SEGOPS_LOG_WARN) call_lifecycle(userdata);
}

/* Runs one callback that calls flush, shutdown and free, after a scripted
 * fault, then checks the codes and that the client still delivers. */
static void check_lifecycle_inside(const char *script, bool from_logger) {
    fixture_t f;
    fixture_start(&f, NULL);
    inside_t in = {.flushed = SEGOPS_E_INTERNAL, .shut_down = SEGOPS_E_INTERNAL};
    pthread_mutex_init(&in.lock, NULL);
    segops_options_t *opts = fault_options(&f, 1);
    if (from_logger)
        assert_int_equal(
            segops_options_set_logger(opts, logger_calls_lifecycle, SEGOPS_LOG_WARN, &in),
            SEGOPS_OK);
    else
        assert_int_equal(segops_options_set_on_error(opts, on_error_calls_lifecycle, &in),
                         SEGOPS_OK);
    assert_int_equal(segops_client_new(opts, &f.client), SEGOPS_OK);
    segops_options_free(opts);
    pthread_mutex_lock(&in.lock);
    in.client = f.client;
    pthread_mutex_unlock(&in.lock);

    track_and_flush(&f, script, 1, 10000);
    pthread_mutex_lock(&in.lock);
    inside_t seen = in;
    pthread_mutex_unlock(&in.lock);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.flushed, SEGOPS_E_STATE);
    assert_int_equal(seen.shut_down, SEGOPS_E_STATE);

    /* The client was neither shut down nor freed: it still takes and delivers. */
    track_n(f.client, "u", 1, 1);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_int_equal(server_copies(f.srv, 1), 1);
    assert_conservation(f.client);
    fixture_stop(&f);
    pthread_mutex_destroy(&in.lock);
}

static void lifecycle_calls_inside_on_error(void **state) {
    (void)state;
    check_lifecycle_inside("400", false); /* one rejected event: one report */
}

static void lifecycle_calls_inside_logger(void **state) {
    (void)state;
    check_lifecycle_inside("503", true); /* one retry: one WARN line */
}

/* ---- batch = false keeps at most 8 idle connections ---- */

#define SYNC_THREADS 12
#define IDLE_MAX 8

/* This process's established TCP connections to 127.0.0.1:port (client side),
 * from /proc/net/tcp. */
static int connections_to(uint16_t port) {
    FILE *fp = fopen("/proc/net/tcp", "r");
    if (!fp) return -1;
    char line[512];
    int n = 0;
    if (!fgets(line, sizeof line, fp)) { /* the header */
        fclose(fp);
        return -1;
    }
    while (fgets(line, sizeof line, fp)) {
        unsigned rem_addr, rem_port, st;
        if (sscanf(line, "%*d: %*x:%*x %x:%x %x", &rem_addr, &rem_port, &st) == 3 &&
            rem_addr == 0x0100007Fu && rem_port == port && st == 0x01)
            n++;
    }
    fclose(fp);
    return n;
}

/* Runs n batch=false tracks at once, events first..first+n-1; each must succeed. */
static void sync_round(segops_client_t *client, int first, int n) {
    sync_track_job_t jobs[SYNC_THREADS];
    bounded_thread_t threads[SYNC_THREADS];
    for (int i = 0; i < n; i++) {
        jobs[i] = (sync_track_job_t){.client = client,
                                     .event_type = "item_viewed",
                                     .index = first + i,
                                     .result = SEGOPS_E_INTERNAL};
        bounded_start(&threads[i], sync_track_run, &jobs[i]);
    }
    for (int i = 0; i < n; i++)
        if (!bounded_join(&threads[i], now_ms() + 60000)) {
            for (int k = i; k < n; k++) bounded_abandon(&threads[k]);
            fail_msg("a batch=false track still blocked after 60 s");
        }
    for (int i = 0; i < n; i++) assert_int_equal(jobs[i].result, SEGOPS_OK);
}

/* 12 calls at once, each answer held 1 s so all 12 need a connection of their
 * own, then the connections the client still holds: at most 8, and at least
 * one (kept for reuse: the next call opens none). */
static void sync_mode_keeps_at_most_8_idle_connections(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = make_options(f.srv, TEST_SK, &f.rec);
    assert_int_equal(segops_options_set_batch(opts, false), SEGOPS_OK);
    fixture_client(&f, opts);
    int before = connections_to(devsrv_port(f.srv));
    require_or_skip(before >= 0, "/proc/net/tcp cannot be read", SKIP_MACHINE_CANNOT);
    assert_int_equal(before, 0);

    devsrv_set_answer_delay(f.srv, 1000);
    sync_round(f.client, 0, SYNC_THREADS);
    devsrv_set_answer_delay(f.srv, 0);
    uint64_t opened = stats_of(f.client).connections;
    int kept = connections_to(devsrv_port(f.srv));
    printf("%d calls at once opened %llu connections; %d kept open\n", SYNC_THREADS,
           (unsigned long long)opened, kept);
    /* The precondition: more calls overlapped than the pool keeps. */
    if (opened <= IDLE_MAX)
        fail_msg("only %llu of %d calls overlapped (each answer was held 1 s)",
                 (unsigned long long)opened, SYNC_THREADS);
    assert_true(kept <= IDLE_MAX);
    assert_true(kept >= 1);

    sync_round(f.client, SYNC_THREADS, 1);
    assert_int_equal(stats_of(f.client).connections, opened);
    assert_server_holds(f.srv, 0, SYNC_THREADS + 1, 1);
    fixture_finish(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redirects_are_not_followed),
        cmocka_unit_test(lifecycle_calls_inside_on_error),
        cmocka_unit_test(lifecycle_calls_inside_logger),
        cmocka_unit_test(sync_mode_keeps_at_most_8_idle_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
