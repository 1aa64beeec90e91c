/* Damaged spool files: a run left by an earlier client (server down,
 * shutdown(0)) is copied into a fresh spool_dir for every case, its segment
 * cut or overwritten, and a new client with the server up recovers it. It
 * never crashes, delivers every intact record once, reports what it lost once
 * through on_error (SEGOPS_DROP_SPOOL_CORRUPT, counted dropped_spool_corrupt)
 * with one WARN log line naming the segment, keeps the law, and deletes the
 * run once it is read (so no later client reports the same damage again).
 * Counts are exact: by sequence numbers when an intact record follows the
 * damage, and by the run's end file (spool_end.h) at the end of the run. A
 * run without that file (an older version's) keeps the old estimate there: one
 * record per record start in the damage, a cut at a record boundary unseen. */
#include "spooltest.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EVENTS 8
#define HEADER 32 /* the record header (README: the spool's files) */

static fixture_t f;
/* The template: the run's directory name, its one segment, its ack and end files. */
static struct {
    char run[RUN_NAME_MAX];
    char seg_name[256];
    uint8_t *seg;
    size_t seg_len;
    uint8_t *ack;
    size_t ack_len;
    uint8_t *end;
    size_t end_len;
    size_t rec_off[EVENTS + 1]; /* where each record starts; [EVENTS] = the end */
} tmpl;

static void spit(const char *path, const uint8_t *buf, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads the run leave_on_disk left in dir into tmpl. */
static void load_template(const char *dir) {
    free(tmpl.seg);
    free(tmpl.ack);
    free(tmpl.end);
    tmpl.seg = tmpl.ack = tmpl.end = NULL;
    char runs[2][RUN_NAME_MAX];
    assert_int_equal(spool_runs(dir, runs, 2), 1);
    snprintf(tmpl.run, sizeof tmpl.run, "%s", runs[0]);
    char run[700], path[1000];
    snprintf(run, sizeof run, "%s/%s", dir, tmpl.run);
    DIR *d = opendir(run);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "%s/%s", run, e->d_name);
        if (strstr(e->d_name, ".seg")) {
            assert_int_equal(tmpl.seg, NULL); /* one segment */
            snprintf(tmpl.seg_name, sizeof tmpl.seg_name, "%s", e->d_name);
            tmpl.seg = read_whole_file(path, &tmpl.seg_len);
        } else if (!strcmp(e->d_name, "ack")) {
            tmpl.ack = read_whole_file(path, &tmpl.ack_len);
        } else if (!strcmp(e->d_name, "end")) {
            tmpl.end = read_whole_file(path, &tmpl.end_len);
        }
    }
    closedir(d);
    assert_non_null(tmpl.seg);
    assert_non_null(tmpl.end);
    /* The records, back to back: magic, length, ..., payload. */
    size_t off = 0;
    for (int i = 0; i < EVENTS; i++) {
        tmpl.rec_off[i] = off;
        assert_true(off + HEADER <= tmpl.seg_len);
        assert_memory_equal(tmpl.seg + off, "\xffSPL", 4);
        off += HEADER + le32(tmpl.seg + off + 4);
    }
    tmpl.rec_off[EVENTS] = off;
    assert_int_equal(off, tmpl.seg_len);
}

