/* Spool records that cannot be read: segments emptied, cut at a record
 * boundary, deleted, rewritten in an unknown format or made unreadable (a
 * directory in the file's place), before a client starts (a run it adopts)
 * and while it runs (its own run). Each lost record is counted exactly
 * (dropped_spool_corrupt), reported once through on_error and named, file
 * and all, in a WARN log line; every other event arrives once; nothing stays
 * pending. Also: the spool thread's last round under an on_error that takes
 * 1.5 s, and segops_flush while a shutdown runs (the truth, and no spinning). */
#include "spooltest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounded_thread.h"

#define EVENTS 200
#define PAD 900 /* about 1 KiB a record: 60 in a 64 KiB segment, 4 segments */
#define RECORDS_MAX 512

static fixture_t f;

static int setup(void **state) {
    (void)state;
    fixture_start(&f, NULL);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    devsrv_stop(f.srv);
    recorder_destroy(&f.rec);
    return 0;
}

typedef enum damage { DELETED, EMPTIED, CUT, UNKNOWN_FORMAT, DIRECTORY } damage_t;

/* What was done to a segment and what it must cost. */
typedef struct harm {
    bool lost[EVENTS];
    uint64_t nlost;
    char named[128]; /* the log line about it holds this */
} harm_t;

/* The run directory (the only one) in dir. */
static void only_run(const char *dir, char *out, size_t len) {
    char runs[2][RUN_NAME_MAX];
    assert_int_equal(spool_runs(dir, runs, 2), 1);
    snprintf(out, len, "%s/%s", dir, runs[0]);
}

/* Damages segment `victim`, which must have one after it (whose name says
 * where the victim's records end). `listed`: the spool listed the run's
 * segments before the harm (its own run), so a directory in the victim's place
 * is met as an unreadable segment; a run adopted after it never lists the
 * directory (it is no segment file) and finds its seqs missing instead. */
static void harm_segment(const seg_list_t *segs, size_t victim, damage_t how, bool listed,
                         harm_t *h) {
    memset(h, 0, sizeof *h);
    assert_true(victim + 1 < segs->n);
    const char *path = segs->path[victim];
    size_t off[RECORDS_MAX + 1];
    int num[RECORDS_MAX];
    size_t n = segment_records(path, off, num, RECORDS_MAX);
    assert_int_equal(n, segs->first[victim + 1] - segs->first[victim]);
    size_t keep = how == CUT ? n / 2 : 0;
    for (size_t i = keep; i < n; i++) {
        assert_true(num[i] >= 0 && num[i] < EVENTS);
        h->lost[num[i]] = true;
        h->nlost++;
    }
    if (how == DELETED || (how == DIRECTORY && !listed))
        /* No segment file names them: the log line says which seqs are missing. */
        snprintf(h->named, sizeof h->named, "seqs %llu..%llu",
                 (unsigned long long)segs->first[victim],
                 (unsigned long long)segs->first[victim + 1] - 1);
    else
        snprintf(h->named, sizeof h->named, "%s", segs->name[victim]);
    switch (how) {
    case DELETED: assert_int_equal(unlink(path), 0); break;
    case EMPTIED: assert_int_equal(truncate(path, 0), 0); break;
    case CUT: assert_int_equal(truncate(path, (off_t)off[keep]), 0); break;
    case UNKNOWN_FORMAT: {
        /* Every record's magic "\xffSPL" becomes "\xffSPX": no record the
         * reader knows, and no record start either. */
        FILE *fp = fopen(path, "r+b");
        assert_non_null(fp);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(fseek(fp, (long)off[i] + 3, SEEK_SET), 0);
            assert_int_equal(fputc('X', fp), 'X');
        }
        assert_int_equal(fclose(fp), 0);
        break;
    }
    case DIRECTORY:
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkdir(path, 0700), 0);
        break;
    }
}

/* One client's view of a case. */
typedef struct observed {
    recorder_t rec;
    log_recorder_t logs;
    size_t server_from; /* server events before the client existed */
} observed_t;

static void observe(observed_t *o, segops_options_t *opts) {
    recorder_init(&o->rec);
    log_recorder_init(&o->logs);
    o->server_from = server_events(f.srv);
    assert_int_equal(segops_options_set_on_error(opts, recorder_on_error, &o->rec), SEGOPS_OK);
    assert_int_equal(segops_options_set_logger(opts, log_recorder_fn, SEGOPS_LOG_DEBUG, &o->logs),
                     SEGOPS_OK);
}

/* Exactly the harmed events are missing on the server and were reported once,
 * in one report and one WARN log line that names the place. */
