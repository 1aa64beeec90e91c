/* The pk_ handshake end to end (PROTOCOL.md, "the pk_ handshake" and "Signed
 * user ids"): the real library against the local server. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "token.h"
#include "transport.h"

/* A second public key that insists on signed identities. */
#define SIGNED_PK "pk_test_signed_5e6f7a8b9c0d"

/* ---- the identity get_user hands out ---- */

typedef struct identity {
    const char *user_id;      /* NULL: not set */
    const char *anonymous_id; /* NULL: not set */
    bool sign;                /* sign user_id with sign_secret at now + ts_offset_s */
    const char *sign_secret;  /* TEST_PK_SECRET unless forging */
    int64_t ts_offset_s;
    bool fixed_ts;          /* sign at ts_offset_s itself (an absolute unix time) */
    bool try_bad_signature; /* afterwards, set a malformed signature (must change nothing) */
    segops_err_t fail;      /* returned instead of SEGOPS_OK when set */
    int delay_ms;           /* a slow identity lookup */
    pthread_mutex_t lock;
    int calls;
    int setter_errors; /* setters that failed unexpectedly */
    char last_sig[65];
    int64_t last_ts;
} identity_t;

static void identity_init(identity_t *id) {
    memset(id, 0, sizeof *id);
    pthread_mutex_init(&id->lock, NULL);
    id->sign_secret = TEST_PK_SECRET;
}

static int identity_calls(identity_t *id) {
    pthread_mutex_lock(&id->lock);
    int n = id->calls;
    pthread_mutex_unlock(&id->lock);
    return n;
}

static segops_err_t get_user(segops_user_t *user, void *userdata) {
    identity_t *id = userdata;
    pthread_mutex_lock(&id->lock);
    id->calls++;
    pthread_mutex_unlock(&id->lock);
    if (id->delay_ms) sleep_ms(id->delay_ms);
    if (id->fail) return id->fail;
    int bad = 0;
    if (id->user_id && segops_user_set_id(user, id->user_id) != SEGOPS_OK) bad++;
    if (id->anonymous_id && segops_user_set_anonymous_id(user, id->anonymous_id) != SEGOPS_OK)
        bad++;
    if (id->sign) {
        /* A real app gets this from its backend; the test signs in place. */
        int64_t ts = id->fixed_ts ? id->ts_offset_s : (int64_t)time(NULL) + id->ts_offset_s;
        segops_signed_user_t s;
        if (segops_sign_user_id(id->sign_secret, id->user_id, ts, &s) != SEGOPS_OK) bad++;
        if (segops_user_set_signature(user, s.user_id_sig, s.user_id_ts) != SEGOPS_OK) bad++;
        pthread_mutex_lock(&id->lock);
        memcpy(id->last_sig, s.user_id_sig, sizeof id->last_sig);
        id->last_ts = s.user_id_ts;
        pthread_mutex_unlock(&id->lock);
    }
    if (id->try_bad_signature) {
        /* 64 characters, hex up to the 40th: a failing setter must leave no trace. */
        char forged[65];
        memset(forged, 'e', 64);
        forged[40] = 'x';
        forged[64] = '\0';
        if (segops_user_set_signature(user, forged, 12345) != SEGOPS_E_INVALID_ARG) bad++;
    }
    pthread_mutex_lock(&id->lock);
    id->setter_errors += bad;
    pthread_mutex_unlock(&id->lock);
    return SEGOPS_OK;
}

/* ---- everything the logger says, for the "never the token" check ---- */

#define LOG_CAP (256 * 1024)
typedef struct log_capture {
    pthread_mutex_t lock;
    char text[LOG_CAP];
    size_t len;
    size_t lines;
} log_capture_t;

static void capture_log(segops_log_level_t level, const char *message, void *userdata) {
    (void)level;
    log_capture_t *lc = userdata;
    pthread_mutex_lock(&lc->lock);
    size_t n = strlen(message);
    if (lc->len + n + 2 < LOG_CAP) {
        memcpy(lc->text + lc->len, message, n);
        lc->len += n;
        lc->text[lc->len++] = '\n';
        lc->text[lc->len] = '\0';
    }
    lc->lines++;
    pthread_mutex_unlock(&lc->lock);
}

/* ---- fixtures ---- */

typedef struct client_setup {
    const char *key; /* TEST_PK unless set */
    bool sync;       /* batch = false */
    size_t batch_size;
    log_capture_t *log;
} client_setup_t;

