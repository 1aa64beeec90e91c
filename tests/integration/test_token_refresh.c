/* A pk_ session token whose refresh fails is still used until it expires
 * (PROTOCOL.md: refresh 60 s before expires_at, or at half the lifetime for
 * short tokens): the real library against the local server, whose session
 * endpoint is scripted to fail after the first mint. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "log_capture.h"

/* Tokens live 10 s: the client refreshes 5 s in and may use one until 10 s. */
#define LIFETIME_S 10
#define REFRESH_DUE_MS 6000 /* after the first mint: refresh due, token still valid */
#define EXPIRED_MS 11000    /* after the first mint: the token has expired */

/* ---- the identity and the log lines ---- */

typedef struct identity {
    pthread_mutex_t lock;
    int calls;
    int delay_ms; /* a slow identity lookup keeps a mint in flight */
} identity_t;

static segops_err_t get_user(segops_user_t *user, void *userdata) {
    identity_t *id = userdata;
    pthread_mutex_lock(&id->lock);
    id->calls++;
    int delay = id->delay_ms;
    pthread_mutex_unlock(&id->lock);
    if (delay) sleep_ms(delay);
    return segops_user_set_id(user, "uid-refresh");
}

/* WARN lines about using the cached token. */
static int cached_token_warnings(log_capture_t *lc) {
    return (int)log_capture_count_at(lc, SEGOPS_LOG_WARN, "cached token");
}

/* ---- fixtures ---- */

typedef struct fixture {
    devsrv_t *srv;
    recorder_t rec;
    identity_t id;
    log_capture_t log;
    segops_client_t *client;
    char first_token[256];
    int64_t first_mint_done; /* monotonic ms, just after the first mint finished */
} fixture_t;

static void start(fixture_t *f, bool sync) {
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->id.lock, NULL);
    log_capture_init(&f->log);
    recorder_init(&f->rec);
    devsrv_config_t cfg = {.token_lifetime_s = LIFETIME_S};
    f->srv = start_server(&cfg);
    segops_options_t *opts = make_options(f->srv, TEST_PK, &f->rec);
    assert_int_equal(segops_options_set_get_user(opts, get_user, &f->id), SEGOPS_OK);
    assert_int_equal(segops_options_set_logger(opts, log_capture_fn, SEGOPS_LOG_DEBUG, &f->log),
                     SEGOPS_OK);
    /* A failed mint is retried twice, quickly, then the batch is dropped. */
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 10, 40), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_retries(opts, 2), SEGOPS_OK);
    assert_int_equal(segops_options_set_batch_size(opts, 1000), SEGOPS_OK);
    if (sync) assert_int_equal(segops_options_set_batch(opts, false), SEGOPS_OK);
    assert_int_equal(segops_client_new(opts, &f->client), SEGOPS_OK);
    segops_options_free(opts);
}

static void track_n(fixture_t *f, int n) {
    for (int i = 0; i < n; i++) {
        char payload[48];
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        assert_int_equal(segops_track(f->client, "local-user", "item_viewed", payload), SEGOPS_OK);
    }
}

/* The first mint succeeds and delivers a batch; every later mint fails. */
static void first_mint_then_session_down(fixture_t *f, int status) {
    track_n(f, 5);
    assert_int_equal(segops_flush(f->client, 10000), SEGOPS_OK);
    f->first_mint_done = now_ms();
    assert_int_equal(server_stats(f->srv).mints, 1);
    assert_int_equal(stats_of(f->client).delivered, 5);
    assert_true(devsrv_last_token(f->srv, f->first_token, sizeof f->first_token) > 0);
    devsrv_fail_mints(f->srv, status, 1000000);
}

static void sleep_until(int64_t deadline) {
    int64_t left = deadline - now_ms();
    if (left > 0) sleep_ms((int)left);
}

static void assert_sent_with_first_token(fixture_t *f) {
    char expect[300];
    snprintf(expect, sizeof expect, "Bearer %s", f->first_token);
    devsrv_last_headers_t h;
    devsrv_get_last_headers(f->srv, &h);
    assert_string_equal(h.authorization, expect);
}

static void finish(fixture_t *f) {
    assert_conservation(f->client);
    assert_int_equal(segops_shutdown(f->client, 10000), SEGOPS_OK);
    assert_conservation(f->client);
    /* The token never appears in a log line (read once the worker stopped). */
    assert_false(log_capture_contains(&f->log, f->first_token));
    segops_client_free(f->client);
    recorder_destroy(&f->rec);
    log_capture_destroy(&f->log);
    devsrv_stop(f->srv);
}

/* ---- batch mode: the worker keeps delivering until the token expires ---- */

