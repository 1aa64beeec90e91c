/* Issue 11, defect 6: under SEGOPS_OVERFLOW_BLOCK a segops_track from a
 * callback running on the worker (on_error, logger, get_user) cannot wait for
 * room: only the worker makes room. With a full queue it must refuse at once
 * (SEGOPS_E_QUEUE_FULL) and delivery must go on. Each test failed on the code
 * before the core rewrite: the call waited the whole block_timeout_ms. */
#include "testutil.h"

#include <stdio.h>

static segops_err_t track_i(segops_client_t *client, const char *type, int i) {
    char payload[32];
    snprintf(payload, sizeof payload, "{\"i\":%d}", i);
    return segops_track(client, "u", type, payload);
}

#define BLOCK_TIMEOUT_MS 6000
#define AT_ONCE_MS 1500 /* a refusal, not a wait: far below BLOCK_TIMEOUT_MS */
#define QUEUE_EVENTS 20

/* The first callback of the chosen kind on the worker says so, waits until the
 * main thread has filled the queue again, then tracks and times that call. */
typedef enum hook_kind { HOOK_ON_ERROR, HOOK_LOGGER, HOOK_GET_USER } hook_kind_t;

static struct {
    pthread_mutex_t lock;
    segops_client_t *client;
    hook_kind_t kind;
    pthread_t main_thread;
    bool armed, entered, filled, done;
    segops_err_t result;
    int64_t took_ms;
} g_hook = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Waits (lock held) until *flag or `ms` pass. */
static bool hook_wait(bool *flag, int ms) {
    int64_t until = now_ms() + ms;
    while (!*flag && now_ms() < until) {
        pthread_mutex_unlock(&g_hook.lock);
        sleep_ms(2);
        pthread_mutex_lock(&g_hook.lock);
    }
    return *flag;
}

static void hook_run(hook_kind_t kind) {
    pthread_mutex_lock(&g_hook.lock);
    /* Only the worker's callbacks: the main thread is the one filling the queue. */
    if (!g_hook.armed || g_hook.kind != kind || pthread_equal(pthread_self(), g_hook.main_thread)) {
        pthread_mutex_unlock(&g_hook.lock);
        return;
    }
    g_hook.armed = false;
    g_hook.entered = true;
    bool filled = hook_wait(&g_hook.filled, 10000);
    pthread_mutex_unlock(&g_hook.lock);

    int64_t start = now_ms();
    segops_err_t err =
        filled ? segops_track(g_hook.client, "u", "from_callback", NULL) : SEGOPS_E_INTERNAL;
    int64_t took = now_ms() - start;

    pthread_mutex_lock(&g_hook.lock);
    g_hook.result = err;
    g_hook.took_ms = took;
    g_hook.done = true;
    pthread_mutex_unlock(&g_hook.lock);
}

static void hook_on_error(const segops_error_info_t *error, void *userdata) {
    recorder_on_error(error, userdata);
    hook_run(HOOK_ON_ERROR);
}

static void hook_logger(segops_log_level_t level, const char *message, void *userdata) {
    (void)level, (void)message, (void)userdata;
    hook_run(HOOK_LOGGER);
}

static segops_err_t hook_get_user(segops_user_t *user, void *userdata) {
    (void)userdata;
    hook_run(HOOK_GET_USER);
    return segops_user_set_id(user, "u");
}

/* The worker takes a first batch of QUEUE_EVENTS; its callback (a 400's report,
 * a 503's retry log line, or the mint's get_user) waits while the main thread
 * fills the queue again, then tracks from the worker thread. Before: that track
 * waited the whole block_timeout_ms for room only the worker could make, and
 * delivery stopped meanwhile. */
