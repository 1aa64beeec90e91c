/* Issue 11, defect 10: with batching off, segops_track is in the caller's
 * request path. With default options against a server that cannot be reached
 * every call returns within a bound of at most 30 s, and calls from 8 threads
 * at once all return within that same bound: sends from different threads do
 * not wait for each other. Three ways to be unreachable: nothing listening
 * (refused at once), a listener whose backlog is full (the connect hangs), and
 * a server that reads the request and never answers. */
#include "testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "blackhole.h"
#include "bounded_thread.h"
#include "producers.h"

/* The bound assumed here: a batch=false call returns within
 * min(retry_budget_ms, 30000) ms, 30 s with the default options, plus
 * SLACK_MS for a busy machine to schedule the return. */
#define SYNC_BOUND_MS 30000
#define SLACK_MS 3000
#define THREADS 8
/* A request held by the server is counted as it arrives: concurrent sends all
 * arrive well within one request_timeout_ms (10 s by default). */
#define ARRIVAL_MS 8000

/* Default options but for the URL, the key, batch = false and a recorder. */
static segops_client_t *default_sync_client(const char *url, recorder_t *rec) {
    segops_options_t *opts = make_options(NULL, TEST_SK, rec);
    assert_int_equal(segops_options_set_api_url(opts, url), SEGOPS_OK);
    assert_int_equal(segops_options_set_batch(opts, false), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    return client;
}

/* What the calls of one check share. On the heap: a failed check leaves it,
 * with the client, to the calls it abandons. */
typedef struct sync_run {
    recorder_t rec;
    sync_track_job_t calls[THREADS];
    bounded_thread_t threads[THREADS];
} sync_run_t;

/* Runs `threads` track calls at once and checks each returned within the bound
 * with the failure `expected` (the last attempt's: SEGOPS_E_NETWORK for a
 * refused connect, SEGOPS_E_TIMEOUT for one that hangs or an answer that never
 * comes), counted as dropped with retries exhausted and not reported through
 * on_error. With
 * `srv` (a server holding every request) it also checks that all the calls'
 * first requests arrived together. On failure the calls still running are left
 * behind; `cleanup` runs first either way. */
static void check_bounded(const char *url, int threads, devsrv_t *srv, segops_err_t expected,
                          void (*cleanup)(void *), void *cleanup_arg) {
    sync_run_t *run = calloc(1, sizeof *run);
    assert_non_null(run);
    recorder_init(&run->rec);
    segops_client_t *client = default_sync_client(url, &run->rec);
    sync_track_job_t *calls = run->calls;
    int64_t start = now_ms();
    for (int i = 0; i < threads; i++) {
        calls[i] = (sync_track_job_t){.client = client,
                                      .event_type = "sync_event",
                                      .index = i,
                                      .result = SEGOPS_E_INTERNAL,
                                      .took_ms = -1};
        bounded_start(&run->threads[i], sync_track_run, &calls[i]);
    }

    char why[512] = "";
    if (srv) {
        while (server_stats(srv).batch_requests < (uint64_t)threads &&
               now_ms() - start < ARRIVAL_MS)
            sleep_ms(5);
        uint64_t arrived = server_stats(srv).batch_requests;
        if (arrived < (uint64_t)threads)
            snprintf(why, sizeof why,
                     "the server held %llu of %d requests %d ms after %d batch=false calls "
                     "began: sends from different threads waited for each other",
                     (unsigned long long)arrived, threads, ARRIVAL_MS, threads);
    }
    int finished = 0;
    for (int i = 0; i < threads && !why[0]; i++)
        if (bounded_join(&run->threads[i], start + SYNC_BOUND_MS + SLACK_MS)) finished++;
    if (!why[0] && finished < threads)
        snprintf(why, sizeof why,
                 "%d of %d batch=false track calls (default options, unreachable server) "
                 "were still blocked %d ms after they began; the bound is %d ms",
                 threads - finished, threads, SYNC_BOUND_MS + SLACK_MS, SYNC_BOUND_MS);
    if (why[0]) {
        for (int i = 0; i < threads; i++) bounded_abandon(&run->threads[i]);
        if (cleanup) cleanup(cleanup_arg);
        fail_msg("%s", why);
    }

    for (int i = 0; i < threads; i++) {
        printf("call %d: %s after %lld ms\n", i, segops_strerror(calls[i].result),
               (long long)calls[i].took_ms);
        if (calls[i].took_ms > SYNC_BOUND_MS + SLACK_MS)
            fail_msg("a call took %lld ms", (long long)calls[i].took_ms);
        if (calls[i].result != expected)
            fail_msg("call %d returned %s, not %s", i, segops_strerror(calls[i].result),
                     segops_strerror(expected));
    }
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.enqueued, threads);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.dropped, threads);
    assert_int_equal(st.dropped_retries_exhausted, threads);
    assert_int_equal(st.pending, 0);
    assert_int_equal(reports_of(&run->rec), 0); /* a sync send reports by its return value */
    assert_conservation(client);
    assert_int_equal(segops_shutdown(client, 5000), SEGOPS_OK);
    segops_client_free(client);
    recorder_destroy(&run->rec);
    free(run);
    if (cleanup) cleanup(cleanup_arg);
}

/* ---- nothing listening: every connect is refused at once ---- */

/* Before: one call retried for about 108 s; the others waited for it. */
static void test_refused_calls_from_8_threads_return_within_bound(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    char url[64];
    snprintf(url, sizeof url, "%s", devsrv_url(srv));
    devsrv_stop(srv); /* its port now refuses connections */
    check_bounded(url, THREADS, NULL, SEGOPS_E_NETWORK, NULL, NULL);
}

/* ---- a server that never answers: each attempt takes request_timeout_ms ---- */

static void stop_server(void *srv) { devsrv_stop(srv); }

static devsrv_t *silent_server(void) {
    devsrv_t *srv = start_server(NULL);
    /* More than the attempts THREADS calls make in SYNC_BOUND_MS. */
    char script[64 * 9] = "";
    for (int i = 0; i < 64; i++) strcat(script, i ? ",noanswer" : "noanswer");
    assert_int_equal(devsrv_script_text(srv, script), 0);
    return srv;
}

/* Before: 11 attempts of 10 s each plus backoff, over 100 s. */
static void test_silent_server_one_call_returns_within_bound(void **state) {
    (void)state;
    devsrv_t *srv = silent_server();
    check_bounded(devsrv_url(srv), 1, NULL, SEGOPS_E_TIMEOUT, stop_server, srv);
}

/* Before: the second thread's request reached the server only after the first
 * call ended: the server held one request, not eight. */
static void test_silent_server_8_threads_send_at_once(void **state) {
    (void)state;
    devsrv_t *srv = silent_server();
    check_bounded(devsrv_url(srv), THREADS, srv, SEGOPS_E_TIMEOUT, stop_server, srv);
}

/* ---- a full backlog: the connect hangs until connect_timeout_ms ---- */

/* Before: each call retried 10 s connects for minutes, one thread at a time. */
static void test_blackhole_calls_from_8_threads_return_within_bound(void **state) {
    (void)state;
    static blackhole_t hole; /* outlives a failed test: abandoned calls may still connect */
    blackhole_open(&hole);
    check_bounded(hole.url, THREADS, NULL, SEGOPS_E_TIMEOUT, blackhole_close, &hole);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_silent_server_8_threads_send_at_once),
        cmocka_unit_test(test_silent_server_one_call_returns_within_bound),
        cmocka_unit_test(test_refused_calls_from_8_threads_return_within_bound),
        cmocka_unit_test(test_blackhole_calls_from_8_threads_return_within_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