static segops_client_t *pk_client(devsrv_t *srv, recorder_t *rec, identity_t *id,
                                  const client_setup_t *setup) {
    client_setup_t none = {0};
    if (!setup) setup = &none;
    segops_options_t *opts = make_options(srv, setup->key ? setup->key : TEST_PK, rec);
    assert_int_equal(segops_options_set_get_user(opts, get_user, id), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 10, 40), SEGOPS_OK);
    if (setup->sync) assert_int_equal(segops_options_set_batch(opts, false), SEGOPS_OK);
    if (setup->batch_size)
        assert_int_equal(segops_options_set_batch_size(opts, setup->batch_size), SEGOPS_OK);
    if (setup->log)
        assert_int_equal(segops_options_set_logger(opts, capture_log, SEGOPS_LOG_DEBUG, setup->log),
                         SEGOPS_OK);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    return client;
}

static devsrv_t *start_pk_server(const devsrv_config_t *given) {
    static const char *const sk[] = {TEST_SK};
    static const devsrv_pk_key_t pk[] = {{TEST_PK, TEST_PK_SECRET, false},
                                         {SIGNED_PK, TEST_PK_SECRET, true}};
    devsrv_config_t cfg = {0};
    if (given) cfg = *given;
    cfg.sk_keys = sk;
    cfg.sk_key_count = 1;
    cfg.pk_keys = pk;
    cfg.pk_key_count = 2;
    return start_server(&cfg);
}

static void track_n(segops_client_t *client, int n, const char *user) {
    for (int i = 0; i < n; i++) {
        char payload[48];
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        assert_int_equal(segops_track(client, user, "item_viewed", payload), SEGOPS_OK);
    }
}

static void assert_all_user_ids(devsrv_t *srv, const char *uid) {
    size_t n = devsrv_event_count(srv);
    for (size_t k = 0; k < n; k++) {
        devsrv_event_t ev;
        assert_int_equal(devsrv_event_at(srv, k, &ev), 0);
        assert_string_equal(ev.user_id, uid);
        devsrv_event_free(&ev);
    }
}

static void finish(segops_client_t *client, recorder_t *rec, devsrv_t *srv) {
    assert_conservation(client);
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);
    assert_conservation(client);
    segops_client_free(client);
    if (rec) recorder_destroy(rec);
    devsrv_stop(srv);
}

/* ---- one mint serves every batch ---- */

static void test_one_mint_for_many_batches(void **state) {
    (void)state;
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.user_id = "uid-42";
    segops_client_t *client = pk_client(srv, &rec, &id, NULL);

    const int rounds = 30, per_round = 100;
    for (int r = 0; r < rounds; r++) {
        char user[32];
        snprintf(user, sizeof user, "local-%d", r);
        track_n(client, per_round, user);
        assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    }
    const uint64_t total = (uint64_t)rounds * per_round;
    devsrv_stats_t ss = server_stats(srv);
    segops_stats_t st = stats_of(client);
    assert_true(ss.batch_requests >= (uint64_t)rounds); /* at least one request per flush */
    assert_int_equal(ss.mints, 1);
    assert_int_equal(ss.mint_requests, 1);
    assert_int_equal(ss.auth_failures, 0);
    assert_int_equal(st.token_mints, 1);
    assert_int_equal(identity_calls(&id), 1);
    assert_int_equal(st.delivered, total);
    assert_int_equal(ss.events_received, total);
    assert_int_equal(reports_of(&rec), 0);
    /* The server rewrote every user_id to the token's uid. */
    assert_int_equal(devsrv_event_count(srv), total);
    assert_all_user_ids(srv, "uid-42");

    char token[128], expect[160];
    assert_true(devsrv_last_token(srv, token, sizeof token) > 0);
    snprintf(expect, sizeof expect, "Bearer %s", token);
    devsrv_last_headers_t h;
    devsrv_get_last_headers(srv, &h);
    assert_string_equal(h.authorization, expect);
    assert_string_equal(h.content_type, "application/json");
    finish(client, &rec, srv);
}

/* ---- short-lived tokens are refreshed before they expire ---- */

