/* The pk_ handshake end to end: mints that fail (get_user errors, 5xx, 429,
 * unknown keys, expires_at that is not a time) and what each costs the
 * batch waiting for it. The real library against the local server. */
#include "identity.h"

#include <string.h>

static void test_unparseable_expires_at_is_handshake_error(void **state) {
    (void)state;
    devsrv_config_t cfg = {.expires_style = DEVSRV_EXPIRES_GARBAGE};
    identity_t id;
    identity_init(&id, "uid-garbage");
    fixture_t f;
    pk_fixture_start(&f, &id, &cfg, &(pk_setup_t){.batch_size = 1000});

    track_and_flush(&f, NULL, 6, 10000);
    assert_int_equal(reports_of(&f.rec), 1);
    assert_int_equal(f.rec.info[0].code, SEGOPS_E_HANDSHAKE);
    assert_int_equal(f.rec.info[0].event_count, 6);
    assert_int_equal(f.rec.info[0].reason, SEGOPS_DROP_REJECTED);
    assert_int_equal(server_stats(f.srv).mint_requests, 1); /* no re-mint per attempt */

    track_and_flush(&f, NULL, 4, 10000);
    assert_int_equal(reports_of(&f.rec), 2); /* once per batch */
    assert_int_equal(f.rec.info[1].code, SEGOPS_E_HANDSHAKE);
    assert_int_equal(f.rec.info[1].event_count, 4);
    devsrv_stats_t ss = server_stats(f.srv);
    assert_int_equal(ss.mint_requests, 2);
    assert_int_equal(ss.batch_requests, 0);

    /* Once the server answers properly, delivery resumes. */
    devsrv_set_expires_style(f.srv, DEVSRV_EXPIRES_MS_Z);
    track_and_flush(&f, NULL, 3, 10000);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.delivered, 3);
    assert_int_equal(st.dropped_rejected, 10);
    assert_int_equal(reports_of(&f.rec), 2);
    fixture_finish(&f);
}

/* ---- mint failures ---- */

static void test_get_user_error_is_handshake_error(void **state) {
    (void)state;
    identity_t id;
    identity_init(&id, NULL);
    id.fail = SEGOPS_E_STATE; /* e.g. nobody logged in */
    fixture_t f;
    pk_fixture_start(&f, &id, NULL, &(pk_setup_t){.batch_size = 1000});
    track_and_flush(&f, NULL, 9, 10000);
    assert_int_equal(reports_of(&f.rec), 1);
    assert_report(&f.rec, 0, SEGOPS_E_HANDSHAKE, 0, 9, SEGOPS_DROP_REJECTED);
    assert_int_equal(identity_calls(&id), 1);
    devsrv_stats_t ss = server_stats(f.srv);
    assert_int_equal(ss.mint_requests, 0); /* nothing was sent */
    assert_int_equal(ss.batch_requests, 0);
    assert_int_equal(stats_of(f.client).dropped_rejected, 9);
    fixture_finish(&f);
}

static void test_mint_500_then_200_is_retried(void **state) {
    (void)state;
    identity_t id;
    identity_init(&id, "uid-500");
    fixture_t f;
    pk_fixture_start(&f, &id, NULL, &(pk_setup_t){.batch_size = 1000});
    devsrv_fail_mints(f.srv, 500, 1);
    track_and_flush(&f, NULL, 6, 10000);
    assert_int_equal(reports_of(&f.rec), 0);
    devsrv_stats_t ss = server_stats(f.srv);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(ss.mint_requests, 2);
    assert_int_equal(ss.mints, 1);
    assert_int_equal(st.token_mints, 2);
    assert_int_equal(st.delivered, 6);
    assert_int_equal(ss.batch_requests, 1);
    assert_int_equal(st.requests, 1);
    fixture_finish(&f);
}

/* A 429 on the mint carries its own Retry-After: the next mint waits for it
 * (the client's backoff here is 10-40 ms, so only Retry-After explains 1 s). */