static void expect_losses(observed_t *o, segops_client_t *client, const harm_t *h,
                          uint64_t recovered) {
    segops_stats_t st = stats_of(client);
    tally_t t;
    tally_server(f.srv, o->server_from, EVENTS, &t);
    for (int i = 0; i < EVENTS; i++)
        if (t.copies[i] != (h->lost[i] ? 0 : 1))
            fail_msg("event %d arrived %d times (lost: %d)", i, t.copies[i], h->lost[i]);
    assert_int_equal(t.others, 0);
    tally_free(&t);
    assert_int_equal(st.delivered, EVENTS - h->nlost);
    assert_int_equal(st.dropped_spool_corrupt, h->nlost);
    assert_int_equal(st.dropped, h->nlost);
    assert_int_equal(st.recovered, recovered);
    assert_int_equal(st.pending, 0);
    assert_int_equal(reports_of(&o->rec), 1);
    assert_report(&o->rec, 0, SEGOPS_E_IO, 0, h->nlost, SEGOPS_DROP_SPOOL_CORRUPT);
    log_recorder_t logs = log_snapshot(&o->logs);
    size_t naming = 0;
    for (size_t i = 0; i < logs.spool_lines && i < LOG_KEPT; i++)
        if (strstr(logs.spool_text[i], "could not be read") && strstr(logs.spool_text[i], h->named))
            naming++;
    if (naming != 1 || logs.spool_warns != 1)
        fail_msg("%zu spool WARN lines, %zu of them name \"%s\" (first: \"%s\")", logs.spool_warns,
                 naming, h->named, logs.spool_lines ? logs.spool_text[0] : "");
    recorder_destroy(&o->rec);
    log_recorder_destroy(&o->logs);
}

/* ---- before the client starts: a run it adopts ---- */

/* A client adopts the harmed run in dir, delivers what is left and loses
 * exactly h; `runs_left` run directories remain after it. */
static void deliver_adopted(const char *dir, const harm_t *h, size_t runs_left) {
    observed_t o;
    segops_options_t *opts = spool_options(&f, 500, dir);
    observe(&o, opts);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);
    assert_conservation(client);
    expect_losses(&o, client, h, EVENTS);
    segops_client_free(client);
    assert_int_equal(spool_runs(dir, NULL, 0), runs_left);
    remove_tree(dir);
}

static void adopted_case(damage_t how, size_t victim) {
    const char *dir = spool_path("adopted");
    leave_padded_on_disk(&f, dir, 0, EVENTS, PAD);
    char run[600];
    only_run(dir, run, sizeof run);
    seg_list_t segs;
    list_segments(run, &segs);
    harm_t h;
    harm_segment(&segs, victim, how, false, &h);
    /* Read to its end and settled: removed, so nobody reports it again (a
     * directory the spool did not make keeps it). */
    deliver_adopted(dir, &h, how == DIRECTORY ? 1 : 0);
}

static void test_adopted_segment_deleted(void **state) {
    (void)state;
    adopted_case(DELETED, 1);
}

static void test_adopted_first_segment_deleted(void **state) {
    (void)state;
    adopted_case(DELETED, 0); /* the cursor says seq 1 is owed */
}

static void test_adopted_segment_emptied(void **state) {
    (void)state;
    adopted_case(EMPTIED, 1);
}

static void test_adopted_segment_cut_at_a_record_boundary(void **state) {
    (void)state;
    adopted_case(CUT, 1);
}

static void test_adopted_segment_in_an_unknown_format(void **state) {
    (void)state;
    adopted_case(UNKNOWN_FORMAT, 1);
}

static void test_adopted_segment_replaced_by_a_directory(void **state) {
    (void)state;
    adopted_case(DIRECTORY, 1);
}

/* Every segment deleted but an empty last one, as a rotation on a full disk
 * leaves it: its name still says seqs 1..EVENTS were written. The spool used
 * to delete that empty segment before its reader saw the name, and every
 * event vanished unreported (test_spool_soak, seed 288818261). */
static void test_adopted_segments_deleted_before_an_empty_one(void **state) {
    (void)state;
    const char *dir = spool_path("adopted");
    leave_padded_on_disk(&f, dir, 0, EVENTS, PAD);
    char run[600];
    only_run(dir, run, sizeof run);
    seg_list_t segs;
    list_segments(run, &segs);
    for (size_t i = 0; i < segs.n; i++) assert_int_equal(unlink(segs.path[i]), 0);
    char empty[700];
    snprintf(empty, sizeof empty, "%s/%016x.seg", run, EVENTS + 1);
    FILE *fp = fopen(empty, "wx");
    assert_non_null(fp);
    assert_int_equal(fclose(fp), 0);
    harm_t h = {.nlost = EVENTS};
    for (int i = 0; i < EVENTS; i++) h.lost[i] = true;
    snprintf(h.named, sizeof h.named, "seqs 1..%d", EVENTS);
    deliver_adopted(dir, &h, 0);
}