static void run_refresh(devsrv_expires_style_t style) {
    /* 4 s tokens: the client refreshes at half the lifetime, 2 s in. */
    devsrv_config_t cfg = {.token_lifetime_s = 4, .expires_style = style};
    devsrv_t *srv = start_pk_server(&cfg);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.user_id = "uid-refresh";
    segops_client_t *client = pk_client(srv, &rec, &id, NULL);

    uint64_t total = 0;
    const int64_t give_up = now_ms() + 20000;
    while (server_stats(srv).mints < 3 && now_ms() < give_up) {
        track_n(client, 10, "u");
        total += 10;
        assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
        sleep_ms(100);
    }
    devsrv_stats_t ss = server_stats(srv);
    segops_stats_t st = stats_of(client);
    assert_true(ss.mints >= 3);
    assert_int_equal(ss.auth_failures, 0); /* never sent an expired token */
    assert_int_equal(st.retries, 0);
    assert_int_equal(st.token_mints, ss.mint_requests);
    assert_int_equal(st.delivered, total);
    assert_int_equal(ss.events_received, total);
    assert_int_equal(reports_of(&rec), 0);
    finish(client, &rec, srv);
}

static void test_short_lifetime_refreshes_before_expiry(void **state) {
    (void)state;
    run_refresh(DEVSRV_EXPIRES_MS_Z);
}

/* The same with expires_at at +02:00: the offset must be honoured. */
static void test_refresh_honours_offset(void **state) {
    (void)state;
    run_refresh(DEVSRV_EXPIRES_OFFSET);
}

/* ---- a revoked token: one re-mint, one resend ---- */