static void check_block_from_worker_callback(hook_kind_t kind) {
    devsrv_t *srv = start_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(srv, kind == HOOK_GET_USER ? TEST_PK : TEST_SK, NULL);
    assert_int_equal(segops_options_set_on_error(opts, hook_on_error, &rec), SEGOPS_OK);
    assert_int_equal(segops_options_set_overflow(opts, SEGOPS_OVERFLOW_BLOCK), SEGOPS_OK);
    assert_int_equal(segops_options_set_block_timeout_ms(opts, BLOCK_TIMEOUT_MS), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_queue_events(opts, QUEUE_EVENTS), SEGOPS_OK);
    assert_int_equal(segops_options_set_batch_size(opts, QUEUE_EVENTS), SEGOPS_OK);
    assert_int_equal(segops_options_set_flush_interval_ms(opts, 3600000), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 10, 40), SEGOPS_OK);
    if (kind == HOOK_LOGGER)
        assert_int_equal(segops_options_set_logger(opts, hook_logger, SEGOPS_LOG_WARN, NULL),
                         SEGOPS_OK);
    if (kind == HOOK_GET_USER)
        assert_int_equal(segops_options_set_get_user(opts, hook_get_user, NULL), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    if (kind == HOOK_ON_ERROR) assert_int_equal(devsrv_script_text(srv, "400"), 0);
    if (kind == HOOK_LOGGER) assert_int_equal(devsrv_script_text(srv, "503"), 0);

    pthread_mutex_lock(&g_hook.lock);
    g_hook.client = client;
    g_hook.kind = kind;
    g_hook.main_thread = pthread_self();
    g_hook.armed = true;
    g_hook.entered = g_hook.filled = g_hook.done = false;
    g_hook.result = SEGOPS_E_INTERNAL;
    g_hook.took_ms = -1;
    pthread_mutex_unlock(&g_hook.lock);

    for (int i = 0; i < QUEUE_EVENTS; i++) /* the last one makes the batch due */
        assert_int_equal(track_i(client, "first", i), SEGOPS_OK);
    pthread_mutex_lock(&g_hook.lock);
    bool entered = hook_wait(&g_hook.entered, 10000);
    pthread_mutex_unlock(&g_hook.lock);
    if (!entered) fail_msg("the callback never ran on the worker");
    /* The first batch is in the worker's hands: the queue takes a full one more. */
    for (int i = 0; i < QUEUE_EVENTS; i++)
        assert_int_equal(track_i(client, "second", i), SEGOPS_OK);
    pthread_mutex_lock(&g_hook.lock);
    g_hook.filled = true;
    bool done = hook_wait(&g_hook.done, BLOCK_TIMEOUT_MS + 10000);
    segops_err_t result = g_hook.result;
    int64_t took = g_hook.took_ms;
    pthread_mutex_unlock(&g_hook.lock);

    assert_true(done);
    if (result != SEGOPS_E_QUEUE_FULL || took > AT_ONCE_MS) {
        /* Stopped first: its worker must not report to `rec` after this frame. */
        segops_shutdown(client, 0);
        segops_client_free(client);
        devsrv_stop(srv);
        fail_msg("segops_track from a callback on the worker with a full queue (BLOCK) returned "
                 "%s after %lld ms; it must refuse at once with SEGOPS_E_QUEUE_FULL "
                 "(block_timeout_ms is %d)",
                 segops_strerror(result), (long long)took, BLOCK_TIMEOUT_MS);
    }

    /* Delivery went on: both batches settle. */
    assert_int_equal(segops_flush(client, 20000), SEGOPS_OK);
    segops_stats_t st = stats_of(client);
    size_t rejected = kind == HOOK_ON_ERROR ? QUEUE_EVENTS : 0;
    assert_int_equal(st.rejected_queue_full, 1);
    assert_int_equal(st.enqueued, 2 * QUEUE_EVENTS);
    assert_int_equal(st.delivered, 2 * QUEUE_EVENTS - rejected);
    assert_int_equal(st.dropped_rejected, rejected);
    assert_int_equal(devsrv_event_count(srv), 2 * QUEUE_EVENTS - rejected);
    assert_int_equal(events_reported(&rec), rejected);
    assert_conservation(client);
    assert_int_equal(segops_shutdown(client, 5000), SEGOPS_OK);
    segops_client_free(client);
    devsrv_stop(srv);
    recorder_destroy(&rec);
}

static void test_block_from_on_error_on_worker_refuses_at_once(void **state) {
    (void)state;
    check_block_from_worker_callback(HOOK_ON_ERROR);
}

static void test_block_from_logger_on_worker_refuses_at_once(void **state) {
    (void)state;
    check_block_from_worker_callback(HOOK_LOGGER);
}

static void test_block_from_get_user_on_worker_refuses_at_once(void **state) {
    (void)state;
    check_block_from_worker_callback(HOOK_GET_USER);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_from_on_error_on_worker_refuses_at_once),
        cmocka_unit_test(test_block_from_logger_on_worker_refuses_at_once),
        cmocka_unit_test(test_block_from_get_user_on_worker_refuses_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