/* ---- while the client runs: its own run ---- */

/* A client whose first batch (10 events) a silent server holds while 190 more
 * go to disk only (the memory queue holds 10): all of them are in the spool
 * files when it returns. */
static segops_client_t *held_client(const char *dir, observed_t *o) {
    segops_options_t *opts = spool_options(&f, 10, dir);
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
    assert_int_equal(devsrv_script_text(f.srv, "noanswer"), 0);
    uint64_t requests = server_stats(f.srv).batch_requests;
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    track_numbered_padded(client, 0, 10, PAD);
    wait_requests(f.srv, requests + 1); /* held */
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

    unstick(f.srv);
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

    unstick(f.srv);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);
    assert_conservation(client);
    segops_stats_t st = stats_of(client);
    segops_client_free(client);
    tally_t t;
    tally_server(f.srv, o.server_from, EVENTS + more, &t);
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

/* ---- the spool thread's last round ---- */

static void slow_on_error(const segops_error_info_t *error, void *userdata) {
    sleep_ms(1500); /* the host's on_error is slow: nothing may be lost meanwhile */
    recorder_on_error(error, userdata);
}

/* Flips one payload byte of record `index` in a segment: that record alone is
 * lost. Returns its event number. */
static int flip_payload(const char *path, size_t index) {
    size_t off[RECORDS_MAX + 1];
    int num[RECORDS_MAX];
    size_t n = segment_records(path, off, num, RECORDS_MAX);
    assert_true(index + 1 < n);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    long at = (long)off[index + 1] - 4; /* in the padding: 'a' becomes 'b' */
    assert_int_equal(fseek(fp, at, SEEK_SET), 0);
    assert_int_equal(fputc('b', fp), 'b');
    assert_int_equal(fclose(fp), 0);
    return num[index];
}

/* Two damaged records far apart, found by different reads (requests of at
 * most 64 KiB; the server holds the first answer 300 ms, so the first loss is
 * being reported when the next reads run) during the final drain of a
 * shutdown: the first report takes 1.5 s, during which the worker finds the
 * second and the drain ends; both are reported and counted before shutdown
 * returns (the spool thread used to stop without a last round). */
static void test_slow_on_error_loses_no_report(void **state) {
    (void)state;
    const char *dir = spool_path("slow");
    leave_padded_on_disk(&f, dir, 0, EVENTS, PAD);
    char run[600];
    only_run(dir, run, sizeof run);
    seg_list_t segs;
    list_segments(run, &segs);
    assert_true(segs.n >= 4);
    harm_t h;
    memset(&h, 0, sizeof h);
    h.lost[flip_payload(segs.path[0], 3)] = true;
    h.lost[flip_payload(segs.path[segs.n - 1], 1)] = true;
    h.nlost = 2;

    recorder_t rec;
    recorder_init(&rec);
    size_t from = server_events(f.srv);
    assert_int_equal(devsrv_script_text(f.srv, "delay=300"), 0);
    segops_options_t *opts = spool_options(&f, 500, dir);
    assert_int_equal(segops_options_set_max_request_bytes(opts, 65536), SEGOPS_OK);
    assert_int_equal(segops_options_set_on_error(opts, slow_on_error, &rec), SEGOPS_OK);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops_shutdown(client, 60000), SEGOPS_OK);
    assert_conservation(client);
    segops_stats_t st = stats_of(client);
    segops_client_free(client);

    tally_t t;
    tally_server(f.srv, from, EVENTS, &t);
    for (int i = 0; i < EVENTS; i++) assert_int_equal(t.copies[i], h.lost[i] ? 0 : 1);
    tally_free(&t);
    assert_int_equal(st.recovered, EVENTS);
    assert_int_equal(st.delivered, EVENTS - 2);
    assert_int_equal(st.dropped_spool_corrupt, 2);
    assert_int_equal(st.pending, 0);
    size_t reports;
    uint64_t reported;
    recorder_snapshot(&rec, &reports, &reported);
    assert_int_equal(reported, 2);
    assert_int_equal(rec.by_reason[SEGOPS_DROP_SPOOL_CORRUPT], 2);
    recorder_destroy(&rec);
    remove_tree(dir);
}

/* ---- flush while a shutdown runs ---- */

typedef struct stopper {
    segops_client_t *client;
    uint64_t requests; /* shut down once the server has seen this many */
    segops_err_t result;
} stopper_t;

/* Shuts the client down (deadline 0) once its flush's request reached the
 * server: the flush is waiting by then. No assertions off the main thread. */