static void test_revoked_token_remints_once(void **state) {
    (void)state;
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.user_id = "uid-rev";
    segops_client_t *client = pk_client(srv, &rec, &id, &(client_setup_t){.batch_size = 1000});

    track_n(client, 50, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    char first[128], second[128];
    devsrv_last_token(srv, first, sizeof first);
    devsrv_revoke_tokens(srv);
    track_n(client, 30, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    devsrv_last_token(srv, second, sizeof second);

    devsrv_stats_t ss = server_stats(srv);
    segops_stats_t st = stats_of(client);
    assert_string_not_equal(first, second);
    assert_int_equal(ss.mints, 2);
    assert_int_equal(ss.mint_requests, 2);
    assert_int_equal(st.token_mints, 2);
    assert_int_equal(ss.auth_failures, 1);
    assert_int_equal(ss.batch_requests, 3); /* first batch, the refused one, its resend */
    assert_int_equal(st.requests, 3);
    assert_int_equal(st.retries, 1);
    assert_int_equal(st.delivered, 80);
    assert_int_equal(ss.events_received, 80);
    assert_int_equal(reports_of(&rec), 0);
    assert_all_user_ids(srv, "uid-rev");
    finish(client, &rec, srv);
}

/* ---- a second 401 after the re-mint is an auth error, reported once ---- */

static void test_second_401_is_auth_error(void **state) {
    (void)state;
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.user_id = "uid-401";
    segops_client_t *client = pk_client(srv, &rec, &id, &(client_setup_t){.batch_size = 1000});

    track_n(client, 4, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    /* The server refuses the token, and the fresh one too. */
    assert_int_equal(devsrv_script_text(srv, "401,401"), 0);
    track_n(client, 7, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);

    assert_int_equal(reports_of(&rec), 1);
    assert_int_equal(rec.info[0].code, SEGOPS_E_AUTH);
    assert_int_equal(rec.info[0].http_status, 401);
    assert_int_equal(rec.info[0].event_count, 7);
    assert_int_equal(rec.info[0].reason, SEGOPS_DROP_REJECTED);
    devsrv_stats_t ss = server_stats(srv);
    segops_stats_t st = stats_of(client);
    assert_int_equal(ss.mint_requests, 2); /* the first, and exactly one re-mint */
    assert_int_equal(st.token_mints, 2);
    assert_int_equal(ss.batch_requests, 3);
    assert_int_equal(st.dropped_rejected, 7);
    assert_int_equal(st.delivered, 4);

    /* The next batch goes through with the token minted last. */
    track_n(client, 3, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    st = stats_of(client);
    assert_int_equal(st.delivered, 7);
    assert_int_equal(st.token_mints, 2);
    assert_int_equal(reports_of(&rec), 1);
    finish(client, &rec, srv);
}

/* ---- concurrency: one mint shared by every sender ---- */

#define FLUSHERS 4

typedef struct worker_arg {
    segops_client_t *client;
    int id;
    int failures;
} worker_arg_t;

/* Runs fn on FLUSHERS threads against client and checks none of them failed. */
static void run_workers(segops_client_t *client, void *(*fn)(void *)) {
    pthread_t threads[FLUSHERS];
    worker_arg_t args[FLUSHERS];
    for (int t = 0; t < FLUSHERS; t++) {
        args[t] = (worker_arg_t){client, t, 0};
        pthread_create(&threads[t], NULL, fn, &args[t]);
    }
    for (int t = 0; t < FLUSHERS; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < FLUSHERS; t++) assert_int_equal(args[t].failures, 0);
}

static void *track_and_flush(void *p) {
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
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.user_id = "uid-flush";
    id.delay_ms = 200; /* every flush arrives while the mint is in flight */
    segops_client_t *client = pk_client(srv, &rec, &id, NULL);

    run_workers(client, track_and_flush);

    devsrv_stats_t ss = server_stats(srv);
    segops_stats_t st = stats_of(client);
    assert_int_equal(ss.mint_requests, 1);
    assert_int_equal(st.token_mints, 1);
    assert_int_equal(identity_calls(&id), 1);
    assert_int_equal(st.delivered, FLUSHERS * 500);
    assert_int_equal(reports_of(&rec), 0);
    finish(client, &rec, srv);
}

static void *track_sync(void *p) {
    worker_arg_t *w = p;
    for (int i = 0; i < 25; i++)
        if (segops_track(w->client, "u", "sync_clicked", "{}") != SEGOPS_OK) w->failures++;
    return NULL;
}

static void test_sync_threads_share_one_mint(void **state) {
    (void)state;
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.user_id = "uid-sync";
    id.delay_ms = 200;
    segops_client_t *client = pk_client(srv, &rec, &id, &(client_setup_t){.sync = true});

    run_workers(client, track_sync);

    devsrv_stats_t ss = server_stats(srv);
    segops_stats_t st = stats_of(client);
    assert_int_equal(ss.mint_requests, 1);
    assert_int_equal(st.token_mints, 1);
    assert_int_equal(identity_calls(&id), 1);
    assert_int_equal(st.delivered, FLUSHERS * 25);
    assert_int_equal(ss.events_received, FLUSHERS * 25);
    assert_int_equal(reports_of(&rec), 0);
    assert_all_user_ids(srv, "uid-sync");
    finish(client, &rec, srv);
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
    assert_int_equal(segops_options_set_get_user(opts, get_user, id), SEGOPS_OK);
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
    devsrv_t *srv = start_pk_server(NULL);
    identity_t id;
    identity_init(&id);
    id.user_id = "uid-wait";
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
    identity_init(&bad);
    bad.delay_ms = 300;
    bad.fail = SEGOPS_E_INVALID_ARG;
    run_cache_waiters(srv, &bad, args, 6);
    for (int i = 0; i < 6; i++) assert_int_equal(args[i].err, SEGOPS_E_HANDSHAKE);
    assert_int_equal(identity_calls(&bad), 1);
    assert_int_equal(server_stats(srv).mint_requests, 1);
    devsrv_stop(srv);
}

/* ---- signed identities ---- */

static void test_signed_identity_accepted(void **state) {
    (void)state;
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.user_id = "user-7";
    id.sign = true;
    segops_client_t *client = pk_client(srv, &rec, &id, &(client_setup_t){.key = SIGNED_PK});
    track_n(client, 10, "someone-else");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);

    assert_int_equal(reports_of(&rec), 0);
    assert_int_equal(stats_of(client).delivered, 10);
    assert_int_equal(server_stats(srv).mints, 1);
    assert_all_user_ids(srv, "user-7");
    char body[512], expect[512];
    devsrv_last_mint_body(srv, body, sizeof body);
    snprintf(expect, sizeof expect,
             "{\"user_id\":\"user-7\",\"user_id_sig\":\"%s\",\"user_id_ts\":%lld}", id.last_sig,
             (long long)id.last_ts);
    assert_string_equal(body, expect);
    assert_int_equal(id.setter_errors, 0);
    finish(client, &rec, srv);
}

static void run_rejected_signature(identity_t *id) {
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    segops_client_t *client = pk_client(srv, &rec, id, &(client_setup_t){.key = SIGNED_PK});
    track_n(client, 5, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);

    assert_int_equal(reports_of(&rec), 1);
    assert_int_equal(rec.info[0].code, SEGOPS_E_AUTH);
    assert_int_equal(rec.info[0].http_status, 401);
    assert_int_equal(rec.info[0].event_count, 5);
    assert_int_equal(rec.info[0].reason, SEGOPS_DROP_REJECTED);
    devsrv_stats_t ss = server_stats(srv);
    assert_int_equal(ss.mint_requests, 1); /* an auth error is not retried */
    assert_int_equal(ss.mints, 0);
    assert_int_equal(ss.batch_requests, 0);
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.dropped_rejected, 5);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(id->setter_errors, 0);
    finish(client, &rec, srv);
}

static void test_forged_signature_rejected(void **state) {
    (void)state;
    identity_t id;
    identity_init(&id);
    id.user_id = "user-7";
    id.sign = true;
    id.sign_secret = "00112233445566778899aabbccddeeff"; /* not the key's secret */
    run_rejected_signature(&id);
}

static void test_stale_signature_rejected(void **state) {
    (void)state;
    identity_t id;
    identity_init(&id);
    id.user_id = "user-7";
    id.sign = true;
    id.ts_offset_s = -600; /* ten minutes old: outside the ±5 minute window */
    run_rejected_signature(&id);
}

static void test_unsigned_identity_rejected_by_signed_key(void **state) {
    (void)state;
    identity_t id;
    identity_init(&id);
    id.user_id = "user-7";
    run_rejected_signature(&id);
}

/* ---- the mint body holds exactly what get_user set ---- */

static void expect_mint_body(identity_t *id, const char *expect_body, const char *expect_uid) {
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    segops_client_t *client = pk_client(srv, &rec, id, NULL);
    track_n(client, 2, "local");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(reports_of(&rec), 0);
    assert_int_equal(id->setter_errors, 0);
    char body[1024];
    devsrv_last_mint_body(srv, body, sizeof body);
    assert_string_equal(body, expect_body);
    if (expect_uid) assert_all_user_ids(srv, expect_uid);
    finish(client, &rec, srv);
}

static void test_mint_body_has_only_set_fields(void **state) {
    (void)state;
    identity_t id;

    identity_init(&id); /* nothing set: an anonymous mint */
    expect_mint_body(&id, "{}", NULL);

    identity_init(&id);
    id.user_id = "u-1";
    expect_mint_body(&id, "{\"user_id\":\"u-1\"}", "u-1");

    identity_init(&id);
    id.anonymous_id = "anon-9f2c";
    expect_mint_body(&id, "{\"anonymous_id\":\"anon-9f2c\"}", "anon:anon-9f2c");

    identity_init(&id);
    id.user_id = "u \"q\" \\ \xc3\xa9";
    id.anonymous_id = "anon-1";
    expect_mint_body(&id, "{\"user_id\":\"u \\\"q\\\" \\\\ \xc3\xa9\",\"anonymous_id\":\"anon-1\"}",
                     "u \"q\" \\ \xc3\xa9");

    /* Signed at a fixed time so the body is known byte for byte; the key does
     * not require signatures, but a stale one is still refused, so sign at
     * "now" and rebuild the expectation from what was signed. */
    identity_init(&id);
    id.user_id = "u-2";
    id.anonymous_id = "anon-2";
    id.sign = true;
    id.try_bad_signature = true; /* a failed setter keeps the good signature */
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    segops_client_t *client = pk_client(srv, &rec, &id, NULL);
    track_n(client, 1, "local");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    char body[1024], expect[1024];
    devsrv_last_mint_body(srv, body, sizeof body);
    snprintf(expect, sizeof expect,
             "{\"user_id\":\"u-2\",\"anonymous_id\":\"anon-2\",\"user_id_sig\":\"%s\","
             "\"user_id_ts\":%lld}",
             id.last_sig, (long long)id.last_ts);
    assert_string_equal(body, expect);
    assert_int_equal(id.setter_errors, 0);
    assert_int_equal(reports_of(&rec), 0);
    assert_int_equal(stats_of(client).delivered, 1);
    finish(client, &rec, srv);
}

/* ---- expires_at forms ---- */

static void test_expires_at_forms_accepted(void **state) {
    (void)state;
    const devsrv_expires_style_t styles[] = {DEVSRV_EXPIRES_MS_Z, DEVSRV_EXPIRES_SECONDS_Z,
                                             DEVSRV_EXPIRES_MICROS_Z, DEVSRV_EXPIRES_OFFSET};
    for (size_t k = 0; k < sizeof styles / sizeof *styles; k++) {
        devsrv_config_t cfg = {.expires_style = styles[k]};
        devsrv_t *srv = start_pk_server(&cfg);
        recorder_t rec;
        recorder_init(&rec);
        identity_t id;
        identity_init(&id);
        id.user_id = "uid-exp";
        segops_client_t *client = pk_client(srv, &rec, &id, NULL);
        for (int r = 0; r < 3; r++) {
            track_n(client, 5, "u");
            assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
        }
        assert_int_equal(reports_of(&rec), 0);
        assert_int_equal(stats_of(client).delivered, 15);
        assert_int_equal(server_stats(srv).mint_requests, 1); /* cached: a future expiry */
        finish(client, &rec, srv);
    }
}

static void test_unparseable_expires_at_is_handshake_error(void **state) {
    (void)state;
    devsrv_config_t cfg = {.expires_style = DEVSRV_EXPIRES_GARBAGE};
    devsrv_t *srv = start_pk_server(&cfg);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.user_id = "uid-garbage";
    segops_client_t *client = pk_client(srv, &rec, &id, &(client_setup_t){.batch_size = 1000});

    track_n(client, 6, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(reports_of(&rec), 1);
    assert_int_equal(rec.info[0].code, SEGOPS_E_HANDSHAKE);
    assert_int_equal(rec.info[0].event_count, 6);
    assert_int_equal(rec.info[0].reason, SEGOPS_DROP_REJECTED);
    assert_int_equal(server_stats(srv).mint_requests, 1); /* no re-mint per attempt */

    track_n(client, 4, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(reports_of(&rec), 2); /* once per batch */
    assert_int_equal(rec.info[1].code, SEGOPS_E_HANDSHAKE);
    assert_int_equal(rec.info[1].event_count, 4);
    devsrv_stats_t ss = server_stats(srv);
    assert_int_equal(ss.mint_requests, 2);
    assert_int_equal(ss.batch_requests, 0);

    /* Once the server answers properly, delivery resumes. */
    devsrv_set_expires_style(srv, DEVSRV_EXPIRES_MS_Z);
    track_n(client, 3, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.delivered, 3);
    assert_int_equal(st.dropped_rejected, 10);
    assert_int_equal(reports_of(&rec), 2);
    finish(client, &rec, srv);
}

/* expires_at already past by our clock (skew): the token is kept a while
 * rather than minted again before every request. */
static void test_expired_by_our_clock_is_not_reminted_per_request(void **state) {
    (void)state;
    devsrv_config_t cfg = {.expires_style = DEVSRV_EXPIRES_PAST};
    devsrv_t *srv = start_pk_server(&cfg);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.user_id = "uid-skew";
    segops_client_t *client = pk_client(srv, &rec, &id, &(client_setup_t){.batch_size = 1000});
    for (int round = 0; round < 5; round++) {
        track_n(client, 3, "u");
        assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    }
    devsrv_stats_t ss = server_stats(srv);
    assert_int_equal(ss.batch_requests, 5);
    assert_int_equal(ss.mint_requests, 1);
    assert_int_equal(stats_of(client).delivered, 15);
    assert_int_equal(reports_of(&rec), 0);
    finish(client, &rec, srv);
}

/* ---- mint failures ---- */

static void test_get_user_error_is_handshake_error(void **state) {
    (void)state;
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.fail = SEGOPS_E_STATE; /* e.g. nobody logged in */
    segops_client_t *client = pk_client(srv, &rec, &id, &(client_setup_t){.batch_size = 1000});
    track_n(client, 9, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(reports_of(&rec), 1);
    assert_int_equal(rec.info[0].code, SEGOPS_E_HANDSHAKE);
    assert_int_equal(rec.info[0].event_count, 9);
    assert_int_equal(rec.info[0].http_status, 0);
    assert_int_equal(rec.info[0].reason, SEGOPS_DROP_REJECTED);
    assert_int_equal(identity_calls(&id), 1);
    devsrv_stats_t ss = server_stats(srv);
    assert_int_equal(ss.mint_requests, 0); /* nothing was sent */
    assert_int_equal(ss.batch_requests, 0);
    assert_int_equal(stats_of(client).dropped_rejected, 9);
    finish(client, &rec, srv);
}

static void test_mint_500_then_200_is_retried(void **state) {
    (void)state;
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.user_id = "uid-500";
    devsrv_fail_mints(srv, 500, 1);
    segops_client_t *client = pk_client(srv, &rec, &id, &(client_setup_t){.batch_size = 1000});
    track_n(client, 6, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(reports_of(&rec), 0);
    devsrv_stats_t ss = server_stats(srv);
    segops_stats_t st = stats_of(client);
    assert_int_equal(ss.mint_requests, 2);
    assert_int_equal(ss.mints, 1);
    assert_int_equal(st.token_mints, 2);
    assert_int_equal(st.delivered, 6);
    assert_int_equal(ss.batch_requests, 1);
    assert_int_equal(st.requests, 1);
    finish(client, &rec, srv);
}

/* A 429 on the mint carries its own Retry-After: the next mint waits for it
 * (the client's backoff here is 10-40 ms, so only Retry-After explains 1 s). */
static void test_mint_429_retry_after_is_honoured(void **state) {
    (void)state;
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.user_id = "uid-429";
    devsrv_fail_mints_retry_after(srv, 429, 1, "1");
    segops_client_t *client = pk_client(srv, &rec, &id, &(client_setup_t){.batch_size = 1000});
    track_n(client, 4, "u");
    int64_t t0 = now_ms();
    assert_int_equal(segops_flush(client, 15000), SEGOPS_OK);
    int64_t elapsed = now_ms() - t0;
    if (elapsed < 1000)
        fail_msg("minted again after %lld ms despite Retry-After: 1", (long long)elapsed);
    assert_int_equal(reports_of(&rec), 0);
    assert_int_equal(server_stats(srv).mint_requests, 2);
    assert_int_equal(stats_of(client).delivered, 4);
    finish(client, &rec, srv);
}

static void test_mint_5xx_forever_exhausts_retries(void **state) {
    (void)state;
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.user_id = "uid-503";
    devsrv_fail_mints(srv, 503, 1000);
    segops_options_t *opts = make_options(srv, TEST_PK, &rec);
    assert_int_equal(segops_options_set_get_user(opts, get_user, &id), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 5, 10), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_retries(opts, 2), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    track_n(client, 4, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(reports_of(&rec), 1);
    assert_int_equal(rec.info[0].code, SEGOPS_E_HANDSHAKE);
    assert_int_equal(rec.info[0].http_status, 503);
    assert_int_equal(rec.info[0].event_count, 4);
    assert_int_equal(rec.info[0].reason, SEGOPS_DROP_RETRIES_EXHAUSTED);
    assert_int_equal(server_stats(srv).mint_requests, 3); /* 1 + max_retries */
    assert_int_equal(stats_of(client).dropped_retries_exhausted, 4);
    finish(client, &rec, srv);
}

static void test_unknown_public_key_is_auth_error(void **state) {
    (void)state;
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.user_id = "u";
    segops_client_t *client =
        pk_client(srv, &rec, &id, &(client_setup_t){.key = "pk_live_unknown_key_123"});
    track_n(client, 3, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(reports_of(&rec), 1);
    assert_int_equal(rec.info[0].code, SEGOPS_E_AUTH);
    assert_int_equal(rec.info[0].event_count, 3);
    assert_null(strstr(rec.messages[0], "pk_live"));
    assert_int_equal(server_stats(srv).mint_requests, 1);
    finish(client, &rec, srv);
}

static void test_pk_without_get_user_is_config_error(void **state) {
    (void)state;
    devsrv_t *srv = start_pk_server(NULL);
    segops_options_t *opts = make_options(srv, TEST_PK, NULL);
    segops_client_t *client = (segops_client_t *)&opts;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_E_CONFIG);
    assert_null(client);
    assert_int_equal(segops_options_set_batch(opts, false), SEGOPS_OK);
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_E_CONFIG);
    assert_null(client);
    segops_options_free(opts);
    assert_int_equal(server_stats(srv).mint_requests, 0);
    devsrv_stop(srv);
}

/* ---- anonymous ids ---- */

static void test_event_anonymous_id_is_sent(void **state) {
    (void)state;
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.user_id = "uid-anon";
    segops_client_t *client = pk_client(srv, &rec, &id, NULL);
    segops_event_t ev = {0};
    ev.user_id = "local";
    ev.event_type = "page_viewed";
    ev.anonymous_id = "anon-evt-1";
    assert_int_equal(segops_track_event(client, &ev), SEGOPS_OK);
    ev.anonymous_id = NULL;
    assert_int_equal(segops_track_event(client, &ev), SEGOPS_OK);
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(devsrv_event_count(srv), 2);
    devsrv_event_t got;
    assert_int_equal(devsrv_event_at(srv, 0, &got), 0);
    assert_string_equal(got.user_id, "uid-anon");
    assert_string_equal(got.anonymous_id, "anon-evt-1");
    assert_non_null(strstr(got.raw_json, "\"anonymous_id\":\"anon-evt-1\""));
    devsrv_event_free(&got);
    assert_int_equal(devsrv_event_at(srv, 1, &got), 0);
    assert_null(got.anonymous_id);
    devsrv_event_free(&got);
    assert_int_equal(reports_of(&rec), 0);
    finish(client, &rec, srv);
}

/* ---- the token never leaks into reports or logs ---- */

static bool contains(const char *hay, const char *needle) {
    return needle[0] && strstr(hay, needle) != NULL;
}

static void test_token_never_logged_or_reported(void **state) {
    (void)state;
    devsrv_t *srv = start_pk_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    identity_t id;
    identity_init(&id);
    id.user_id = "uid-log";
    log_capture_t *lc = calloc(1, sizeof *lc);
    assert_non_null(lc);
    pthread_mutex_init(&lc->lock, NULL);
    segops_client_t *client =
        pk_client(srv, &rec, &id, &(client_setup_t){.batch_size = 1000, .log = lc});
    char tokens[4][128];
    int ntokens = 0;

    track_n(client, 3, "u"); /* mint #1, delivered */
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    devsrv_last_token(srv, tokens[ntokens++], sizeof tokens[0]);
    devsrv_revoke_tokens(srv); /* 401, mint #2, resend */
    track_n(client, 3, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    devsrv_last_token(srv, tokens[ntokens++], sizeof tokens[0]);
    assert_int_equal(devsrv_script_text(srv, "401,401"), 0); /* 401, mint #3, 401: dropped */
    track_n(client, 3, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    devsrv_last_token(srv, tokens[ntokens++], sizeof tokens[0]);
    assert_int_equal(devsrv_script_text(srv, "503"), 0); /* a retried batch: a WARN line */
    track_n(client, 3, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    devsrv_revoke_tokens(srv);
    devsrv_fail_mints(srv, 500, 1); /* 401, mint fails once, then mint #4 */
    track_n(client, 3, "u");
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    devsrv_last_token(srv, tokens[ntokens++], sizeof tokens[0]);
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);

    assert_int_equal(server_stats(srv).mints, 4);
    assert_int_equal(reports_of(&rec), 1); /* the second 401 */
    assert_int_equal(rec.info[0].code, SEGOPS_E_AUTH);
    assert_int_equal(rec.info[0].event_count, 3);
    pthread_mutex_lock(&lc->lock);
    assert_true(lc->lines >= 4); /* the logger did hear about mints, 401s and retries */
    for (int k = 0; k < ntokens; k++) {
        assert_int_equal(strlen(tokens[k]), 64);
        assert_false(contains(lc->text, tokens[k]));
        for (size_t r = 0; r < reports_of(&rec) && r < RECORDER_MAX; r++)
            assert_false(contains(rec.messages[r], tokens[k]));
    }
    assert_false(contains(lc->text, TEST_PK));
    assert_false(contains(lc->text, "Bearer "));
    pthread_mutex_unlock(&lc->lock);

    assert_conservation(client);
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.delivered, 12);
    assert_int_equal(st.dropped_rejected, 3);
    segops_client_free(client);
    pthread_mutex_destroy(&lc->lock);
    free(lc);
    recorder_destroy(&rec);
    devsrv_stop(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_mint_for_many_batches),
        cmocka_unit_test(test_short_lifetime_refreshes_before_expiry),
        cmocka_unit_test(test_refresh_honours_offset),
        cmocka_unit_test(test_revoked_token_remints_once),
        cmocka_unit_test(test_second_401_is_auth_error),
        cmocka_unit_test(test_concurrent_flushes_share_one_mint),
        cmocka_unit_test(test_sync_threads_share_one_mint),
        cmocka_unit_test(test_token_cache_waiters_share_one_mint),
        cmocka_unit_test(test_signed_identity_accepted),
        cmocka_unit_test(test_forged_signature_rejected),
        cmocka_unit_test(test_stale_signature_rejected),
        cmocka_unit_test(test_unsigned_identity_rejected_by_signed_key),
        cmocka_unit_test(test_mint_body_has_only_set_fields),
        cmocka_unit_test(test_expires_at_forms_accepted),
        cmocka_unit_test(test_unparseable_expires_at_is_handshake_error),
        cmocka_unit_test(test_expired_by_our_clock_is_not_reminted_per_request),
        cmocka_unit_test(test_get_user_error_is_handshake_error),
        cmocka_unit_test(test_mint_500_then_200_is_retried),
        cmocka_unit_test(test_mint_429_retry_after_is_honoured),
        cmocka_unit_test(test_mint_5xx_forever_exhausts_retries),
        cmocka_unit_test(test_unknown_public_key_is_auth_error),
        cmocka_unit_test(test_pk_without_get_user_is_config_error),
        cmocka_unit_test(test_event_anonymous_id_is_sent),
        cmocka_unit_test(test_token_never_logged_or_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