static void test_mint_429_retry_after_is_honoured(void **state) {
    (void)state;
    identity_t id;
    identity_init(&id, "uid-429");
    fixture_t f;
    pk_fixture_start(&f, &id, NULL, &(pk_setup_t){.batch_size = 1000});
    devsrv_fail_mints_retry_after(f.srv, 429, 1, "1");
    track_n(f.client, "u", 0, 4);
    int64_t t0 = now_ms();
    assert_int_equal(segops_flush(f.client, 15000), SEGOPS_OK);
    int64_t elapsed = now_ms() - t0;
    if (elapsed < 1000)
        fail_msg("minted again after %lld ms despite Retry-After: 1", (long long)elapsed);
    assert_int_equal(reports_of(&f.rec), 0);
    assert_int_equal(server_stats(f.srv).mint_requests, 2);
    assert_int_equal(stats_of(f.client).delivered, 4);
    fixture_finish(&f);
}

/* A 429 on the mint is a 429 like a batch's: counted in rate_limited (as many
 * as the server answered) and read by the pacer, which holds every request
 * back for its Retry-After: the next one (the mint again) reaches the server
 * 2 s after the refused one at the earliest. */
static void test_mint_429_counts_and_paces(void **state) {
    (void)state;
    identity_t id;
    identity_init(&id, "uid-429-paced");
    fixture_t f;
    pk_fixture_start(&f, &id, NULL, &(pk_setup_t){.batch_size = 1000});
    devsrv_fail_mints_retry_after(f.srv, 429, 1, "2");
    track_n(f.client, "u", 0, 4);
    assert_int_equal(segops_flush(f.client, 15000), SEGOPS_OK);
    devsrv_stats_t ss = server_stats(f.srv);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(ss.answers_429, 1);
    assert_int_equal(st.rate_limited, 1);
    assert_int_equal(st.delivered, 4);
    assert_int_equal(reports_of(&f.rec), 0);
    devsrv_request_t log[8];
    assert_int_equal(devsrv_request_log(f.srv, log, 8), 3); /* mint 429, mint, batch */
    assert_int_equal(log[0].kind, DEVSRV_REQUEST_MINT);
    assert_int_equal(log[0].status, 429);
    assert_int_equal(log[1].kind, DEVSRV_REQUEST_MINT);
    assert_true(log[1].arrival_ms - log[0].arrival_ms >= 2000);
    fixture_finish(&f);
}

static void test_mint_5xx_forever_exhausts_retries(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    identity_t id;
    identity_init(&id, "uid-503");
    devsrv_fail_mints(f.srv, 503, 1000);
    segops_options_t *opts = pk_options(&f, &id, NULL);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 5, 10), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_retries(opts, 2), SEGOPS_OK);
    fixture_client(&f, opts);
    track_and_flush(&f, NULL, 4, 10000);
    assert_int_equal(reports_of(&f.rec), 1);
    assert_report(&f.rec, 0, SEGOPS_E_HANDSHAKE, 503, 4, SEGOPS_DROP_RETRIES_EXHAUSTED);
    assert_int_equal(server_stats(f.srv).mint_requests, 3); /* 1 + max_retries */
    assert_int_equal(stats_of(f.client).dropped_retries_exhausted, 4);
    fixture_finish(&f);
}

static void test_unknown_public_key_is_handshake_error(void **state) {
    (void)state;
    identity_t id;
    identity_init(&id, "u");
    fixture_t f;
    pk_fixture_start(&f, &id, NULL, &(pk_setup_t){.key = "pk_live_unknown_key_123"});
    track_and_flush(&f, NULL, 3, 10000);
    assert_int_equal(reports_of(&f.rec), 1);
    /* A refused mint is a handshake failure, final (not retried), with its status. */
    assert_int_equal(f.rec.info[0].code, SEGOPS_E_HANDSHAKE);
    assert_int_equal(f.rec.info[0].http_status, 401);
    assert_int_equal(f.rec.info[0].reason, SEGOPS_DROP_REJECTED);
    assert_int_equal(f.rec.info[0].event_count, 3);
    assert_null(strstr(f.rec.messages[0], "pk_live"));
    assert_int_equal(server_stats(f.srv).mint_requests, 1);
    fixture_finish(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unparseable_expires_at_is_handshake_error),
        cmocka_unit_test(test_get_user_error_is_handshake_error),
        cmocka_unit_test(test_mint_500_then_200_is_retried),
        cmocka_unit_test(test_mint_429_retry_after_is_honoured),
        cmocka_unit_test(test_mint_429_counts_and_paces),
        cmocka_unit_test(test_mint_5xx_forever_exhausts_retries),
        cmocka_unit_test(test_unknown_public_key_is_handshake_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