static int setup(void **state) {
    (void)state;
    fixture_start(&f, NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", spool_path("template"));
    leave_on_disk(&f, dir, 0, EVENTS);
    load_template(dir);
    remove_tree(dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    free(tmpl.seg);
    free(tmpl.ack);
    free(tmpl.end);
    devsrv_stop(f.srv);
    recorder_destroy(&f.rec);
    return 0;
}

/* What a new client made of one damaged copy. */
typedef struct outcome {
    segops_stats_t st;
    int copies[EVENTS];
    size_t others;
    size_t reports;
    segops_error_info_t report; /* the first */
    size_t spool_warns;
    bool warn_names_segment; /* the first spool WARN line names the segment */
    size_t runs_left;
} outcome_t;

/* with_end false: the run as an older version left it, without its end file. */
static void run_case_as(const uint8_t *seg, size_t len, bool with_end, outcome_t *out) {
    memset(out, 0, sizeof *out);
    char dir[512], path[1100];
    snprintf(dir, sizeof dir, "%s", spool_path("case"));
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/%s", dir, tmpl.run);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/%s/%s", dir, tmpl.run, tmpl.seg_name);
    spit(path, seg, len);
    if (tmpl.ack) {
        snprintf(path, sizeof path, "%s/%s/ack", dir, tmpl.run);
        spit(path, tmpl.ack, tmpl.ack_len);
    }
    if (with_end) {
        snprintf(path, sizeof path, "%s/%s/end", dir, tmpl.run);
        spit(path, tmpl.end, tmpl.end_len);
    }
    recorder_t rec;
    recorder_init(&rec);
    log_recorder_t logs;
    log_recorder_init(&logs);
    size_t before = server_events(f.srv); /* the client may send as soon as it exists */
    segops_options_t *opts = make_options(f.srv, TEST_SK, &rec);
    assert_int_equal(segops_options_set_batch_size(opts, 500), SEGOPS_OK);
    assert_int_equal(segops_options_set_spool_dir(opts, dir), SEGOPS_OK);
    assert_int_equal(segops_options_set_logger(opts, log_recorder_fn, SEGOPS_LOG_DEBUG, &logs),
                     SEGOPS_OK);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    /* The spool thread's last round reports what it lost before shutdown returns. */
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);
    assert_conservation(client);
    out->st = stats_of(client);
    segops_client_free(client);

    tally_t t;
    tally_server(f.srv, before, EVENTS, &t);
    memcpy(out->copies, t.copies, sizeof out->copies);
    out->others = t.others;
    tally_free(&t);
    pthread_mutex_lock(&rec.lock);
    out->reports = rec.reports;
    if (rec.reports) out->report = rec.info[0];
    pthread_mutex_unlock(&rec.lock);
    log_recorder_t seen = log_snapshot(&logs);
    out->spool_warns = seen.spool_warns;
    out->warn_names_segment = seen.spool_lines && strstr(seen.spool_text[0], tmpl.seg_name) &&
                              strstr(seen.spool_text[0], tmpl.run);
    out->runs_left = spool_runs(dir, NULL, 0);
    recorder_destroy(&rec);
    log_recorder_destroy(&logs);
    remove_tree(dir);
}

static void run_case(const uint8_t *seg, size_t len, outcome_t *out) {
    run_case_as(seg, len, true, out);
}

/* Exactly the records marked intact arrived, once each; `lost` records were
 * reported lost, in one report; damage was said in one WARN line naming the
 * segment (none without damage); and the run is gone. */
static void expect(const outcome_t *o, const bool intact[EVENTS], uint64_t lost, bool damaged,
                   const char *what) {
    uint64_t delivered = 0;
    for (int i = 0; i < EVENTS; i++) {
        if (o->copies[i] != (intact[i] ? 1 : 0)) {
            char got[3 * EVENTS + 1] = "";
            for (int k = 0; k < EVENTS; k++)
                snprintf(got + 3 * k, sizeof got - 3 * (size_t)k, "%2d ", o->copies[k]);
            fail_msg("%s: event %d arrived %d times (copies: %s; delivered %llu, recovered %llu, "
                     "dropped %llu, %zu reports)",
                     what, i, o->copies[i], got, (unsigned long long)o->st.delivered,
                     (unsigned long long)o->st.recovered, (unsigned long long)o->st.dropped,
                     o->reports);
        }
        delivered += intact[i];
    }
    if (o->others) fail_msg("%s: %zu unknown events arrived", what, o->others);
    if (o->st.delivered != delivered || o->st.dropped != o->st.dropped_spool_corrupt ||
        o->st.dropped_spool_corrupt != lost || o->st.recovered != delivered + o->st.dropped ||
        o->st.pending)
        fail_msg("%s: delivered %llu (want %llu), dropped_spool_corrupt %llu (want %llu), "
                 "recovered %llu, pending %llu",
                 what, (unsigned long long)o->st.delivered, (unsigned long long)delivered,
                 (unsigned long long)o->st.dropped_spool_corrupt, (unsigned long long)lost,
                 (unsigned long long)o->st.recovered, (unsigned long long)o->st.pending);
    size_t want_reports = o->st.dropped ? 1 : 0;
    if (o->reports != want_reports)
        fail_msg("%s: %zu reports, want %zu", what, o->reports, want_reports);
    if (o->reports) {
        assert_int_equal(o->report.reason, SEGOPS_DROP_SPOOL_CORRUPT);
        assert_int_equal(o->report.code, SEGOPS_E_IO);
        assert_int_equal(o->report.event_count, o->st.dropped_spool_corrupt);
    }
    if (o->spool_warns != (damaged ? 1u : 0u) || (damaged && !o->warn_names_segment))
        fail_msg("%s: %zu spool WARN lines (want %d), naming the segment: %d", what, o->spool_warns,
                 damaged, o->warn_names_segment);
    if (o->runs_left) fail_msg("%s: the damaged run is still there", what);
}

