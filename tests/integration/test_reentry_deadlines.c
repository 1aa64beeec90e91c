#define _GNU_SOURCE 1
/* Re-entry from callbacks and deadlines on the synchronous (batch = false)
 * path: cases a code review found, kept as regression tests. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Runs fn(arg) on a thread and reports whether it finished within timeout_ms.
 * A deadlocked thread is left behind (the process exits after the tests). */
static bool finishes_within(void *(*fn)(void *), void *arg, int timeout_ms) {
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fn, arg), 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    if (pthread_timedjoin_np(th, NULL, &ts) == 0) return true;
    pthread_detach(th);
    return false;
}

/* ---- 1. batch=false: callbacks run while sync_lock is held ---- */

static segops_client_t *g_client;
static _Thread_local int in_logger;
static volatile int logger_tracked;
static segops_err_t nested_result = SEGOPS_E_INTERNAL;

/* With batching off a logger runs inside a send that holds the client's send
 * lock: tracking from it must not deadlock but return SEGOPS_E_STATE. */
static void tracking_logger(segops_log_level_t level, const char *message, void *userdata) {
    (void)level, (void)message, (void)userdata;
    if (in_logger || logger_tracked) return;
    in_logger = 1;
    logger_tracked = 1;
    nested_result = segops_track(g_client, "u-log", "log_seen", NULL);
    in_logger = 0;
}

typedef struct sync_job {
    segops_client_t *client;
    segops_err_t result;
} sync_job_t;

static void *track_once(void *arg) {
    sync_job_t *job = arg;
    job->result = segops_track(job->client, "u1", "order_placed", "{\"n\":1}");
    return NULL;
}

static void test_sync_logger_may_track(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_options_t *opts = make_options(srv, TEST_SK, NULL);
    assert_int_equal(segops_options_set_batch(opts, false), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 1, 10), SEGOPS_OK);
    assert_int_equal(segops_options_set_logger(opts, tracking_logger, SEGOPS_LOG_WARN, NULL),
                     SEGOPS_OK);
    assert_int_equal(segops_client_new(opts, &g_client), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(devsrv_script_text(srv, "503"), 0); /* one retry -> one WARN log line */

    sync_job_t job = {g_client, SEGOPS_E_INTERNAL};
    if (!finishes_within(track_once, &job, 5000))
        fail_msg("batch=false track deadlocked: the logger ran with sync_lock held and "
                 "called segops_track");
    assert_int_equal(job.result, SEGOPS_OK);
    assert_int_equal(nested_result, SEGOPS_E_STATE);
    segops_stats_t st;
    segops_client_stats(g_client, &st);
    assert_int_equal(st.rejected_state, 1);
    assert_int_equal(st.delivered, 1);
    assert_conservation(g_client);
    segops_client_free(g_client);
    devsrv_stop(srv);
}

/* Same with get_user, which runs inside the send that needs the token. */
static segops_client_t *g_pk_client;
static _Thread_local int in_get_user;

static segops_err_t identifying_get_user(segops_user_t *user, void *userdata) {
    (void)userdata;
    if (!in_get_user) {
        in_get_user = 1;
        nested_result = segops_identify(g_pk_client, "u1", "{\"plan\":\"pro\"}");
        in_get_user = 0;
    }
    return segops_user_set_id(user, "u1");
}

static void test_sync_get_user_may_track(void **state) {
    (void)state;
    nested_result = SEGOPS_E_INTERNAL;
    devsrv_t *srv = start_server(NULL);
    segops_options_t *opts = make_options(srv, TEST_PK, NULL);
    assert_int_equal(segops_options_set_batch(opts, false), SEGOPS_OK);
    assert_int_equal(segops_options_set_get_user(opts, identifying_get_user, NULL), SEGOPS_OK);
    assert_int_equal(segops_client_new(opts, &g_pk_client), SEGOPS_OK);
    segops_options_free(opts);

    sync_job_t job = {g_pk_client, SEGOPS_E_INTERNAL};
    if (!finishes_within(track_once, &job, 5000))
        fail_msg("batch=false track deadlocked: get_user ran with sync_lock held and "
                 "called segops_identify");
    assert_int_equal(job.result, SEGOPS_OK);
    assert_int_equal(nested_result, SEGOPS_E_STATE);
    assert_int_equal(devsrv_event_count(srv), 1);
    segops_client_free(g_pk_client);
    devsrv_stop(srv);
}

