/* Restart: what a client could not deliver by its shutdown deadline stays on
 * disk, unreported, and the next client on the spool_dir delivers it (counted
 * recovered); events older than spool_max_age_ms are dropped as expired
 * instead, reported once. */
#include "spooltest.h"

#include <stdio.h>
#include <string.h>

#define RESTART_EVENTS 5000

static void test_shutdown_against_a_dead_server_leaves_events_for_the_next_client(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", spool_path("restart"));

    assert_int_equal(devsrv_pause(f.srv), 0);
    fixture_client(&f, spool_options(&f, 500, dir));
    track_n(f.client, "u", 0, RESTART_EVENTS);
    int64_t t0 = now_ms();
    assert_int_equal(segops_shutdown(f.client, 500), SEGOPS_E_TIMEOUT);
    assert_true(now_ms() - t0 < 500 + HANG_MS);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.enqueued, RESTART_EVENTS);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.dropped, 0); /* nothing reported as dropped: it is all on disk */
    assert_int_equal(st.pending, RESTART_EVENTS);
    assert_int_equal(st.spooled, RESTART_EVENTS);
    assert_true(st.spool_bytes > 0);
    assert_int_equal(st.spool_write_failures, 0);
    assert_int_equal(reports_of(&f.rec), 0);
    assert_conservation(f.client);
    segops_client_free(f.client);
    f.client = NULL;
    assert_int_equal(spool_runs(dir, NULL, 0), 1);
    assert_int_equal(server_events(f.srv), 0);

    assert_int_equal(devsrv_resume(f.srv), 0);
    fixture_client(&f, spool_options(&f, 500, dir));
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    st = stats_of(f.client);
    assert_int_equal(st.enqueued, 0);
    assert_int_equal(st.recovered, RESTART_EVENTS);
    assert_int_equal(st.delivered, RESTART_EVENTS);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.pending, 0);
    assert_int_equal(reports_of(&f.rec), 0);
    assert_conservation(f.client);
    assert_numbered_once(f.srv, 0, 0, RESTART_EVENTS);
    /* Full requests: 5,000 events need no more than 10 (and a few small ones at most). */
    assert_true(server_stats(f.srv).batch_requests <= 12);
    fixture_finish(&f);
    assert_int_equal(spool_runs(dir, NULL, 0), 0);
}

/* The next client also tracks events of its own meanwhile: both sets arrive
 * once, and the law holds at every step. */
static void test_recovered_and_new_events_both_delivered(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", spool_path("mixed"));
    leave_on_disk(&f, dir, 0, 700);
    fixture_client(&f, spool_options(&f, 20, dir));
    for (int i = 700; i < 1400; i += 100) {
        track_n(f.client, "u", i, 100);
        assert_conservation(f.client);
    }
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.recovered, 700);
    assert_int_equal(st.enqueued, 700);
    assert_int_equal(st.delivered, 1400);
    assert_int_equal(st.dropped, 0);
    assert_numbered_once(f.srv, 0, 0, 1400);
    fixture_finish(&f);
    assert_int_equal(spool_runs(dir, NULL, 0), 0);
}

/* A clean shutdown with the server up leaves no files behind. */
static void test_delivered_events_leave_no_files(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", spool_path("clean"));
    fixture_client(&f, spool_options(&f, 20, dir));
    assert_int_equal(spool_runs(dir, NULL, 0), 1); /* its own run, while it lives */
    track_n(f.client, "u", 0, 300);
    wait_spooled(f.client, 300);
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    assert_numbered_once(f.srv, 0, 0, 300);
    fixture_finish(&f);
    assert_int_equal(spool_runs(dir, NULL, 0), 0);
}

/* Events on disk older than spool_max_age_ms are dropped as expired, reported
 * once; younger ones from a later run are delivered. */
static void test_events_past_max_age_are_reported_once_as_expired(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", spool_path("age"));
    leave_on_disk(&f, dir, 0, 40);
    sleep_ms(3500);
    leave_on_disk(&f, dir, 40, 25); /* adopts the first run and leaves both */
    assert_int_equal(spool_runs(dir, NULL, 0), 2);

    segops_options_t *opts = spool_options(&f, 20, dir);
    assert_int_equal(segops_options_set_spool_max_age_ms(opts, 3000), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    sleep_ms(100); /* a second report would come from the spool thread's next round */
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.recovered, 65);
    assert_int_equal(st.dropped_expired, 40);
    assert_int_equal(st.dropped, 40);
    assert_int_equal(st.delivered, 25);
    assert_int_equal(st.pending, 0);
    assert_conservation(f.client);
    assert_int_equal(reports_of(&f.rec), 1);
    assert_report(&f.rec, 0, SEGOPS_E_TIMEOUT, 0, 40, SEGOPS_DROP_EXPIRED);
    assert_numbered_once(f.srv, 0, 40, 25);
    fixture_finish(&f);
    assert_int_equal(spool_runs(dir, NULL, 0), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shutdown_against_a_dead_server_leaves_events_for_the_next_client),
        cmocka_unit_test(test_recovered_and_new_events_both_delivered),
        cmocka_unit_test(test_delivered_events_leave_no_files),
        cmocka_unit_test(test_events_past_max_age_are_reported_once_as_expired),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
