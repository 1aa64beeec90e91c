/* Issue 11, defect 7: a 429 without Retry-After backs off more each time, as a
 * 5xx does. The waits are measured where they matter, between the attempts the
 * server received, and compared with each other (ratios within one run), never
 * with a fixed duration. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#define FAULTS 7 /* answers before the one that accepts the batch */
#define BASE_MS 100
#define CAP_MS 3000

/* Sends one event against FAULTS scripted answers `status` (no Retry-After),
 * then success, and writes the FAULTS gaps between consecutive attempts. */
static void measure_gaps(const char *status, int64_t gaps[FAULTS]) {
    devsrv_t *srv = start_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(srv, TEST_SK, &rec);
    /* batch_size 1 sends at once: no flush is involved, so nothing may cut a wait. */
    assert_int_equal(segops_options_set_batch_size(opts, 1), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, BASE_MS, CAP_MS), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    char script[128] = "";
    for (int i = 0; i < FAULTS; i++) {
        if (i) strcat(script, ",");
        strcat(script, status);
    }
    assert_int_equal(devsrv_script_text(srv, script), 0);

    /* The server's request counter, polled every millisecond, timestamps each
     * attempt as it arrives. */
    int64_t arrived[FAULTS + 1];
    uint64_t seen = 0;
    assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    int64_t until = now_ms() + 60000;
    while (seen < FAULTS + 1 && now_ms() < until) {
        uint64_t requests = server_stats(srv).batch_requests;
        int64_t now = now_ms();
        while (seen < requests && seen < FAULTS + 1) arrived[seen++] = now;
        sleep_ms(1);
    }
    if (seen < FAULTS + 1)
        fail_msg("%llu of %d attempts within 60 s", (unsigned long long)seen, FAULTS + 1);
    for (int i = 0; i < FAULTS; i++) gaps[i] = arrived[i + 1] - arrived[i];

    /* The last attempt delivered the event, after every wait. */
    assert_int_equal(devsrv_wait_events(srv, 1, 10000), 1);
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.delivered, 1);
    assert_int_equal(st.requests, FAULTS + 1);
    assert_int_equal(reports_of(&rec), 0);
    assert_conservation(client);
    assert_int_equal(segops_shutdown(client, 5000), SEGOPS_OK);
    segops_client_free(client);
    devsrv_stop(srv);
    recorder_destroy(&rec);
}

/* With base 100 ms, doubling waits reach 1.5-3 s by the sixth and seventh;
 * waits that never grow stay within one jitter range (50-100 ms) of the first. */
static void expect_growing(const char *status, const int64_t gaps[FAULTS]) {
    char list[256] = "";
    for (int i = 0; i < FAULTS; i++) {
        char one[32];
        snprintf(one, sizeof one, "%s%lld", i ? ", " : "", (long long)gaps[i]);
        strcat(list, one);
    }
    printf("%s: gaps between attempts (ms): %s\n", status, list);
    int64_t first = gaps[0] > 0 ? gaps[0] : 1;
    if (gaps[FAULTS - 1] <= 4 * first || gaps[FAULTS - 2] <= 2 * first ||
        gaps[FAULTS - 3] <= 2 * first)
        fail_msg("after %d answers %s without Retry-After the waits did not grow: %s ms "
                 "(the last must exceed 4x the first, the two before it 2x)",
                 FAULTS, status, list);
}

/* Before: waits stayed at the first backoff step (50-100 ms here) for the
 * whole retry budget, because rate-limit waits did not count as attempts. */
static void test_429_without_retry_after_backs_off_more(void **state) {
    (void)state;
    int64_t gaps[FAULTS];
    measure_gaps("429", gaps);
    expect_growing("429", gaps);
}

/* The reference (passes before and after): 503 waits double. */
static void test_503_backs_off_more(void **state) {
    (void)state;
    int64_t gaps[FAULTS];
    measure_gaps("503", gaps);
    expect_growing("503", gaps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_503_backs_off_more),
        cmocka_unit_test(test_429_without_retry_after_backs_off_more),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
