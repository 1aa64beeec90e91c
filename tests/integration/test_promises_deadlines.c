/* Issue 11, defects 2, 3 and 4: flush and shutdown deadlines. A flush cuts a
 * backoff whatever made the batch due; a second concurrent shutdown keeps its
 * own deadline and its own verdict; leftovers at the shutdown deadline are
 * reported before anyone waiting on them is woken. Each test failed on the
 * code before the core rewrite (see the comment above each). */
#include "testutil.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounded_thread.h"
#include "log_capture.h"

/* A backoff far longer than any flush below waits: only a cut ends it in time. */
#define LONG_BACKOFF_MS 20000

/* log (NULL: none) hears every line at WARN and up. */
static segops_client_t *new_client(devsrv_t *srv, recorder_t *rec, log_capture_t *log,
                                   size_t batch_size, uint32_t interval_ms, uint32_t backoff_ms) {
    segops_options_t *opts = make_options(srv, TEST_SK, rec);
    if (log)
        assert_int_equal(segops_options_set_logger(opts, log_capture_fn, SEGOPS_LOG_WARN, log),
                         SEGOPS_OK);
    assert_int_equal(segops_options_set_batch_size(opts, batch_size), SEGOPS_OK);
    assert_int_equal(segops_options_set_flush_interval_ms(opts, interval_ms), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, backoff_ms, backoff_ms), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    return client;
}

static void wait_server_requests(devsrv_t *srv, uint64_t n) {
    int64_t until = now_ms() + 10000;
    while (server_stats(srv).batch_requests < n && now_ms() < until) sleep_ms(5);
    assert_true(server_stats(srv).batch_requests >= n);
}

/* flush(5000) with the server back must deliver within its deadline. On
 * failure the client and server are stopped first: the worker would otherwise
 * report, much later, to a recorder gone with the test. */
static void expect_flush_delivers(segops_client_t *client, devsrv_t *srv, const char *after) {
    int64_t start = now_ms();
    segops_err_t err = segops_flush(client, 5000);
    int64_t took = now_ms() - start;
    if (err != SEGOPS_OK) {
        segops_shutdown(client, 0);
        segops_client_free(client);
        devsrv_stop(srv);
        fail_msg("segops_flush(5000) %s returned %s after %lld ms: it did not cut the %d ms "
                 "backoff although the server was back",
                 after, segops_strerror(err), (long long)took, LONG_BACKOFF_MS);
    }
    assert_int_equal(devsrv_event_count(srv), 1);
    assert_int_equal(stats_of(client).delivered, 1);
}

/* ---- defect 2: every flush cuts a backoff (not a server's Retry-After) ---- */

/* Before: the interval tick had already raised drain_upto, so the flush did
 * not count as news and waited out the whole backoff. */
static void test_flush_cuts_backoff_after_interval_send(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    log_capture_t log;
    log_capture_init(&log);
    segops_client_t *client = new_client(srv, &rec, &log, 1000, 200, LONG_BACKOFF_MS);
    assert_int_equal(devsrv_pause(srv), 0);
    assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    /* The tick sent it: refused, and the worker says it is in the backoff. */
    log_capture_wait(&log, "retrying 1 events", 1);
    assert_int_equal(devsrv_resume(srv), 0);

    expect_flush_delivers(client, srv, "after the interval tick sent the batch");
    assert_int_equal(reports_of(&rec), 0);
    assert_int_equal(segops_shutdown(client, 5000), SEGOPS_OK);
    segops_client_free(client);
    devsrv_stop(srv);
    recorder_destroy(&rec);
    log_capture_destroy(&log);
}

/* Before: the first flush raised drain_upto; the second found nothing new. */
static void test_flush_cuts_backoff_after_timed_out_flush(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    log_capture_t log;
    log_capture_init(&log);
    segops_client_t *client = new_client(srv, &rec, &log, 1000, 3600000, LONG_BACKOFF_MS);
    assert_int_equal(devsrv_pause(srv), 0);
    assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    assert_int_equal(segops_flush(client, 500), SEGOPS_E_TIMEOUT);
    log_capture_wait(&log, "retrying 1 events", 1); /* refused: in the backoff */
    assert_int_equal(devsrv_resume(srv), 0);

    expect_flush_delivers(client, srv, "after an earlier flush timed out");
    assert_int_equal(reports_of(&rec), 0);
    assert_int_equal(segops_shutdown(client, 5000), SEGOPS_OK);
    segops_client_free(client);
    devsrv_stop(srv);
    recorder_destroy(&rec);
    log_capture_destroy(&log);
}

