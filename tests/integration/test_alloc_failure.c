/* "Fail the Nth allocation" loops over every client-side step: each injected
 * failure must come back as SEGOPS_E_NOMEM from the call or as a reported drop,
 * and leave no allocation behind. The countdown is process-wide, so it is armed
 * only around library calls (the in-process server allocates with malloc, not
 * through libsegops); the worker thread's allocations in that window count too,
 * which is what the flush and shutdown steps are for. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"

#define MAX_STEPS 4000 /* far above any step's allocation count: a bound, not a guess */

/* One armed window. fired says whether the injected failure was reached. */
typedef struct window {
    uint64_t attempts_before;
    long fail_after;
} window_t;

static void arm(window_t *w, long n) {
    w->fail_after = n;
    w->attempts_before = segops__alloc_test_count();
    segops__alloc_test_set_fail_after(n);
}

/* Disarms and says whether the failure was injected inside the window. */
static bool disarm(window_t *w) {
    segops__alloc_test_set_fail_after(-1);
    return segops__alloc_test_count() - w->attempts_before > (uint64_t)w->fail_after;
}

static void expect_ok_or_nomem(segops_err_t err, const char *what, long n) {
    if (err != SEGOPS_OK && err != SEGOPS_E_NOMEM)
        fail_msg("%s returned %s with allocation %ld failing", what, segops_strerror(err), n);
}

static void expect_no_leak(long base, const char *step, long n) {
    long live = segops__alloc_test_live();
    if (live != base)
        fail_msg("%s: %ld allocations leaked with allocation %ld failing", step, live - base, n);
}

/* A fast, quiet client setup: sends only when flushed, retries at once. */
static segops_options_t *quiet_options(devsrv_t *srv, const char *key, recorder_t *rec);

static segops_err_t get_user(segops_user_t *user, void *userdata) {
    (void)userdata;
    segops_err_t err = segops_user_set_id(user, "alloc-user");
    if (err == SEGOPS_OK) err = segops_user_set_anonymous_id(user, "anon-alloc");
    return err;
}

static segops_options_t *quiet_options(devsrv_t *srv, const char *key, recorder_t *rec) {
    segops_options_t *opts = make_options(srv, key, rec);
    assert_int_equal(segops_options_set_batch_size(opts, 1000), SEGOPS_OK);
    assert_int_equal(segops_options_set_flush_interval_ms(opts, 3600000), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_retries(opts, 3), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 1, 5), SEGOPS_OK);
    if (strncmp(key, "pk_", 3) == 0)
        assert_int_equal(segops_options_set_get_user(opts, get_user, NULL), SEGOPS_OK);
    return opts;
}

/* Checks every report: a drop caused by the injected failure says so (NOMEM),
 * or is the handshake failing because get_user's own copy failed. */
static void check_reports(recorder_t *rec, long n) {
    pthread_mutex_lock(&rec->lock);
    for (size_t i = 0; i < rec->reports && i < RECORDER_MAX; i++) {
        const segops_error_info_t *info = &rec->info[i];
        bool ok = info->code == SEGOPS_E_NOMEM ||
                  (info->code == SEGOPS_E_HANDSHAKE && strstr(rec->messages[i], "get_user"));
        if (!ok)
            fail_msg("allocation %ld failing: reported %s (%s)", n, segops_strerror(info->code),
                     rec->messages[i]);
        assert_true(info->event_count > 0);
    }
    pthread_mutex_unlock(&rec->lock);
}

/* Every accepted event ended delivered once or reported; the server holds no
 * duplicate (a failure after the server took a batch must not resend it). */
static void check_outcome(segops_client_t *client, devsrv_t *srv, recorder_t *rec,
                          uint64_t server_before, uint64_t accepted, long n) {
    segops_stats_t st;
    assert_int_equal(segops_client_stats(client, &st), SEGOPS_OK);
    uint64_t reported;
    recorder_snapshot(rec, NULL, &reported);
    if (st.enqueued != accepted || st.pending != 0 || st.delivered + reported != accepted ||
        st.dropped != reported)
        fail_msg("allocation %ld failing: accepted %llu enqueued %llu delivered %llu dropped %llu "
                 "reported %llu pending %llu",
                 n, (unsigned long long)accepted, (unsigned long long)st.enqueued,
                 (unsigned long long)st.delivered, (unsigned long long)st.dropped,
                 (unsigned long long)reported, (unsigned long long)st.pending);
    uint64_t at_server = devsrv_event_count(srv) - server_before;
    if (at_server != st.delivered)
        fail_msg("allocation %ld failing: the server got %llu events, the client delivered %llu", n,
                 (unsigned long long)at_server, (unsigned long long)st.delivered);
    check_reports(rec, n);
    assert_conservation(client);
}

