/* The pk_ handshake end to end: a session token never reaches a log line or
 * an on_error report, through mints, re-mints, 401s and retries. */
#include "identity.h"

#include <stdlib.h>
#include <string.h>

#include "log_capture.h" /* every line the logger says, whole */

/* ---- the token never leaks into reports or logs ---- */

static bool contains(const char *hay, const char *needle) {
    return needle[0] && strstr(hay, needle) != NULL;
}

static void test_token_never_logged_or_reported(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    identity_t id;
    identity_init(&id, "uid-log");
    log_capture_t *lc = calloc(1, sizeof *lc); /* outlives a failed test: the logger may run */
    assert_non_null(lc);
    log_capture_init(lc);
    segops_options_t *opts = pk_options(&f, &id, &(pk_setup_t){.batch_size = 1000});
    assert_int_equal(segops_options_set_logger(opts, log_capture_fn, SEGOPS_LOG_DEBUG, lc),
                     SEGOPS_OK);
    fixture_client(&f, opts);
    char tokens[4][128];
    int ntokens = 0;

    track_and_flush(&f, NULL, 3, 10000); /* mint #1, delivered */
    devsrv_last_token(f.srv, tokens[ntokens++], sizeof tokens[0]);
    devsrv_revoke_tokens(f.srv); /* 401, mint #2, resend */
    track_and_flush(&f, NULL, 3, 10000);
    devsrv_last_token(f.srv, tokens[ntokens++], sizeof tokens[0]);
    track_and_flush(&f, "401,401", 3, 10000); /* 401, mint #3, 401: dropped */
    devsrv_last_token(f.srv, tokens[ntokens++], sizeof tokens[0]);
    track_and_flush(&f, "503", 3, 10000); /* a retried batch: a WARN line */
    devsrv_revoke_tokens(f.srv);
    devsrv_fail_mints(f.srv, 500, 1); /* 401, mint fails once, then mint #4 */
    track_and_flush(&f, NULL, 3, 10000);
    devsrv_last_token(f.srv, tokens[ntokens++], sizeof tokens[0]);
    assert_int_equal(segops_shutdown(f.client, 10000), SEGOPS_OK);

    assert_int_equal(server_stats(f.srv).mints, 4);
    assert_int_equal(reports_of(&f.rec), 1); /* the second 401 */
    assert_int_equal(f.rec.info[0].code, SEGOPS_E_AUTH);
    assert_int_equal(f.rec.info[0].event_count, 3);
    /* The logger did hear about mints, 401s and retries (every line is kept:
     * a capture that lost one fails here). */
    assert_true(log_capture_lines(lc) >= 4);
    for (int k = 0; k < ntokens; k++) {
        assert_int_equal(strlen(tokens[k]), 64);
        assert_false(log_capture_contains(lc, tokens[k]));
        for (size_t r = 0; r < reports_of(&f.rec) && r < RECORDER_MAX; r++)
            assert_false(contains(f.rec.messages[r], tokens[k]));
    }
    assert_false(log_capture_contains(lc, TEST_PK));
    assert_false(log_capture_contains(lc, "Bearer "));

    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.delivered, 12);
    assert_int_equal(st.dropped_rejected, 3);
    fixture_finish(&f); /* the books balance; the logger is done with lc */
    log_capture_destroy(lc);
    free(lc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_never_logged_or_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
