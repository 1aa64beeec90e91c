/* Spool records made unreadable, for test_spool_loss_*.c: a segment harmed one way,
 * and the check that each lost record is counted, reported once and logged, the rest delivered. */
#include "spool_loss.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

fixture_t loss;

int loss_setup(void **state) {
    (void)state;
    fixture_start(&loss, NULL);
    return 0;
}

int loss_teardown(void **state) {
    (void)state;
    devsrv_stop(loss.srv);
    recorder_destroy(&loss.rec);
    return 0;
}

void only_run(const char *dir, char *out, size_t len) {
    char runs[2][RUN_NAME_MAX];
    assert_int_equal(spool_runs(dir, runs, 2), 1);
    snprintf(out, len, "%s/%s", dir, runs[0]);
}

void harm_segment(const seg_list_t *segs, size_t victim, damage_t how, bool listed, harm_t *h) {
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

void observe(observed_t *o, segops_options_t *opts) {
    recorder_init(&o->rec);
    log_recorder_init(&o->logs);
    o->server_from = server_events(loss.srv);
    assert_int_equal(segops_options_set_on_error(opts, recorder_on_error, &o->rec), SEGOPS_OK);
    assert_int_equal(segops_options_set_logger(opts, log_recorder_fn, SEGOPS_LOG_DEBUG, &o->logs),
                     SEGOPS_OK);
}

void expect_losses(observed_t *o, segops_client_t *client, const harm_t *h, uint64_t recovered) {
    segops_stats_t st = stats_of(client);
    tally_t t;
    tally_server(loss.srv, o->server_from, EVENTS, &t);
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
