/* Outages with a spool: a batch whose retry budget runs out is not dropped but
 * waits on disk and is retried, so an outage four times the budget loses
 * nothing; and with a small memory queue a long backlog goes to disk while
 * memory stays within the queue's bound. */
#include "spooltest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"

#define RATE_PER_S 200
#define BUDGET_MS 2000

/* Tracks RATE_PER_S events a second, numbered from *next, for ms. */
static void track_paced(segops_client_t *client, int *next, int ms) {
    int64_t end = now_ms() + ms;
    while (now_ms() < end) {
        track_n(client, "u", *next, RATE_PER_S / 20);
        *next += RATE_PER_S / 20;
        sleep_ms(50);
    }
}

static segops_options_t *outage_options(fixture_t *f, const char *dir) {
    segops_options_t *opts = make_options(f->srv, TEST_SK, &f->rec); /* default backoff */
    assert_int_equal(segops_options_set_retry_budget_ms(opts, BUDGET_MS), SEGOPS_OK);
    if (dir) assert_int_equal(segops_options_set_spool_dir(opts, dir), SEGOPS_OK);
    return opts;
}

static void test_outage_four_times_the_retry_budget_loses_nothing(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    fixture_client(&f, outage_options(&f, spool_path("outage")));
    int next = 0;
    assert_int_equal(devsrv_pause(f.srv), 0);
    track_paced(f.client, &next, 4 * BUDGET_MS);
    segops_stats_t st = stats_of(f.client);
    assert_true(st.requests > 1); /* it tried, and tried again past the budget */
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.pending, (uint64_t)next);
    assert_conservation(f.client);

    assert_int_equal(devsrv_resume(f.srv), 0);
    track_paced(f.client, &next, 500);
    /* A flush cuts the current backoff short. */
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    st = stats_of(f.client);
    assert_int_equal(st.enqueued, (uint64_t)next);
    assert_int_equal(st.delivered, (uint64_t)next);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.dropped_retries_exhausted, 0);
    assert_true(st.retries > 0);
    assert_int_equal(reports_of(&f.rec), 0);
    assert_conservation(f.client);
    assert_numbered_once(f.srv, 0, 0, next);
    fixture_finish(&f);
}

/* The control: the same outage without a spool does drop (the test above would
 * fail if the spool did nothing). Shorter: the budget only has to run out. */
static void test_without_a_spool_the_same_outage_drops(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    fixture_client(&f, outage_options(&f, NULL));
    int next = 0;
    assert_int_equal(devsrv_pause(f.srv), 0);
    track_paced(f.client, &next, BUDGET_MS + 1500);
    assert_int_equal(devsrv_resume(f.srv), 0);
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    segops_stats_t st = stats_of(f.client);
    assert_true(st.dropped_retries_exhausted > 0);
    assert_conservation(f.client);
    fixture_stop(&f);
}

#define SMALL_QUEUE 1000
#define BACKLOG 20000
#define PAD 1000 /* payload bytes beyond the number: memory shows in 64 KiB blocks */

static void track_padded(segops_client_t *client, int first, int n) {
    static char payload[PAD + 64];
    for (int i = first; i < first + n; i++) {
        int len = snprintf(payload, sizeof payload, "{\"i\":%d,\"pad\":\"", i);
        memset(payload + len, 'x', PAD);
        snprintf(payload + len + PAD, sizeof payload - (size_t)len - PAD, "\"}");
        assert_int_equal(segops_track(client, "u", "item_viewed", payload), SEGOPS_OK);
    }
}

static long rss_kib(void) {
    long pages = 0, resident = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (!statm) return 0;
    if (fscanf(statm, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(statm);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* max_queue_events 1,000 and 20,000 events tracked with the server down: none
 * is refused, the rest waits on disk, and the library's memory stays near what
 * the bound allows (its live allocations, counted by alloc.c: events live in
 * 64 KiB blocks, so 20,000 events of 1 KB in memory would need 300 more). */
static void test_small_memory_queue_spills_to_disk_and_stays_bounded(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", spool_path("bounded"));
    segops_options_t *opts = spool_options(&f, 500, dir);
    assert_int_equal(segops_options_set_max_queue_events(opts, SMALL_QUEUE), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(devsrv_pause(f.srv), 0);
    track_padded(f.client, 0, SMALL_QUEUE);
    wait_spooled(f.client, SMALL_QUEUE);
    long live_full = segops__alloc_test_live(), rss_full = rss_kib();
    uint64_t bytes_full = stats_of(f.client).spool_bytes;

    track_padded(f.client, SMALL_QUEUE, BACKLOG - SMALL_QUEUE);
    wait_spooled(f.client, BACKLOG);
    long live_grown = segops__alloc_test_live() - live_full;
    segops_stats_t st = stats_of(f.client);
    print_message("spool_bytes %llu -> %llu; live allocations +%ld; RSS +%ld KiB\n",
                  (unsigned long long)bytes_full, (unsigned long long)st.spool_bytes, live_grown,
                  rss_kib() - rss_full);
    assert_int_equal(st.enqueued, BACKLOG);
    assert_int_equal(st.rejected_queue_full, 0);
    assert_int_equal(st.pending, BACKLOG); /* pending counts what waits on disk too */
    assert_int_equal(st.dropped, 0);
    assert_true(st.spool_bytes >= (uint64_t)BACKLOG * PAD);
    assert_true(st.spool_bytes > bytes_full);
    /* spool_bytes counts the segment files: all there is but the small ack files. */
    uint64_t on_disk = spool_file_bytes(dir);
    assert_true(st.spool_bytes <= on_disk && on_disk - st.spool_bytes < 4096);
    assert_true(live_grown < 64); /* far below the ~300 blocks of an unbounded queue */
    assert_conservation(f.client);

    assert_int_equal(devsrv_resume(f.srv), 0);
    assert_int_equal(segops_flush(f.client, 120000), SEGOPS_OK);
    st = stats_of(f.client);
    assert_int_equal(st.delivered, BACKLOG);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.recovered, 0); /* its own spill is not recovered */
    assert_int_equal(reports_of(&f.rec), 0);
    assert_conservation(f.client);
    assert_numbered_once(f.srv, 0, 0, BACKLOG);
    fixture_finish(&f);
    assert_int_equal(spool_runs(dir, NULL, 0), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outage_four_times_the_retry_budget_loses_nothing),
        cmocka_unit_test(test_without_a_spool_the_same_outage_drops),
        cmocka_unit_test(test_small_memory_queue_spills_to_disk_and_stays_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