static void *shutdown_when_sent(void *arg) {
    stopper_t *s = arg;
    int64_t end = now_ms() + 10 * HANG_MS;
    devsrv_stats_t ss;
    do {
        sleep_ms(2);
        devsrv_get_stats(f.srv, &ss);
    } while (ss.batch_requests < s->requests && now_ms() < end);
    s->result = segops_shutdown(s->client, 0);
    return NULL;
}

typedef struct flusher {
    segops_client_t *client;
    segops_err_t result;
} flusher_t;

static void *flush_without_deadline(void *arg) {
    flusher_t *fl = arg;
    fl->result = segops_flush(fl->client, -1);
    return NULL;
}

/* 100 events pending, nothing delivered: the shutdown leaves them on disk,
 * and the flush that waited for them says so. */
static void test_flush_during_shutdown_with_pending_events(void **state) {
    (void)state;
    const char *dir = spool_path("flush-pending");
    assert_int_equal(devsrv_script_text(f.srv, "noanswer"), 0);
    stopper_t stop = {NULL, server_stats(f.srv).batch_requests + 1, SEGOPS_OK};
    segops_options_t *opts = spool_options(&f, 500, dir);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    stop.client = client;
    track_n(client, "u", 0, 100);
    bounded_thread_t t;
    bounded_start(&t, shutdown_when_sent, &stop);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_E_TIMEOUT);
    assert_true(bounded_join(&t, now_ms() + 10 * HANG_MS));
    assert_int_equal(stop.result, SEGOPS_E_TIMEOUT);
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.pending, 100); /* on disk for the next client */
    assert_conservation(client);
    unstick(f.srv);
    segops_client_free(client);
    remove_tree(dir);
}

/* A backlog adopted from an earlier run, mostly unread when the shutdown
 * comes: a flush without a deadline returns (it used to spin forever). The
 * first request of 64 KiB gets a 503 and a long backoff, which only the flush
 * cuts: its retry, held by a silent server, shows the flush is waiting. */
static void test_flush_during_shutdown_with_an_unread_backlog(void **state) {
    (void)state;
    const char *dir = spool_path("flush-backlog");
    leave_padded_on_disk(&f, dir, 0, EVENTS, PAD);
    assert_int_equal(devsrv_script_text(f.srv, "503,noanswer"), 0);
    uint64_t requests = server_stats(f.srv).batch_requests;
    stopper_t stop = {NULL, requests + 2, SEGOPS_OK};
    segops_options_t *opts = spool_options(&f, 500, dir);
    assert_int_equal(segops_options_set_max_request_bytes(opts, 65536), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 60000, 60000), SEGOPS_OK);
    /* One request at a time: the script answers the first two requests, and
     * other senders' reads would be answered 200 before the 503 is seen. */
    assert_int_equal(segops_options_set_max_in_flight(opts, 1), SEGOPS_OK);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    stop.client = client;
    wait_requests(f.srv, requests + 1); /* the 503: a backoff begins */
    bounded_thread_t stopper, flush;
    flusher_t fl = {client, SEGOPS_OK};
    bounded_start(&stopper, shutdown_when_sent, &stop);
    bounded_start(&flush, flush_without_deadline, &fl);
    if (!bounded_join(&flush, now_ms() + 10 * HANG_MS)) {
        bounded_abandon(&flush);
        fail_msg("segops_flush(-1) did not return after the shutdown");
    }
    assert_true(bounded_join(&stopper, now_ms() + 10 * HANG_MS));
    assert_int_equal(fl.result, SEGOPS_E_TIMEOUT);
    assert_int_equal(stop.result, SEGOPS_E_TIMEOUT);
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.dropped, 0);
    assert_conservation(client);
    unstick(f.srv);
    segops_client_free(client);
    remove_tree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adopted_segment_deleted),
        cmocka_unit_test(test_adopted_first_segment_deleted),
        cmocka_unit_test(test_adopted_segment_emptied),
        cmocka_unit_test(test_adopted_segment_cut_at_a_record_boundary),
        cmocka_unit_test(test_adopted_segment_in_an_unknown_format),
        cmocka_unit_test(test_adopted_segment_replaced_by_a_directory),
        cmocka_unit_test(test_adopted_segments_deleted_before_an_empty_one),
        cmocka_unit_test(test_own_segment_deleted),
        cmocka_unit_test(test_own_segment_emptied),
        cmocka_unit_test(test_own_segment_cut_at_a_record_boundary),
        cmocka_unit_test(test_own_segment_in_an_unknown_format),
        cmocka_unit_test(test_own_segment_replaced_by_a_directory),
        cmocka_unit_test(test_own_segment_being_written_deleted),
        cmocka_unit_test(test_slow_on_error_loses_no_report),
        cmocka_unit_test(test_flush_during_shutdown_with_pending_events),
        cmocka_unit_test(test_flush_during_shutdown_with_an_unread_backlog),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
