/* The pk_ handshake end to end: concurrent senders (flushes, synchronous
 * tracks, the token cache's own waiters) share one mint and its result. */
#include "identity.h"

#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "token.h"
#include "transport.h"

/* ---- concurrency: one mint shared by every sender ---- */

#define FLUSHERS 4

typedef struct worker_arg {
    segops_client_t *client;
    int id;
    int failures;
} worker_arg_t;

/* Runs fn on FLUSHERS threads against a pk_ client whose get_user is slow (so
 * every sender arrives while the mint is in flight), checks none of them
 * failed, and that they shared one mint and delivered FLUSHERS * per_thread
 * events, all rewritten to the token's uid. */
static void expect_one_mint(const char *uid, const pk_setup_t *setup, void *(*fn)(void *),
                            uint64_t per_thread) {
    identity_t id;
    identity_init(&id, uid);
    id.delay_ms = 200;
    fixture_t f;
    pk_fixture_start(&f, &id, NULL, setup);

    pthread_t threads[FLUSHERS];
    worker_arg_t args[FLUSHERS];
    for (int t = 0; t < FLUSHERS; t++) {
        args[t] = (worker_arg_t){f.client, t, 0};
        pthread_create(&threads[t], NULL, fn, &args[t]);
    }
    for (int t = 0; t < FLUSHERS; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < FLUSHERS; t++) assert_int_equal(args[t].failures, 0);

    devsrv_stats_t ss = server_stats(f.srv);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(ss.mint_requests, 1);
    assert_int_equal(st.token_mints, 1);
    assert_int_equal(identity_calls(&id), 1);
    assert_int_equal(st.delivered, FLUSHERS * per_thread);
    assert_int_equal(ss.events_received, FLUSHERS * per_thread);
    assert_int_equal(reports_of(&f.rec), 0);
    assert_all_user_ids(f.srv, uid);
    fixture_finish(&f);
}

static void *flush_in_rounds(void *p) {
    worker_arg_t *w = p;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 100; i++)
            if (segops_track(w->client, "u", "clicked", NULL) != SEGOPS_OK) w->failures++;
        if (segops_flush(w->client, 20000) != SEGOPS_OK) w->failures++;
    }
    return NULL;
}

static void test_concurrent_flushes_share_one_mint(void **state) {
    (void)state;
    expect_one_mint("uid-flush", NULL, flush_in_rounds, 500);
}

static void *track_sync(void *p) {
    worker_arg_t *w = p;
    for (int i = 0; i < 25; i++)
        if (segops_track(w->client, "u", "sync_clicked", "{}") != SEGOPS_OK) w->failures++;
    return NULL;
}

static void test_sync_threads_share_one_mint(void **state) {
    (void)state;
    expect_one_mint("uid-sync", &(pk_setup_t){.sync = true}, track_sync, 25);
}

/* The cache's wait path itself: threads asking while a (slow) mint is in
 * flight wait for it and share its token, or its failure. */

typedef struct cache_arg {
    segops__token_cache_t *tc;
    segops_options_t *opts;
    segops_err_t err;
    char auth[160];
} cache_arg_t;

static void *ask_token(void *p) {
    cache_arg_t *a = p;
    segops__transport_t *t = NULL;
    a->err = segops__transport_new(a->opts, &t);
    if (a->err != SEGOPS_OK) return NULL;
    char *auth = NULL;
    segops__mint_failure_t failure;
    a->err = segops__token_get(a->tc, t, &auth, &failure);
    if (auth) snprintf(a->auth, sizeof a->auth, "%s", auth);
    segops__secret_free(auth);
    segops__transport_free(t);
    return NULL;
}

static void run_cache_waiters(devsrv_t *srv, identity_t *id, cache_arg_t *args, int n) {
    segops_options_t *opts = make_options(srv, TEST_PK, NULL);
    assert_int_equal(segops_options_set_get_user(opts, identity_get_user, id), SEGOPS_OK);
    char url[96];
    snprintf(url, sizeof url, "%s/api/auth/session/", devsrv_url(srv));
    segops__token_cache_t *tc = NULL;
    assert_int_equal(segops__token_cache_new(opts, url, &tc), SEGOPS_OK);
    pthread_t threads[8];
    for (int i = 0; i < n; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].tc = tc;
        args[i].opts = opts;
        pthread_create(&threads[i], NULL, ask_token, &args[i]);
    }
    for (int i = 0; i < n; i++) pthread_join(threads[i], NULL);
    assert_int_equal(segops__token_mints(tc), 1);
    segops__token_cache_free(tc);
    segops_options_free(opts);
}

static void test_token_cache_waiters_share_one_mint(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    identity_t id;
    identity_init(&id, "uid-wait");
    id.delay_ms = 300;
    cache_arg_t args[6];
    run_cache_waiters(srv, &id, args, 6);
    char token[128], expect[160];
    devsrv_last_token(srv, token, sizeof token);
    snprintf(expect, sizeof expect, "Bearer %s", token);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(args[i].err, SEGOPS_OK);
        assert_string_equal(args[i].auth, expect);
    }
    assert_int_equal(identity_calls(&id), 1);
    assert_int_equal(server_stats(srv).mint_requests, 1);

    /* A failing mint is shared the same way: one get_user call, one failure each. */
    identity_t bad;
    identity_init(&bad, NULL);
    bad.delay_ms = 300;
    bad.fail = SEGOPS_E_INVALID_ARG;
    run_cache_waiters(srv, &bad, args, 6);
    for (int i = 0; i < 6; i++) assert_int_equal(args[i].err, SEGOPS_E_HANDSHAKE);
    assert_int_equal(identity_calls(&bad), 1);
    assert_int_equal(server_stats(srv).mint_requests, 1);
    devsrv_stop(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_flushes_share_one_mint),
        cmocka_unit_test(test_sync_threads_share_one_mint),
        cmocka_unit_test(test_token_cache_waiters_share_one_mint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