/* ---- options ---- */

static void test_options(void **state) {
    (void)state;
    long base = segops__alloc_test_live();
    for (long n = 0;; n++) {
        assert_true(n < MAX_STEPS);
        window_t w;
        arm(&w, n);
        segops_options_t *opts = NULL;
        segops_err_t err = segops_options_new(&opts);
        expect_ok_or_nomem(err, "segops_options_new", n);
        if (err == SEGOPS_OK) {
            /* Each setter either takes its copy or leaves the builder as it was. */
            expect_ok_or_nomem(segops_options_set_api_url(opts, "https://segops.example/"),
                               "set_api_url", n);
            expect_ok_or_nomem(segops_options_set_api_key(opts, TEST_SK), "set_api_key", n);
            expect_ok_or_nomem(segops_options_set_api_key(opts, TEST_PK), "set_api_key (again)", n);
            expect_ok_or_nomem(segops_options_set_ca_file(opts, "/etc/ssl/ca.pem"), "set_ca_file",
                               n);
            expect_ok_or_nomem(segops_options_set_ca_path(opts, "/etc/ssl/certs"), "set_ca_path",
                               n);
            expect_ok_or_nomem(segops_options_set_proxy(opts, "http://proxy:3128"), "set_proxy", n);
            expect_ok_or_nomem(segops_options_set_user_agent_suffix(opts, "app/1.0"),
                               "set_user_agent_suffix", n);
            expect_ok_or_nomem(segops_options_set_proxy(opts, NULL), "set_proxy (clear)", n);
            assert_int_equal(segops_options_set_batch_size(opts, 50), SEGOPS_OK);
            assert_int_equal(segops_options_set_max_retries(opts, 1), SEGOPS_OK);
            segops_options_free(opts);
        } else {
            assert_null(opts);
        }
        bool fired = disarm(&w);
        expect_no_leak(base, "options", n);
        if (!fired) {
            print_message("    %ld allocations failed in turn\n", n);
            break;
        }
    }
}

/* ---- client creation ---- */

typedef struct client_kind {
    const char *key;
    bool batch;
} client_kind_t;

static void client_new_loop(const client_kind_t *kind) {
    devsrv_t *srv = start_server(NULL);
    long base = segops__alloc_test_live();
    for (long n = 0;; n++) {
        assert_true(n < MAX_STEPS);
        recorder_t rec;
        recorder_init(&rec);
        segops_options_t *opts = quiet_options(srv, kind->key, &rec);
        assert_int_equal(segops_options_set_batch(opts, kind->batch), SEGOPS_OK);
        window_t w;
        arm(&w, n);
        segops_client_t *client = (segops_client_t *)&client; /* must be reset on failure */
        segops_err_t err = segops_client_new(opts, &client);
        bool fired = disarm(&w);
        segops_options_free(opts);
        expect_ok_or_nomem(err, "segops_client_new", n);
        if (err == SEGOPS_OK) {
            /* A client that came up works. */
            uint64_t before = devsrv_event_count(srv);
            assert_int_equal(segops_track(client, "u", "alloc_checked", NULL), SEGOPS_OK);
            if (kind->batch) assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
            check_outcome(client, srv, &rec, before, 1, n);
            assert_int_equal(rec.reports, 0);
            segops_client_free(client);
        } else {
            assert_null(client);
        }
        recorder_destroy(&rec);
        expect_no_leak(base, "client_new", n);
        if (!fired) {
            print_message("    %ld allocations failed in turn\n", n);
            break;
        }
    }
    devsrv_stop(srv);
}

static void test_client_new_sk(void **state) {
    (void)state;
    client_new_loop(&(client_kind_t){TEST_SK, true});
}

static void test_client_new_sk_sync(void **state) {
    (void)state;
    client_new_loop(&(client_kind_t){TEST_SK, false});
}

static void test_client_new_pk(void **state) {
    (void)state;
    client_new_loop(&(client_kind_t){TEST_PK, true});
}

/* ---- steps on a working client ---- */

typedef enum step {
    STEP_TRACK,    /* track, identify, track_event (the worker is idle) */
    STEP_FLUSH,    /* flush: the worker encodes, sends, reads the answer */
    STEP_SHUTDOWN, /* shutdown and free with events queued */
    STEP_SYNC      /* batch = false: track sends on this thread */
} step_t;

