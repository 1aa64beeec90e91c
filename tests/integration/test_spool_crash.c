/* kill -9: a client in a child process (spool_child) tracks numbered events at
 * 2,000/s and is killed with SIGKILL; a new client on the same spool_dir
 * delivers every event the child had acknowledged, except at most those
 * accepted within the documented crash window (50 ms: 100 events at this
 * rate), and sends none twice, except the events of the one request that was in
 * flight at the kill. The server checks the numbers. */
#include "spooltest.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_RATE "2000"
/* The documented crash window (50 ms, SEGOPS__SPOOL_FLUSH_MS plus room) at 2,000 events/s. */
#define WINDOW_EVENTS 100
#define RUN_MS 3000

/* Runs the child against the server for about RUN_MS, kills it with SIGKILL
 * and returns how many events it had acknowledged (printed) by then. */
static long run_and_kill_with(fixture_t *f, const char *dir, const char *rate,
                              const char *in_flight) {
    const char *argv[] = {SPOOL_CHILD_PATH, devsrv_url(f->srv), dir,       "0", "-1", rate,
                          "hang",           "100000",           in_flight, NULL};
    child_t child;
    child_spawn(&child, argv);
    long acked = 0;
    int64_t end = now_ms() + RUN_MS;
    while (now_ms() < end) {
        acked = child_read_count(&child, acked);
        sleep_ms(10);
    }
    assert_int_equal(kill(child.pid, SIGKILL), 0);
    int status = child_wait(&child);
    acked = child_read_count(&child, acked); /* lines written before it died */
    close(child.out_fd);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("the child ended on its own (status %#x) after %ld events", status, acked);
    print_message("the child had %ld events acknowledged when it was killed\n", acked);
    /* It ran long enough for the window to be a small part of what it tracked. */
    assert_true(acked > 4 * WINDOW_EVENTS);
    return acked;
}

static long run_and_kill(fixture_t *f, const char *dir) {
    return run_and_kill_with(f, dir, CHILD_RATE, "1");
}

/* What a new client on dir, with the server up, delivers after the kill. */
typedef struct recovery {
    long missing;          /* acknowledged events the server never got */
    long first_missing;    /* the lowest of them, -1 when none */
    long duplicated;       /* events the server holds twice */
    uint64_t dup_requests; /* requests that carried the first copies of those */
    segops_stats_t stats;  /* the new client's after its flush */
} recovery_t;

static recovery_t recover(fixture_t *f, const char *dir, long acked, size_t server_before) {
    assert_int_equal(spool_runs(dir, NULL, 0), 1); /* the child's run, left behind */
    fixture_client(f, spool_options(f, 500, dir));
    assert_int_equal(segops_flush(f->client, 60000), SEGOPS_OK);
    recovery_t r = {.first_missing = -1, .stats = stats_of(f->client)};
    assert_conservation(f->client);

    long n = acked + 1; /* the child may have tracked one more than it printed */
    int *copies = calloc((size_t)n + 1, sizeof *copies);
    uint64_t *first_request = calloc((size_t)n + 1, sizeof *first_request);
    assert_non_null(copies);
    assert_non_null(first_request);
    uint64_t dup_seen[8] = {0}; /* distinct requests that carried first copies */
    size_t count = server_events(f->srv);
    for (size_t k = server_before; k < count; k++) {
        devsrv_event_t ev;
        assert_int_equal(devsrv_event_at(f->srv, k, &ev), 0);
        long i = -1;
        if (sscanf(ev.payload_json, "{\"i\":%ld}", &i) != 1 || i < 0 || i >= n)
            fail_msg("the server holds an event the child never tracked: %s", ev.payload_json);
        if (copies[i]++ == 0) {
            first_request[i] = ev.request_no;
        } else {
            if (copies[i] > 2) fail_msg("event %ld was delivered %d times", i, copies[i]);
            r.duplicated++;
            bool known = false;
            for (uint64_t d = 0; d < r.dup_requests && d < 8; d++)
                known = known || dup_seen[d] == first_request[i];
            if (!known && r.dup_requests < 8) dup_seen[r.dup_requests] = first_request[i];
            if (!known) r.dup_requests++;
        }
        devsrv_event_free(&ev);
    }
    for (long i = 0; i < acked; i++) {
        if (copies[i]) continue;
        if (r.first_missing < 0) r.first_missing = i;
        r.missing++;
    }
    free(copies);
    free(first_request);
    print_message("recovered %llu, delivered %llu, missing %ld (first %ld), duplicated %ld\n",
                  (unsigned long long)r.stats.recovered, (unsigned long long)r.stats.delivered,
                  r.missing, r.first_missing, r.duplicated);
    return r;
}

