/* The pk_ handshake end to end: a token's lifetime. Short-lived tokens are
 * refreshed before they expire, every expires_at form is read, a revoked
 * token is minted again once. The real library against the local server. */
#include "identity.h"

/* ---- short-lived tokens are refreshed before they expire ---- */

static void run_refresh(devsrv_expires_style_t style) {
    /* 4 s tokens: the client refreshes at half the lifetime, 2 s in. */
    devsrv_config_t cfg = {.token_lifetime_s = 4, .expires_style = style};
    identity_t id;
    identity_init(&id, "uid-refresh");
    fixture_t f;
    pk_fixture_start(&f, &id, &cfg, NULL);

    uint64_t total = 0;
    const int64_t give_up = now_ms() + 20000;
    while (server_stats(f.srv).mints < 3 && now_ms() < give_up) {
        track_n(f.client, "u", 0, 10);
        total += 10;
        assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
        sleep_ms(100);
    }
    devsrv_stats_t ss = server_stats(f.srv);
    segops_stats_t st = stats_of(f.client);
    assert_true(ss.mints >= 3);
    assert_int_equal(ss.auth_failures, 0); /* never sent an expired token */
    assert_int_equal(st.retries, 0);
    assert_int_equal(st.token_mints, ss.mint_requests);
    assert_int_equal(st.delivered, total);
    assert_int_equal(ss.events_received, total);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_finish(&f);
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
    identity_t id;
    identity_init(&id, "uid-rev");
    fixture_t f;
    pk_fixture_start(&f, &id, NULL, &(pk_setup_t){.batch_size = 1000});

    track_and_flush(&f, NULL, 50, 10000);
    char first[128], second[128];
    devsrv_last_token(f.srv, first, sizeof first);
    devsrv_revoke_tokens(f.srv);
    track_and_flush(&f, NULL, 30, 10000);
    devsrv_last_token(f.srv, second, sizeof second);

    devsrv_stats_t ss = server_stats(f.srv);
    segops_stats_t st = stats_of(f.client);
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
    assert_int_equal(reports_of(&f.rec), 0);
    assert_all_user_ids(f.srv, "uid-rev");
    fixture_finish(&f);
}

/* ---- a second 401 after the re-mint is an auth error, reported once ---- */

static void test_second_401_is_auth_error(void **state) {
    (void)state;
    identity_t id;
    identity_init(&id, "uid-401");
    fixture_t f;
    pk_fixture_start(&f, &id, NULL, &(pk_setup_t){.batch_size = 1000});

    track_and_flush(&f, NULL, 4, 10000);
    /* The server refuses the token, and the fresh one too. */
    track_and_flush(&f, "401,401", 7, 10000);

    assert_int_equal(reports_of(&f.rec), 1);
    assert_report(&f.rec, 0, SEGOPS_E_AUTH, 401, 7, SEGOPS_DROP_REJECTED);
    devsrv_stats_t ss = server_stats(f.srv);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(ss.mint_requests, 2); /* the first, and exactly one re-mint */
    assert_int_equal(st.token_mints, 2);
    assert_int_equal(ss.batch_requests, 3);
    assert_int_equal(st.dropped_rejected, 7);
    assert_int_equal(st.delivered, 4);

    /* The next batch goes through with the token minted last. */
    track_and_flush(&f, NULL, 3, 10000);
    st = stats_of(f.client);
    assert_int_equal(st.delivered, 7);
    assert_int_equal(st.token_mints, 2);
    assert_int_equal(reports_of(&f.rec), 1);
    fixture_finish(&f);
}

/* ---- expires_at forms ---- */

static void test_expires_at_forms_accepted(void **state) {
    (void)state;
    const devsrv_expires_style_t styles[] = {DEVSRV_EXPIRES_MS_Z, DEVSRV_EXPIRES_SECONDS_Z,
                                             DEVSRV_EXPIRES_MICROS_Z, DEVSRV_EXPIRES_OFFSET};
    for (size_t k = 0; k < sizeof styles / sizeof *styles; k++) {
        devsrv_config_t cfg = {.expires_style = styles[k]};
        identity_t id;
        identity_init(&id, "uid-exp");
        fixture_t f;
        pk_fixture_start(&f, &id, &cfg, NULL);
        for (int r = 0; r < 3; r++) {
            track_and_flush(&f, NULL, 5, 10000);
        }
        assert_int_equal(reports_of(&f.rec), 0);
        assert_int_equal(stats_of(f.client).delivered, 15);
        assert_int_equal(server_stats(f.srv).mint_requests, 1); /* cached: a future expiry */
        fixture_finish(&f);
    }
}

/* expires_at already past by our clock (skew): the token is kept a while
 * rather than minted again before every request. */
static void test_expired_by_our_clock_is_not_reminted_per_request(void **state) {
    (void)state;
    devsrv_config_t cfg = {.expires_style = DEVSRV_EXPIRES_PAST};
    identity_t id;
    identity_init(&id, "uid-skew");
    fixture_t f;
    pk_fixture_start(&f, &id, &cfg, &(pk_setup_t){.batch_size = 1000});
    for (int round = 0; round < 5; round++) {
        track_and_flush(&f, NULL, 3, 10000);
    }
    devsrv_stats_t ss = server_stats(f.srv);
    assert_int_equal(ss.batch_requests, 5);
    assert_int_equal(ss.mint_requests, 1);
    assert_int_equal(stats_of(f.client).delivered, 15);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_finish(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_lifetime_refreshes_before_expiry),
        cmocka_unit_test(test_refresh_honours_offset),
        cmocka_unit_test(test_revoked_token_remints_once),
        cmocka_unit_test(test_second_401_is_auth_error),
        cmocka_unit_test(test_expires_at_forms_accepted),
        cmocka_unit_test(test_expired_by_our_clock_is_not_reminted_per_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