static uint64_t track_three(segops_client_t *client, long n, bool armed) {
    uint64_t accepted = 0;
    segops_err_t err = segops_track(client, "u-1", "order_placed", "{\"sku\":\"A-1\",\"n\":2}");
    if (armed) expect_ok_or_nomem(err, "segops_track", n);
    accepted += err == SEGOPS_OK;
    err = segops_identify(client, "u-1", "{\"plan\":\"pro\"}");
    if (armed) expect_ok_or_nomem(err, "segops_identify", n);
    accepted += err == SEGOPS_OK;
    segops_event_t ev = {0};
    ev.user_id = "u-2";
    ev.event_type = "page_viewed";
    ev.occurred_at = "2026-01-02T03:04:05.678+01:00";
    ev.anonymous_id = "anon-2";
    err = segops_track_event(client, &ev);
    if (armed) expect_ok_or_nomem(err, "segops_track_event", n);
    accepted += err == SEGOPS_OK;
    if (!armed) assert_int_equal(accepted, 3);
    return accepted;
}

/* Server behaviour around the armed flush: faults for its first requests, and a
 * token minted beforehand and then revoked (the 401, re-mint, resend path). */
typedef struct twist {
    const char *script;
    bool revoke_warm_token;
} twist_t;

static void step_loop_twisted(const char *key, step_t step, const twist_t *twist) {
    devsrv_t *srv = start_server(NULL);
    long base = segops__alloc_test_live();
    for (long n = 0;; n++) {
        assert_true(n < MAX_STEPS);
        recorder_t rec;
        recorder_init(&rec);
        segops_options_t *opts = quiet_options(srv, key, &rec);
        if (step == STEP_SYNC) assert_int_equal(segops_options_set_batch(opts, false), SEGOPS_OK);
        segops_client_t *client;
        assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
        segops_options_free(opts);
        uint64_t server_before = devsrv_event_count(srv);
        uint64_t accepted = 0;
        window_t w;
        bool fired = false;
        switch (step) {
        case STEP_TRACK:
            arm(&w, n);
            accepted = track_three(client, n, true);
            fired = disarm(&w);
            assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
            check_outcome(client, srv, &rec, server_before, accepted, n);
            assert_int_equal(rec.reports, 0); /* refused calls have no other effect */
            break;
        case STEP_FLUSH:
            if (twist && twist->revoke_warm_token) {
                assert_int_equal(segops_track(client, "u-0", "warm_up", NULL), SEGOPS_OK);
                assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
                devsrv_revoke_tokens(srv);
                accepted++;
            }
            /* Faults left over by an iteration that never sent are not doubled. */
            if (twist && twist->script && devsrv_script_pending(srv) == 0)
                assert_int_equal(devsrv_script_text(srv, twist->script), 0);
            accepted += track_three(client, n, false);
            arm(&w, n);
            assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
            fired = disarm(&w);
            check_outcome(client, srv, &rec, server_before, accepted, n);
            break;
        case STEP_SHUTDOWN: {
            accepted = track_three(client, n, false);
            arm(&w, n);
            assert_int_equal(segops_shutdown(client, 30000), SEGOPS_OK);
            fired = disarm(&w);
            check_outcome(client, srv, &rec, server_before, accepted, n);
            break;
        }
        case STEP_SYNC: {
            /* The send's outcome is the return value; nothing goes to on_error. */
            arm(&w, n);
            segops_err_t err = segops_track(client, "u-1", "order_placed", "{\"a\":1}");
            fired = disarm(&w);
            /* pk_: get_user's copy failing fails the mint (documented as HANDSHAKE). */
            if (!(strncmp(key, "pk_", 3) == 0 && err == SEGOPS_E_HANDSHAKE))
                expect_ok_or_nomem(err, "segops_track (batch off)", n);
            segops_stats_t st;
            assert_int_equal(segops_client_stats(client, &st), SEGOPS_OK);
            assert_int_equal(st.pending, 0);
            assert_int_equal(rec.reports, 0);
            uint64_t at_server = devsrv_event_count(srv) - server_before;
            assert_int_equal(at_server, st.delivered);
            assert_int_equal(at_server, err == SEGOPS_OK ? 1 : 0);
            assert_conservation(client);
            break;
        }
        }
        if (step == STEP_SHUTDOWN) {
            arm(&w, n); /* free after shutdown must not need memory either */
            segops_client_free(client);
            fired |= disarm(&w);
        } else {
            segops_client_free(client);
        }
        recorder_destroy(&rec);
        expect_no_leak(base, "client step", n);
        if (!fired) {
            print_message("    %ld allocations failed in turn\n", n);
            break;
        }
    }
    devsrv_stop(srv);
}