/* The limit of the rule above (passes before and after): a server's
 * Retry-After is a floor a flush does not cut, even after an interval send. */
static void test_flush_keeps_retry_after_floor(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    segops_client_t *client = new_client(srv, &rec, NULL, 1000, 200, 50);
    assert_int_equal(devsrv_script_text(srv, "503:ra=3"), 0);
    int64_t start = now_ms();
    assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    wait_server_requests(srv, 1);
    assert_int_equal(segops_flush(client, 1000), SEGOPS_E_TIMEOUT);
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    int64_t took = now_ms() - start;
    if (took < 2900) fail_msg("delivered %lld ms after a Retry-After: 3", (long long)took);
    assert_int_equal(devsrv_event_count(srv), 1);
    segops_client_free(client);
    devsrv_stop(srv);
    recorder_destroy(&rec);
}

/* ---- defect 3: a second concurrent shutdown keeps its own deadline ---- */

typedef struct shutdown_call {
    segops_client_t *client;
    int timeout_ms;
    segops_err_t result;
    int64_t took_ms;
} shutdown_call_t;

static void *run_shutdown(void *arg) {
    shutdown_call_t *call = arg;
    int64_t start = now_ms();
    call->result = segops_shutdown(call->client, call->timeout_ms);
    call->took_ms = now_ms() - start;
    return NULL;
}

/* Two concurrent shutdowns and the recorder their client reports to. On the
 * heap: a failed test leaves it to the calls it abandons. */
typedef struct two_shutdowns {
    recorder_t rec;
    shutdown_call_t a, b;
} two_shutdowns_t;

static two_shutdowns_t *two_shutdowns_new(void) {
    two_shutdowns_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    recorder_init(&t->rec);
    return t;
}

static void two_shutdowns_free(two_shutdowns_t *t) {
    recorder_destroy(&t->rec);
    free(t);
}

/* Waits until some thread's shutdown has begun: a flush then says SEGOPS_E_STATE. */
static void wait_shutdown_begun(segops_client_t *client) {
    int64_t until = now_ms() + 10000; /* hang detector */
    while (segops_flush(client, 0) != SEGOPS_E_STATE) {
        if (now_ms() > until) fail_msg("the other thread's shutdown never began");
        sleep_ms(1);
    }
}

/* One event in flight to a server that answers after `answer_delay_ms` or (0)
 * never; thread A calls shutdown(-1), thread B shutdown(0) once A's has begun.
 * B must return while A still waits, saying the worker has not stopped
 * (SEGOPS_E_TIMEOUT). A waits without a deadline, so it must end with the
 * event delivered (SEGOPS_OK, nothing dropped); for a server that never
 * answers, once the test makes it drop the request and the retry goes through. */
