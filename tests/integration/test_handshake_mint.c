/* The pk_ handshake end to end: one mint serves every batch, the mint body
 * holds exactly what get_user set, and anonymous ids reach the server
 * (PROTOCOL.md, "the pk_ handshake"). The real library against the local server. */
#include "identity.h"

#include <stdio.h>
#include <string.h>

/* ---- one mint serves every batch ---- */

static void test_one_mint_for_many_batches(void **state) {
    (void)state;
    identity_t id;
    identity_init(&id, "uid-42");
    fixture_t f;
    pk_fixture_start(&f, &id, NULL, NULL);

    const int rounds = 30, per_round = 100;
    for (int r = 0; r < rounds; r++) {
        char user[32];
        snprintf(user, sizeof user, "local-%d", r);
        track_n(f.client, user, 0, per_round);
        assert_int_equal(segops_flush(f.client, 30000), SEGOPS_OK);
    }
    const uint64_t total = (uint64_t)rounds * per_round;
    devsrv_stats_t ss = server_stats(f.srv);
    segops_stats_t st = stats_of(f.client);
    assert_true(ss.batch_requests >= (uint64_t)rounds); /* at least one request per flush */
    assert_int_equal(ss.mints, 1);
    assert_int_equal(ss.mint_requests, 1);
    assert_int_equal(ss.auth_failures, 0);
    assert_int_equal(st.token_mints, 1);
    assert_int_equal(identity_calls(&id), 1);
    assert_int_equal(st.delivered, total);
    assert_int_equal(ss.events_received, total);
    assert_int_equal(reports_of(&f.rec), 0);
    /* The server rewrote every user_id to the token's uid. */
    assert_int_equal(devsrv_event_count(f.srv), total);
    assert_all_user_ids(f.srv, "uid-42");

    char token[128], expect[160];
    assert_true(devsrv_last_token(f.srv, token, sizeof token) > 0);
    snprintf(expect, sizeof expect, "Bearer %s", token);
    devsrv_last_headers_t h;
    devsrv_get_last_headers(f.srv, &h);
    assert_string_equal(h.authorization, expect);
    assert_string_equal(h.content_type, "application/json");
    fixture_finish(&f);
}

/* ---- the mint body holds exactly what get_user set ---- */

static void expect_mint_body(identity_t *id, const char *expect_body, const char *expect_uid) {
    fixture_t f;
    pk_fixture_start(&f, id, NULL, NULL);
    track_n(f.client, "local", 0, 2);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_int_equal(reports_of(&f.rec), 0);
    assert_int_equal(id->setter_errors, 0);
    char body[1024];
    devsrv_last_mint_body(f.srv, body, sizeof body);
    assert_string_equal(body, expect_body);
    if (expect_uid) assert_all_user_ids(f.srv, expect_uid);
    fixture_finish(&f);
}

static void test_mint_body_has_only_set_fields(void **state) {
    (void)state;
    identity_t id;

    identity_init(&id, NULL); /* nothing set: an anonymous mint */
    expect_mint_body(&id, "{}", NULL);

    identity_init(&id, "u-1");
    expect_mint_body(&id, "{\"user_id\":\"u-1\"}", "u-1");

    identity_init(&id, NULL);
    id.anonymous_id = "anon-9f2c";
    expect_mint_body(&id, "{\"anonymous_id\":\"anon-9f2c\"}", "anon:anon-9f2c");

    identity_init(&id, "u \"q\" \\ \xc3\xa9");
    id.anonymous_id = "anon-1";
    expect_mint_body(&id, "{\"user_id\":\"u \\\"q\\\" \\\\ \xc3\xa9\",\"anonymous_id\":\"anon-1\"}",
                     "u \"q\" \\ \xc3\xa9");

    /* Signed at a fixed time so the body is known byte for byte; the key does
     * not require signatures, but a stale one is still refused, so sign at
     * "now" and rebuild the expectation from what was signed. */
    identity_init(&id, "u-2");
    id.anonymous_id = "anon-2";
    id.sign = true;
    id.try_bad_signature = true; /* a failed setter keeps the good signature */
    fixture_t f;
    pk_fixture_start(&f, &id, NULL, NULL);
    track_n(f.client, "local", 0, 1);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    char body[1024], expect[1024];
    devsrv_last_mint_body(f.srv, body, sizeof body);
    snprintf(expect, sizeof expect,
             "{\"user_id\":\"u-2\",\"anonymous_id\":\"anon-2\",\"user_id_sig\":\"%s\","
             "\"user_id_ts\":%lld}",
             id.last_sig, (long long)id.last_ts);
    assert_string_equal(body, expect);
    assert_int_equal(id.setter_errors, 0);
    assert_int_equal(reports_of(&f.rec), 0);
    assert_int_equal(stats_of(f.client).delivered, 1);
    fixture_finish(&f);
}

static void test_pk_without_get_user_is_config_error(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
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
    identity_t id;
    identity_init(&id, "uid-anon");
    fixture_t f;
    pk_fixture_start(&f, &id, NULL, NULL);
    segops_event_t ev = {0};
    ev.user_id = "local";
    ev.event_type = "page_viewed";
    ev.anonymous_id = "anon-evt-1";
    assert_int_equal(segops_track_event(f.client, &ev), SEGOPS_OK);
    ev.anonymous_id = NULL;
    assert_int_equal(segops_track_event(f.client, &ev), SEGOPS_OK);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);
    assert_int_equal(devsrv_event_count(f.srv), 2);
    devsrv_event_t got;
    assert_int_equal(devsrv_event_at(f.srv, 0, &got), 0);
    assert_string_equal(got.user_id, "uid-anon");
    assert_string_equal(got.anonymous_id, "anon-evt-1");
    assert_non_null(strstr(got.raw_json, "\"anonymous_id\":\"anon-evt-1\""));
    devsrv_event_free(&got);
    assert_int_equal(devsrv_event_at(f.srv, 1, &got), 0);
    assert_null(got.anonymous_id);
    devsrv_event_free(&got);
    assert_int_equal(reports_of(&f.rec), 0);
    fixture_finish(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_mint_for_many_batches),
        cmocka_unit_test(test_mint_body_has_only_set_fields),
        cmocka_unit_test(test_pk_without_get_user_is_config_error),
        cmocka_unit_test(test_event_anonymous_id_is_sent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