static void step_loop(const char *key, step_t step) { step_loop_twisted(key, step, NULL); }

static void test_track_sk(void **state) {
    (void)state;
    step_loop(TEST_SK, STEP_TRACK);
}

static void test_flush_sk(void **state) {
    (void)state;
    step_loop(TEST_SK, STEP_FLUSH);
}

static void test_shutdown_sk(void **state) {
    (void)state;
    step_loop(TEST_SK, STEP_SHUTDOWN);
}

static void test_sync_sk(void **state) {
    (void)state;
    step_loop(TEST_SK, STEP_SYNC);
}

/* The pk_ handshake happens inside flush: get_user, the mint body, the POST,
 * the answer, the cached token, then the batch. */
static void test_flush_pk_handshake(void **state) {
    (void)state;
    step_loop(TEST_PK, STEP_FLUSH);
}

/* Retries (5xx, a dropped connection), a 413 split, and a 429 wait. */
static void test_flush_sk_faults(void **state) {
    (void)state;
    step_loop_twisted(TEST_SK, STEP_FLUSH, &(twist_t){.script = "503,close,413,429:ra=0"});
}

static void test_flush_pk_remint(void **state) {
    (void)state;
    step_loop_twisted(TEST_PK, STEP_FLUSH, &(twist_t){.revoke_warm_token = true});
}

static void test_flush_pk_faults(void **state) {
    (void)state;
    step_loop_twisted(TEST_PK, STEP_FLUSH, &(twist_t){.script = "503,401,413"});
}

static void test_shutdown_pk(void **state) {
    (void)state;
    step_loop(TEST_PK, STEP_SHUTDOWN);
}

static void test_sync_pk(void **state) {
    (void)state;
    step_loop(TEST_PK, STEP_SYNC);
}

/* The whole life of a client in one window, for good measure. */
static void test_whole_lifecycle(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    static const char *const keys[] = {TEST_SK, TEST_PK};
    for (size_t k = 0; k < 2; k++) {
        long base = segops__alloc_test_live();
        for (long n = 0;; n++) {
            assert_true(n < MAX_STEPS);
            recorder_t rec;
            recorder_init(&rec);
            uint64_t server_before = devsrv_event_count(srv);
            window_t w;
            arm(&w, n);
            segops_options_t *opts = NULL;
            segops_err_t err = segops_options_new(&opts);
            if (err == SEGOPS_OK) err = segops_options_set_api_url(opts, devsrv_url(srv));
            if (err == SEGOPS_OK) err = segops_options_set_api_key(opts, keys[k]);
            if (err == SEGOPS_OK) err = segops_options_set_on_error(opts, recorder_on_error, &rec);
            if (err == SEGOPS_OK) err = segops_options_set_get_user(opts, get_user, NULL);
            if (err == SEGOPS_OK) err = segops_options_set_retry_backoff_ms(opts, 1, 5);
            segops_client_t *client = NULL;
            if (err == SEGOPS_OK) err = segops_client_new(opts, &client);
            segops_options_free(opts);
            expect_ok_or_nomem(err, "setup", n);
            if (client) {
                uint64_t accepted = track_three(client, n, true);
                assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
                assert_int_equal(segops_shutdown(client, 30000), SEGOPS_OK);
                segops__alloc_test_set_fail_after(-1); /* checks only below */
                check_outcome(client, srv, &rec, server_before, accepted, n);
                segops_client_free(client);
            }
            bool fired = disarm(&w);
            recorder_destroy(&rec);
            expect_no_leak(base, "lifecycle", n);
            if (!fired) {
                print_message("    %ld allocations failed in turn\n", n);
                break;
            }
        }
    }
    devsrv_stop(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_client_new_sk),
        cmocka_unit_test(test_client_new_sk_sync),
        cmocka_unit_test(test_client_new_pk),
        cmocka_unit_test(test_track_sk),
        cmocka_unit_test(test_flush_sk),
        cmocka_unit_test(test_shutdown_sk),
        cmocka_unit_test(test_sync_sk),
        cmocka_unit_test(test_flush_sk_faults),
        cmocka_unit_test(test_flush_pk_handshake),
        cmocka_unit_test(test_flush_pk_remint),
        cmocka_unit_test(test_flush_pk_faults),
        cmocka_unit_test(test_shutdown_pk),
        cmocka_unit_test(test_sync_pk),
        cmocka_unit_test(test_whole_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