static void check_second_shutdown_keeps_timeout(uint32_t answer_delay_ms) {
    devsrv_config_t cfg = {0};
    cfg.answer_delay_ms = answer_delay_ms;
    devsrv_t *srv = start_server(&cfg);
    if (!answer_delay_ms) assert_int_equal(devsrv_script_text(srv, "noanswer"), 0);
    two_shutdowns_t *t = two_shutdowns_new();
    segops_options_t *opts = make_options(srv, TEST_SK, &t->rec);
    assert_int_equal(segops_options_set_batch_size(opts, 1), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 10, 40), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    wait_server_requests(srv, 1); /* in flight */

    t->a = (shutdown_call_t){client, -1, SEGOPS_E_INTERNAL, -1};
    t->b = (shutdown_call_t){client, 0, SEGOPS_E_INTERNAL, -1};
    bounded_thread_t ta, tb;
    bounded_start(&ta, run_shutdown, &t->a);
    wait_shutdown_begun(client);
    bounded_start(&tb, run_shutdown, &t->b);
    /* A slow server's answer ends A: B must be back before that. */
    bool b_prompt = bounded_join(&tb, now_ms() + (answer_delay_ms ? answer_delay_ms / 2 : 10000));
    bool a_still_waiting = !bounded_join(&ta, now_ms());

    /* Let A finish: the held request ends when the server drops it. */
    if (!answer_delay_ms) {
        assert_int_equal(devsrv_pause(srv), 0);
        assert_int_equal(devsrv_resume(srv), 0);
    }
    bool a_done = bounded_join(&ta, now_ms() + answer_delay_ms + 20000);
    bool b_done = bounded_join(&tb, now_ms() + 5000);
    if (!a_done || !b_done) { /* the client is still in use: leave it */
        bounded_abandon(&ta);
        bounded_abandon(&tb);
        fail_msg("shutdown(-1) done: %d, shutdown(0) done: %d after the server answered", a_done,
                 b_done);
    }
    /* Both returned: read what they said, then free before judging it. */
    shutdown_call_t a = t->a, b = t->b;
    segops_stats_t st = stats_of(client);
    uint64_t reported = events_reported(&t->rec);
    uint64_t on_server = devsrv_event_count(srv);
    assert_conservation(client);
    segops_client_free(client);
    devsrv_stop(srv);
    two_shutdowns_free(t);

    if (!b_prompt || !a_still_waiting || b.result != SEGOPS_E_TIMEOUT)
        fail_msg("shutdown(0), called once another thread's shutdown(-1) had begun, with a "
                 "request in flight to a %s server, returned %s after %lld ms (%s); it must "
                 "return SEGOPS_E_TIMEOUT while the other still waits",
                 answer_delay_ms ? "slow" : "silent", segops_strerror(b.result),
                 (long long)b.took_ms, a_still_waiting ? "A still waiting" : "after A");
    /* shutdown(-1) has no deadline: nothing may be dropped at one. */
    if (a.result != SEGOPS_OK || st.dropped != 0 || st.delivered != 1)
        fail_msg("shutdown(-1) returned %s with %llu delivered and %llu dropped (%llu at a "
                 "shutdown deadline): without a deadline it must deliver the event",
                 segops_strerror(a.result), (unsigned long long)st.delivered,
                 (unsigned long long)st.dropped, (unsigned long long)st.dropped_shutdown);
    assert_int_equal(st.pending, 0);
    assert_int_equal(reported, 0);
    assert_int_equal(on_server, 1);
}

/* Before: B waited for A's shutdown to end: about 5 s here. */
static void test_second_shutdown_keeps_timeout_slow_server(void **state) {
    (void)state;
    check_second_shutdown_keeps_timeout(5000);
}

/* Before: B waited until the server was made to drop the request. */
static void test_second_shutdown_keeps_timeout_silent_server(void **state) {
    (void)state;
    check_second_shutdown_keeps_timeout(0);
}

/* Before: the loser returned SEGOPS_OK once the winner's shutdown(300) had
 * dropped the event in flight at its deadline. */