/* Every lost event lies within the last WINDOW_EVENTS acknowledged ones, and
 * the spool's own losses are only those (a record cut by the kill). */
static void assert_only_the_window_lost(const recovery_t *r, long acked) {
    assert_true(r->missing <= WINDOW_EVENTS);
    if (r->missing) assert_true(r->first_missing >= acked - WINDOW_EVENTS);
    assert_int_equal(r->stats.enqueued, 0);
    assert_int_equal(r->stats.pending, 0);
    assert_int_equal(r->stats.dropped, r->stats.dropped_spool_corrupt);
    assert_true(r->stats.dropped_spool_corrupt <= WINDOW_EVENTS);
    assert_int_equal(r->stats.recovered, r->stats.delivered + r->stats.dropped);
}

static void finish_and_check_dir(fixture_t *f, const char *dir) {
    fixture_finish(f);
    /* Everything was sent: the adopted run and the new client's own are gone. */
    assert_int_equal(spool_runs(dir, NULL, 0), 0);
}

static void test_kill9_with_the_server_down(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", spool_path("down"));
    assert_int_equal(devsrv_pause(f.srv), 0); /* the child's requests are refused */
    long acked = run_and_kill(&f, dir);
    assert_int_equal(server_events(f.srv), 0);
    assert_int_equal(devsrv_resume(f.srv), 0);
    recovery_t r = recover(&f, dir, acked, 0);
    assert_only_the_window_lost(&r, acked);
    assert_int_equal(r.duplicated, 0); /* nothing reached the server before */
    finish_and_check_dir(&f, dir);
}

/* With the server up and slow, a request is in flight at the kill: its events
 * may reach the server twice, and no others. */
static void test_kill9_mid_request_resends_at_most_that_request(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", spool_path("up"));
    devsrv_set_answer_delay(f.srv, 150);
    long acked = run_and_kill(&f, dir);
    assert_true(server_events(f.srv) > 0); /* the child did deliver */
    devsrv_set_answer_delay(f.srv, 0);
    recovery_t r = recover(&f, dir, acked, 0);
    assert_only_the_window_lost(&r, acked);
    assert_true(r.dup_requests <= 1);
    assert_true(r.duplicated <= 500); /* one request carries at most 500 events */
    finish_and_check_dir(&f, dir);
}

/* Several requests in flight (4, at 8,000 events/s against 200 ms answers:
 * several full requests wait at once): a kill resends at most the requests
 * that were in flight, and skips none, since the ack cursor on disk only moves
 * past events whose own request and every earlier one are settled. The
 * window of loss is 50 ms of tracking: 400 events at this rate. */
static void test_kill9_with_several_in_flight_resends_at_most_those(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", spool_path("inflight"));
    devsrv_set_answer_delay(f.srv, 200);
    long acked = run_and_kill_with(&f, dir, "8000", "4");
    assert_true(server_events(f.srv) > 0);
    devsrv_set_answer_delay(f.srv, 0);
    recovery_t r = recover(&f, dir, acked, 0);
    assert_true(r.missing <= 4 * WINDOW_EVENTS); /* 50 ms at 8,000 events/s */
    if (r.missing) assert_true(r.first_missing >= acked - 4 * WINDOW_EVENTS);
    assert_int_equal(r.stats.dropped, r.stats.dropped_spool_corrupt);
    assert_int_equal(r.stats.recovered, r.stats.delivered + r.stats.dropped);
    assert_true(r.dup_requests <= 4); /* only the requests in flight at the kill */
    assert_true(r.duplicated <= 4 * 500);
    finish_and_check_dir(&f, dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_with_the_server_down),
        cmocka_unit_test(test_kill9_mid_request_resends_at_most_that_request),
        cmocka_unit_test(test_kill9_with_several_in_flight_resends_at_most_those),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