/* ---- 2. batch=false: shutdown returns while other tracks are still sending ---- */

#define SYNC_THREADS 4

static void test_sync_shutdown_waits_for_all_sends(void **state) {
    (void)state;
    devsrv_config_t cfg = {0};
    cfg.answer_delay_ms = 300;
    devsrv_t *srv = start_server(&cfg);
    segops_options_t *opts = make_options(srv, TEST_SK, NULL);
    assert_int_equal(segops_options_set_batch(opts, false), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);

    pthread_t th[SYNC_THREADS];
    sync_job_t jobs[SYNC_THREADS];
    for (int i = 0; i < SYNC_THREADS; i++) {
        jobs[i] = (sync_job_t){client, SEGOPS_E_INTERNAL};
        pthread_create(&th[i], NULL, track_once, &jobs[i]);
    }
    /* Wait until every track call was accepted (enqueued counts it). */
    segops_stats_t st;
    int64_t until = now_ms() + 5000;
    do {
        sleep_ms(5);
        segops_client_stats(client, &st);
    } while (st.enqueued < SYNC_THREADS && now_ms() < until);
    assert_int_equal(st.enqueued, SYNC_THREADS);

    /* "segops_shutdown does the same [as flush], then stops": every event
     * accepted before the call is delivered or dropped when it returns. */
    assert_int_equal(segops_shutdown(client, -1), SEGOPS_OK);
    segops_client_stats(client, &st);
    uint64_t pending_after_shutdown = st.pending;

    for (int i = 0; i < SYNC_THREADS; i++) pthread_join(th[i], NULL);
    segops_client_stats(client, &st);
    uint64_t on_server = devsrv_event_count(srv);
    segops_client_free(client);
    devsrv_stop(srv);
    if (pending_after_shutdown != 0)
        fail_msg("segops_shutdown returned with %llu synchronous sends still pending",
                 (unsigned long long)pending_after_shutdown);
    /* Each synchronous track returns its send's outcome: all were delivered. */
    for (int i = 0; i < SYNC_THREADS; i++)
        if (jobs[i].result != SEGOPS_OK)
            fail_msg("synchronous track %d returned %s", i, segops_strerror(jobs[i].result));
    assert_int_equal(st.delivered, SYNC_THREADS);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(on_server, SYNC_THREADS);
}

/* ---- 3. an attempt aborted at the shutdown deadline is misreported ---- */

static void test_deadline_abort_reported_as_shutdown(void **state) {
    (void)state;
    devsrv_config_t cfg = {0};
    cfg.answer_delay_ms = 3000; /* the answer comes after the shutdown deadline */
    devsrv_t *srv = start_server(&cfg);
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(srv, TEST_SK, &rec);
    assert_int_equal(segops_options_set_max_retries(opts, 0), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);

    assert_int_equal(segops_track(client, "u1", "order_placed", NULL), SEGOPS_OK);
    segops_err_t err = segops_shutdown(client, 300);
    segops_stats_t st;
    segops_client_stats(client, &st);
    assert_conservation(client);
    segops_client_free(client);
    devsrv_stop(srv);
    recorder_destroy(&rec);
    /* segops.h: "Whatever is undelivered at the deadline ... is dropped and
     * reported as SEGOPS_DROP_SHUTDOWN; an in-flight request is aborted at the
     * deadline. Returns ... SEGOPS_E_TIMEOUT (events were dropped at the deadline)". */
    if (err != SEGOPS_E_TIMEOUT || st.dropped_shutdown != 1)
        fail_msg("shutdown returned %d; dropped_shutdown=%llu dropped_retries_exhausted=%llu",
                 (int)err, (unsigned long long)st.dropped_shutdown,
                 (unsigned long long)st.dropped_retries_exhausted);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_shutdown_waits_for_all_sends),
        cmocka_unit_test(test_deadline_abort_reported_as_shutdown),
        /* the deadlocking ones last: they leave a stuck thread behind */
        cmocka_unit_test(test_sync_logger_may_track),
        cmocka_unit_test(test_sync_get_user_may_track),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
