/* Lost records of the client's own run, harmed while it runs, the segment being written too. */
#include "spool_loss.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounded_thread.h"

#include "spool_loss.h"

/* A client whose first batch (10 events) a silent server holds while 190 more
 * go to disk only (the memory queue holds 10): all of them are in the spool
 * files when it returns. */
static segops_client_t *held_client(const char *dir, observed_t *o) {
    segops_options_t *opts = spool_options(&loss, 10, dir);
    assert_int_equal(segops_options_set_max_queue_events(opts, 10), SEGOPS_OK);
    assert_int_equal(segops_options_set_spool_max_bytes(opts, (uint64_t)1 << 20), SEGOPS_OK);
    /* One request at a time: a second sender would read the backlog from disk
     * (into a request the silent server holds too) before the harm. The worker
     * may still take one batch ahead while the sender is held, reading the
     * backlog's first records from disk: a 64 KiB request bounds that to
     * about 60 records, short of the segments the tests harm. */
    assert_int_equal(segops_options_set_max_in_flight(opts, 1), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_request_bytes(opts, 65536), SEGOPS_OK);
    observe(o, opts);
    assert_int_equal(devsrv_script_text(loss.srv, "noanswer"), 0);
    uint64_t requests = server_stats(loss.srv).batch_requests;
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    track_numbered_padded(client, 0, 10, PAD);
    wait_requests(loss.srv, requests + 1); /* held */
    track_numbered_padded(client, 10, EVENTS - 10, PAD);
    wait_spooled(client, EVENTS);
    return client;
}

/* A held client (above); then one of its segments is harmed, the server
 * answers again and everything is flushed. */
static void own_run_case(damage_t how) {
    const char *dir = spool_path("own");
    observed_t o;
    segops_client_t *client = held_client(dir, &o);

    char run[600];
    only_run(dir, run, sizeof run);
    seg_list_t segs;
    list_segments(run, &segs);
    assert_true(segs.n >= 4);
    /* Seqs 1..20 are also in memory (the held batch and the queue), and a
     * batch taken ahead holds at most one 64 KiB request's records after them:
     * the victim, not the segment being written, holds events on disk only. */
    assert_true(segs.first[2] > 20 + 65536 / PAD);
    harm_t h;
    harm_segment(&segs, 2, how, true, &h);

    unstick(loss.srv);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);
    assert_conservation(client);
    expect_losses(&o, client, &h, 0);
    segops_client_free(client);
    remove_tree(dir);
}

static void test_own_segment_deleted(void **state) {
    (void)state;
    own_run_case(DELETED);
}

static void test_own_segment_emptied(void **state) {
    (void)state;
    own_run_case(EMPTIED);
}

static void test_own_segment_cut_at_a_record_boundary(void **state) {
    (void)state;
    own_run_case(CUT);
}

static void test_own_segment_in_an_unknown_format(void **state) {
    (void)state;
    own_run_case(UNKNOWN_FORMAT);
}

static void test_own_segment_replaced_by_a_directory(void **state) {
    (void)state;
    own_run_case(DIRECTORY);
}

/* The segment being written deleted while the client runs, then more events
 * written (into the deleted file, which the writer still holds, until it
 * rotates): nobody can read those, yet each tracked event arrives once or is
 * reported lost, and the books say so exactly. */
static void test_own_segment_being_written_deleted(void **state) {
    (void)state;
    const int more = 50;
    const char *dir = spool_path("own-last");
    observed_t o;
    segops_client_t *client = held_client(dir, &o);
    char run[600];
    only_run(dir, run, sizeof run);
    seg_list_t segs;
    list_segments(run, &segs);
    assert_true(segs.n >= 3 && segs.first[segs.n - 1] > 20);
    size_t off[RECORDS_MAX + 1];
    uint64_t in_file = segment_records(segs.path[segs.n - 1], off, NULL, RECORDS_MAX);
    assert_int_equal(unlink(segs.path[segs.n - 1]), 0);
    track_numbered_padded(client, EVENTS, more, PAD);
    wait_spooled(client, EVENTS + (uint64_t)more);

    unstick(loss.srv);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);
    assert_conservation(client);
    segops_stats_t st = stats_of(client);
    segops_client_free(client);
    tally_t t;
    tally_server(loss.srv, o.server_from, EVENTS + more, &t);
    uint64_t arrived = 0;
    for (int i = 0; i < EVENTS + more; i++) {
        assert_true(t.copies[i] <= 1);
        arrived += (uint64_t)t.copies[i];
    }
    assert_int_equal(t.others, 0);
    tally_free(&t);
    assert_int_equal(st.delivered, arrived);
    assert_true(st.dropped_spool_corrupt >= in_file);
    assert_int_equal(st.dropped, st.dropped_spool_corrupt);
    assert_int_equal(st.delivered + st.dropped, EVENTS + more);
    assert_int_equal(st.pending, 0);
    size_t reports;
    uint64_t reported;
    recorder_snapshot(&o.rec, &reports, &reported);
    assert_true(reports >= 1);
    assert_int_equal(reported, st.dropped_spool_corrupt);
    assert_int_equal(o.rec.by_reason[SEGOPS_DROP_SPOOL_CORRUPT], reported);
    log_recorder_t logs = log_snapshot(&o.logs);
    assert_true(logs.spool_warns >= 1 && strstr(logs.spool_text[0], "could not be read"));
    recorder_destroy(&o.rec);
    log_recorder_destroy(&o.logs);
    remove_tree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_segment_deleted),
        cmocka_unit_test(test_own_segment_emptied),
        cmocka_unit_test(test_own_segment_cut_at_a_record_boundary),
        cmocka_unit_test(test_own_segment_in_an_unknown_format),
        cmocka_unit_test(test_own_segment_replaced_by_a_directory),
        cmocka_unit_test(test_own_segment_being_written_deleted),
    };
    return cmocka_run_group_tests(tests, loss_setup, loss_teardown);
}