static void test_intact_copy_delivers_everything(void **state) {
    (void)state;
    outcome_t o;
    run_case(tmpl.seg, tmpl.seg_len, &o);
    bool intact[EVENTS];
    for (int i = 0; i < EVENTS; i++) intact[i] = true;
    expect(&o, intact, 0, false, "intact");
}

/* Cut at every byte offset of the last record, 0 included (the file then ends
 * cleanly after the one before): the others arrive, and the cut one is
 * reported lost (the end file says it was written). */
static void test_truncated_at_every_offset_of_the_last_record(void **state) {
    (void)state;
    bool intact[EVENTS];
    for (int i = 0; i < EVENTS; i++) intact[i] = i < EVENTS - 1;
    size_t last = tmpl.rec_off[EVENTS - 1];
    for (size_t cut = last; cut < tmpl.seg_len; cut++) {
        outcome_t o;
        run_case(tmpl.seg, cut, &o);
        char what[64];
        snprintf(what, sizeof what, "cut at %zu of %zu", cut, tmpl.seg_len);
        expect(&o, intact, 1, true, what);
    }
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* Random bytes (never 0xFF, so no record could start in them) inserted at a
 * record boundary: every event arrives once, and one WARN log line names the
 * segment, and nothing is dropped: in the middle the next record's seq proves
 * nothing was lost, at the end the end file does. */
static void test_random_bytes_inserted(void **state) {
    (void)state;
    bool intact[EVENTS];
    for (int i = 0; i < EVENTS; i++) intact[i] = true;
    uint8_t *buf = malloc(tmpl.seg_len + 512);
    assert_non_null(buf);
    for (int trial = 0; trial < 2 * (EVENTS + 1); trial++) {
        int boundary = trial % (EVENTS + 1); /* before record `boundary`; EVENTS: appended */
        size_t at = tmpl.rec_off[boundary], extra = 1 + rng() % 400;
        memcpy(buf, tmpl.seg, at);
        for (size_t i = 0; i < extra; i++) buf[at + i] = (uint8_t)(rng() % 255);
        memcpy(buf + at + extra, tmpl.seg + at, tmpl.seg_len - at);
        outcome_t o;
        run_case(buf, tmpl.seg_len + extra, &o);
        char what[80];
        snprintf(what, sizeof what, "%zu random bytes before record %d", extra, boundary);
        expect(&o, intact, 0, true, what);
    }
    free(buf);
}

/* Random bytes (any value) written over a random stretch before the last
 * record: exactly the records whose bytes changed are lost, counted by the
 * sequence number of the intact record after them. */
static void test_random_bytes_overwritten(void **state) {
    (void)state;
    uint8_t *buf = malloc(tmpl.seg_len);
    assert_non_null(buf);
    size_t last = tmpl.rec_off[EVENTS - 1];
    for (int trial = 0; trial < 60; trial++) {
        memcpy(buf, tmpl.seg, tmpl.seg_len);
        size_t at = rng() % last, len = 1 + rng() % 48;
        if (at + len > last) len = last - at;
        for (size_t i = at; i < at + len; i++) buf[i] = (uint8_t)rng();
        bool intact[EVENTS];
        uint64_t damaged = 0;
        for (int r = 0; r < EVENTS; r++) {
            size_t lo = tmpl.rec_off[r], hi = tmpl.rec_off[r + 1];
            intact[r] = memcmp(buf + lo, tmpl.seg + lo, hi - lo) == 0;
            damaged += !intact[r];
        }
        if (!damaged) continue; /* the random bytes equalled the old ones */
        outcome_t o;
        run_case(buf, tmpl.seg_len, &o);
        char what[96];
        snprintf(what, sizeof what, "trial %d: %zu bytes overwritten at %zu (%llu records)", trial,
                 len, at, (unsigned long long)damaged);
        expect(&o, intact, damaged, true, what);
    }
    free(buf);
}

/* The last record overwritten (never with 0xFF) from a random point after its
 * magic to its end: the damage costs that record (the end file counts it). */
static void test_last_record_overwritten(void **state) {
    (void)state;
    uint8_t *buf = malloc(tmpl.seg_len);
    assert_non_null(buf);
    size_t last = tmpl.rec_off[EVENTS - 1];
    bool intact[EVENTS];
    for (int i = 0; i < EVENTS; i++) intact[i] = i < EVENTS - 1;
    for (int trial = 0; trial < 12; trial++) {
        memcpy(buf, tmpl.seg, tmpl.seg_len);
        size_t at = last + 4 + rng() % (tmpl.seg_len - last - 4);
        for (size_t i = at; i < tmpl.seg_len; i++) buf[i] = (uint8_t)(rng() % 255);
        if (!memcmp(buf + at, tmpl.seg + at, tmpl.seg_len - at)) continue;
        outcome_t o;
        run_case(buf, tmpl.seg_len, &o);
        char what[96];
        snprintf(what, sizeof what, "the last record overwritten from %zu of %zu", at,
                 tmpl.seg_len);
        expect(&o, intact, 1, true, what);
    }
    free(buf);
}

/* A record cut inside its header at the end of a file, the cut leaving a 0xFF
 * as the last byte (here in its time field; a CRC byte does the same): one
 * lost record, not a second one starting at that 0xFF. */
static void test_cut_header_ending_in_0xff_counts_one_record(void **state) {
    (void)state;
    uint8_t *buf = malloc(tmpl.seg_len);
    assert_non_null(buf);
    memcpy(buf, tmpl.seg, tmpl.seg_len);
    size_t h = tmpl.rec_off[EVENTS - 1];
    buf[h + 16] = 0x00; /* time_ms, little-endian: its low byte, then */
    buf[h + 17] = 0xFF; /* a 0xFF, the last byte left by the cut */
    outcome_t o;
    run_case(buf, h + 18, &o);
    free(buf);
    bool intact[EVENTS];
    for (int i = 0; i < EVENTS; i++) intact[i] = i < EVENTS - 1;
    expect(&o, intact, 1, true, "a header cut right after a 0xFF in its time field");
}

/* A segment of nothing but random bytes: no crash, nothing delivered, every
 * record the end file names counted lost and reported once; without the end
 * file (an older version's run), one record: nothing says how many it held. */
static void test_segment_of_random_garbage(void **state) {
    (void)state;
    uint8_t *buf = malloc(4096);
    assert_non_null(buf);
    for (int trial = 0; trial < 4; trial++) {
        for (size_t i = 0; i < 4096; i++) buf[i] = (uint8_t)rng();
        bool with_end = trial % 2 == 0;
        uint64_t lost = with_end ? EVENTS : 1;
        outcome_t o;
        run_case_as(buf, 4096, with_end, &o);
        assert_int_equal(o.st.delivered, 0);
        assert_int_equal(o.others, 0);
        assert_int_equal(o.st.dropped_spool_corrupt, lost);
        assert_int_equal(o.st.recovered, lost);
        assert_int_equal(o.reports, 1);
        assert_int_equal(o.spool_warns, 1);
        assert_true(o.warn_names_segment);
        assert_int_equal(o.runs_left, 0);
    }
    free(buf);
}

/* A run without its end file (an older version's), as before: its last record
 * cut at its start reads as the end (nothing reported), cut inside it or
 * overwritten costs one record. */
static void test_run_without_end_file_estimates_its_end(void **state) {
    (void)state;
    bool intact[EVENTS];
    for (int i = 0; i < EVENTS; i++) intact[i] = i < EVENTS - 1;
    size_t last = tmpl.rec_off[EVENTS - 1];
    outcome_t o;
    run_case_as(tmpl.seg, last, false, &o);
    expect(&o, intact, 0, false, "no end file, cut at the last record's start");
    run_case_as(tmpl.seg, last + HEADER + 1, false, &o);
    expect(&o, intact, 1, true, "no end file, cut inside the last record");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intact_copy_delivers_everything),
        cmocka_unit_test(test_truncated_at_every_offset_of_the_last_record),
        cmocka_unit_test(test_random_bytes_inserted),
        cmocka_unit_test(test_random_bytes_overwritten),
        cmocka_unit_test(test_last_record_overwritten),
        cmocka_unit_test(test_segment_of_random_garbage),
        cmocka_unit_test(test_cut_header_ending_in_0xff_counts_one_record),
        cmocka_unit_test(test_run_without_end_file_estimates_its_end),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