static void run_refresh_fails(int status) {
    fixture_t f;
    start(&f, false);
    first_mint_then_session_down(&f, status);

    /* The refresh is due and fails: the batch goes out with the cached token. */
    sleep_until(f.first_mint_done + REFRESH_DUE_MS);
    track_n(&f, 7);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_true(now_ms() <
                f.first_mint_done + LIFETIME_S * 1000); /* else the test proves nothing */
    devsrv_stats_t ss = server_stats(f.srv);
    segops_stats_t st = stats_of(f.client);
    if (st.delivered != 12)
        fail_msg("a failed refresh dropped the batch: delivered %llu of 12, %zu report(s)",
                 (unsigned long long)st.delivered, reports_of(&f.rec));
    assert_int_equal(reports_of(&f.rec), 0);
    assert_int_equal(ss.events_received, 12);
    assert_true(ss.mint_requests >= 2); /* the refresh was tried */
    assert_int_equal(ss.mints, 1);      /* and failed */
    assert_int_equal(ss.auth_failures, status == 401 || status == 403 ? ss.mint_requests - 1 : 0);
    assert_sent_with_first_token(&f);
    assert_int_equal(cached_token_warnings(&f.log), 1);

    /* A second batch before expiry: delivered the same way, no second WARN. */
    track_n(&f, 3);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_int_equal(stats_of(f.client).delivered, 15);
    assert_int_equal(cached_token_warnings(&f.log), 1);

    /* Past expires_at the cached token is not sent: the batch is dropped as a
     * failed handshake, and the server never saw an expired token. */
    sleep_until(f.first_mint_done + EXPIRED_MS);
    const uint64_t auth_failures_before = server_stats(f.srv).auth_failures;
    const uint64_t requests_before = stats_of(f.client).requests;
    track_n(&f, 4);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    st = stats_of(f.client);
    assert_int_equal(st.delivered, 15);
    assert_int_equal(st.requests, requests_before); /* no batch request */
    assert_int_equal(reports_of(&f.rec), 1);
    assert_int_equal(f.rec.info[0].event_count, 4);
    if (status == 401 || status == 403) {
        assert_int_equal(f.rec.info[0].code, SEGOPS_E_HANDSHAKE); /* refused, not retried */
        assert_int_equal(f.rec.info[0].reason, SEGOPS_DROP_REJECTED);
    } else {
        assert_int_equal(f.rec.info[0].code, SEGOPS_E_HANDSHAKE);
        assert_int_equal(f.rec.info[0].reason, SEGOPS_DROP_RETRIES_EXHAUSTED);
    }
    ss = server_stats(f.srv);
    assert_int_equal(ss.events_received, 15);
    /* Only refused mints add auth failures; no batch carried an expired token. */
    assert_int_equal(ss.auth_failures - auth_failures_before,
                     status == 401 || status == 403 ? 1 : 0);
    finish(&f);
}

static void test_refresh_503_uses_cached_token_until_expiry(void **state) {
    (void)state;
    run_refresh_fails(503);
}

/* A refused refresh (401) does not revoke the token the server issued: the
 * server still accepts it until it expires. */
static void test_refresh_401_uses_cached_token_until_expiry(void **state) {
    (void)state;
    run_refresh_fails(401);
}

/* ---- synchronous sends from several threads during a failing refresh ---- */

typedef struct sender {
    pthread_t thread;
    segops_client_t *client;
    segops_err_t result;
} sender_t;

static void *send_one(void *arg) {
    sender_t *s = arg;
    s->result = segops_track(s->client, "local-user", "item_viewed", "{\"sync\":true}");
    return NULL;
}

static void test_sync_senders_share_the_cached_token(void **state) {
    (void)state;
    fixture_t f;
    start(&f, true);
    /* The first mint, through one synchronous track. */
    assert_int_equal(segops_track(f.client, "local-user", "item_viewed", "{}"), SEGOPS_OK);
    f.first_mint_done = now_ms();
    assert_true(devsrv_last_token(f.srv, f.first_token, sizeof f.first_token) > 0);
    devsrv_fail_mints(f.srv, 503, 1000000);

    /* The refresh is slow (get_user takes 300 ms) and fails. The other threads
     * do not mint again: they wait for that mint (or the send lock) and then
     * send with the cached token too. */
    sleep_until(f.first_mint_done + REFRESH_DUE_MS);
    pthread_mutex_lock(&f.id.lock);
    f.id.delay_ms = 300;
    pthread_mutex_unlock(&f.id.lock);
    enum { THREADS = 4 };
    sender_t senders[THREADS];
    for (int i = 0; i < THREADS; i++) {
        senders[i] = (sender_t){.client = f.client, .result = SEGOPS_E_INTERNAL};
        assert_int_equal(pthread_create(&senders[i].thread, NULL, send_one, &senders[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(senders[i].thread, NULL);
    assert_true(now_ms() < f.first_mint_done + LIFETIME_S * 1000);
    for (int i = 0; i < THREADS; i++)
        if (senders[i].result != SEGOPS_OK)
            fail_msg("sender %d: %s during a failed refresh", i,
                     segops_strerror(senders[i].result));
    devsrv_stats_t ss = server_stats(f.srv);
    assert_int_equal(ss.events_received, 1 + THREADS);
    assert_int_equal(ss.mints, 1);
    assert_int_equal(ss.mint_requests, 2); /* one refresh attempt for all four */
    assert_int_equal(stats_of(f.client).delivered, 1 + THREADS);
    assert_sent_with_first_token(&f);
    assert_int_equal(cached_token_warnings(&f.log), 1);
    pthread_mutex_lock(&f.id.lock);
    f.id.delay_ms = 0;
    pthread_mutex_unlock(&f.id.lock);
    finish(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refresh_503_uses_cached_token_until_expiry),
        cmocka_unit_test(test_refresh_401_uses_cached_token_until_expiry),
        cmocka_unit_test(test_sync_senders_share_the_cached_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