static void test_second_shutdown_not_ok_after_winner_dropped(void **state) {
    (void)state;
    devsrv_config_t cfg = {0};
    cfg.answer_delay_ms = 4000; /* answers after A's deadline */
    devsrv_t *srv = start_server(&cfg);
    two_shutdowns_t *t = two_shutdowns_new();
    segops_options_t *opts = make_options(srv, TEST_SK, &t->rec);
    assert_int_equal(segops_options_set_batch_size(opts, 1), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    wait_server_requests(srv, 1);

    t->a = (shutdown_call_t){client, 300, SEGOPS_E_INTERNAL, -1};
    t->b = (shutdown_call_t){client, 10000, SEGOPS_E_INTERNAL, -1};
    bounded_thread_t ta, tb;
    bounded_start(&ta, run_shutdown, &t->a);
    wait_shutdown_begun(client);
    bounded_start(&tb, run_shutdown, &t->b);
    bool done = bounded_join(&ta, now_ms() + 15000) && bounded_join(&tb, now_ms() + 15000);
    if (!done) {
        bounded_abandon(&ta);
        bounded_abandon(&tb);
        fail_msg("a shutdown did not return");
    }
    shutdown_call_t a = t->a, b = t->b;
    segops_stats_t st = stats_of(client);
    uint64_t reported = events_reported(&t->rec);
    assert_conservation(client);
    segops_client_free(client);
    devsrv_stop(srv);
    two_shutdowns_free(t);

    assert_int_equal(a.result, SEGOPS_E_TIMEOUT);
    assert_int_equal(st.dropped_shutdown, 1);
    assert_int_equal(reported, 1);
    if (b.result != SEGOPS_E_TIMEOUT)
        fail_msg("the second shutdown returned %s although the event was dropped at the first "
                 "one's deadline (dropped_shutdown = %llu)",
                 segops_strerror(b.result), (unsigned long long)st.dropped_shutdown);
}

/* ---- defect 4: leftovers are reported, then counted ---- */

#define SLOW_REPORT_MS 1000
#define TRACKED 6

/* An on_error that takes its time over shutdown reports, then records them:
 * what is recorded has been reported completely. */
static struct {
    pthread_mutex_t lock;
    uint64_t events;
} g_slow = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void slow_on_error(const segops_error_info_t *error, void *userdata) {
    (void)userdata;
    if (error->reason == SEGOPS_DROP_SHUTDOWN) sleep_ms(SLOW_REPORT_MS);
    pthread_mutex_lock(&g_slow.lock);
    g_slow.events += error->event_count;
    pthread_mutex_unlock(&g_slow.lock);
}

static uint64_t slow_reported(void) {
    pthread_mutex_lock(&g_slow.lock);
    uint64_t events = g_slow.events;
    pthread_mutex_unlock(&g_slow.lock);
    return events;
}

typedef struct flush_call {
    segops_client_t *client;
    _Atomic pid_t tid; /* set just before the flush begins */
    segops_err_t result;
    uint64_t reported_at_return;
} flush_call_t;

static void *run_flush(void *arg) {
    flush_call_t *call = arg;
    call->tid = thread_id();
    call->result = segops_flush(call->client, 30000);
    call->reported_at_return = slow_reported();
    return NULL;
}

/* One event in flight to a slow server and five queued behind it; a flush
 * waits for all six; shutdown(500) drops them at its deadline. Before: the
 * queued five were counted and the flush woken before their report ran, so
 * the flush returned with one of six drops reported. */
static void test_leftovers_reported_before_flush_returns(void **state) {
    (void)state;
    pthread_mutex_lock(&g_slow.lock);
    g_slow.events = 0;
    pthread_mutex_unlock(&g_slow.lock);
    devsrv_config_t cfg = {0};
    cfg.answer_delay_ms = 5000;
    devsrv_t *srv = start_server(&cfg);
    segops_options_t *opts = make_options(srv, TEST_SK, NULL);
    assert_int_equal(segops_options_set_on_error(opts, slow_on_error, NULL), SEGOPS_OK);
    assert_int_equal(segops_options_set_batch_size(opts, 1), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    wait_server_requests(srv, 1); /* the first event is in flight */
    for (int i = 1; i < TRACKED; i++)
        assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);

    flush_call_t *f = calloc(1, sizeof *f); /* left to the flush if it never returns */
    assert_non_null(f);
    f->client = client;
    bounded_thread_t tf;
    bounded_start(&tf, run_flush, f);
    /* The flush is waiting: its thread blocks in a futex once inside. */
    int64_t until = now_ms() + 10000;
    while (!f->tid && now_ms() < until) sleep_ms(1);
    assert_true(f->tid != 0);
    wait_thread_asleep(f->tid);
    segops_err_t err = segops_shutdown(client, 500);
    bool flushed = bounded_join(&tf, now_ms() + 30000);
    if (!flushed) {
        bounded_abandon(&tf);
        fail_msg("the flush never returned");
    }
    flush_call_t flushed_call = *f;
    free(f);
    segops_stats_t st = stats_of(client);
    uint64_t reported = slow_reported();
    assert_conservation(client);
    segops_client_free(client);
    devsrv_stop(srv);

    assert_int_equal(err, SEGOPS_E_TIMEOUT);
    assert_int_equal(st.dropped_shutdown, TRACKED);
    assert_int_equal(reported, TRACKED);
    if (flushed_call.result != SEGOPS_OK || flushed_call.reported_at_return != TRACKED)
        fail_msg("a flush waiting on %d events returned %s when %llu of their drops had been "
                 "reported: \"delivered or dropped (and reported)\"",
                 TRACKED, segops_strerror(flushed_call.result),
                 (unsigned long long)flushed_call.reported_at_return);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flush_cuts_backoff_after_interval_send),
        cmocka_unit_test(test_flush_cuts_backoff_after_timed_out_flush),
        cmocka_unit_test(test_flush_keeps_retry_after_floor),
        cmocka_unit_test(test_second_shutdown_keeps_timeout_slow_server),
        cmocka_unit_test(test_second_shutdown_keeps_timeout_silent_server),
        cmocka_unit_test(test_second_shutdown_not_ok_after_winner_dropped),
        cmocka_unit_test(test_leftovers_reported_before_flush_returns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
