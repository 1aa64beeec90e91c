/* The pk_ handshake end to end: signed user ids (PROTOCOL.md, "Signed user
 * ids"): a good signature is accepted; forged, stale or missing ones are
 * refused by a key that requires them. */
#include "identity.h"

#include <stdio.h>

/* ---- signed identities ---- */

static void test_signed_identity_accepted(void **state) {
    (void)state;
    identity_t id;
    identity_init(&id, "user-7");
    id.sign = true;
    fixture_t f;
    pk_fixture_start(&f, &id, NULL, &(pk_setup_t){.key = TEST_SIGNED_PK});
    track_n(f.client, "someone-else", 0, 10);
    assert_int_equal(segops_flush(f.client, 10000), SEGOPS_OK);

    assert_int_equal(reports_of(&f.rec), 0);
    assert_int_equal(stats_of(f.client).delivered, 10);
    assert_int_equal(server_stats(f.srv).mints, 1);
    assert_all_user_ids(f.srv, "user-7");
    char body[512], expect[512];
    devsrv_last_mint_body(f.srv, body, sizeof body);
    snprintf(expect, sizeof expect,
             "{\"user_id\":\"user-7\",\"user_id_sig\":\"%s\",\"user_id_ts\":%lld}", id.last_sig,
             (long long)id.last_ts);
    assert_string_equal(body, expect);
    assert_int_equal(id.setter_errors, 0);
    fixture_finish(&f);
}

static void run_rejected_signature(identity_t *id) {
    fixture_t f;
    pk_fixture_start(&f, id, NULL, &(pk_setup_t){.key = TEST_SIGNED_PK});
    track_and_flush(&f, NULL, 5, 10000);

    assert_int_equal(reports_of(&f.rec), 1);
    assert_report(&f.rec, 0, SEGOPS_E_HANDSHAKE, 401, 5, SEGOPS_DROP_REJECTED);
    devsrv_stats_t ss = server_stats(f.srv);
    assert_int_equal(ss.mint_requests, 1); /* an auth error is not retried */
    assert_int_equal(ss.mints, 0);
    assert_int_equal(ss.batch_requests, 0);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.dropped_rejected, 5);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(id->setter_errors, 0);
    fixture_finish(&f);
}

static void test_forged_signature_rejected(void **state) {
    (void)state;
    identity_t id;
    identity_init(&id, "user-7");
    id.sign = true;
    id.sign_secret = "00112233445566778899aabbccddeeff"; /* not the key's secret */
    run_rejected_signature(&id);
}

static void test_stale_signature_rejected(void **state) {
    (void)state;
    identity_t id;
    identity_init(&id, "user-7");
    id.sign = true;
    id.ts_offset_s = -600; /* ten minutes old: outside the ±5 minute window */
    run_rejected_signature(&id);
}

static void test_unsigned_identity_rejected_by_signed_key(void **state) {
    (void)state;
    identity_t id;
    identity_init(&id, "user-7");
    run_rejected_signature(&id);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_identity_accepted),
        cmocka_unit_test(test_forged_signature_rejected),
        cmocka_unit_test(test_stale_signature_rejected),
        cmocka_unit_test(test_unsigned_identity_rejected_by_signed_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
