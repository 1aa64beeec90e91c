/* segops send --spool killed (kill -9) or stopped (SIGTERM) mid-input resumes from its record. */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700

#include "cli_spool.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SEGOPS_CLI_PATH
#error "SEGOPS_CLI_PATH must name the built segops binary (see tests/CMakeLists.txt)"
#endif
const char *const cli_binary = SEGOPS_CLI_PATH;

#include "cli_spool.h"

/* Under valgrind the CLI runs some 50 times slower: the two interrupted sends
 * use fewer lines there, so the second send still delivers within its deadline. */
#define INTERRUPTED_LINES (RUNNING_ON_VALGRIND ? 20000 : 200000)

/* Waits until the running child's record covers at least `lines` lines, for
 * up to wait_ms; returns what it covers then. */
static int64_t wait_for_record(cli_child_t *c, const char *record, int64_t lines, int wait_ms) {
    int64_t deadline = now_ms() + wait_ms;
    int64_t covered = 0;
    while (now_ms() < deadline && cli_child_running(c)) {
        FILE *fp = fopen(record, "r");
        if (fp != NULL) {
            uint64_t n = 0;
            if (fscanf(fp, "segops-send-progress 1 lines %" SCNu64, &n) == 1) {
                covered = (int64_t)n;
            }
            fclose(fp);
        }
        if (covered >= lines) {
            break;
        }
        sleep_ms(5);
    }
    return covered;
}

/*
 * kill -9 in the middle of a send while the server is down, then the same
 * send again with the server up: every line arrives, the lines the record
 * covers come only from the spool (recovered, once each), and only lines past
 * the record can arrive twice (read again although the spool had them).
 */
static void test_spool_resumes_after_kill9(void **state) {
    spool_fixture_t *f = *state;
    const int LINES = INTERRUPTED_LINES;
    write_input(f->input, LINES);
    assert_int_equal(devsrv_pause(f->srv), 0);

    cli_child_t c;
    start_send(&c, f, f->input, NULL, NULL, NULL);
    /* Killed once the record shows progress: a few seconds at most here, far
     * longer under valgrind, so the wait is only a hang detector. */
    wait_for_record(&c, f->record, 1000, 60000);
    bool killed = cli_child_running(&c);
    if (killed) {
        cli_child_signal(&c, SIGKILL);
    }
    cli_child_wait(&c, CHILD_DEADLINE_MS);
    if (killed) {
        assert_int_equal(c.signal, SIGKILL);
    }
    cli_child_free(&c);
    int64_t done = record_lines(f->record);
    print_message("kill -9 %s; the record covered %" PRId64 " of %d lines\n",
                  killed ? "landed" : "came too late", done, LINES);

    assert_int_equal(devsrv_resume(f->srv), 0);
    run_send(&c, f, f->input, NULL);
    uint64_t read = summary_number(c.err, "read ");
    uint64_t recovered = summary_number(c.err, "recovered ");
    print_message("second run: read %" PRIu64 ", recovered %" PRIu64 "\n", read, recovered);

    /* At least once, whatever the library does with the spool. A kill -9 in the
     * middle of a spool write may leave one torn record, reported as dropped
     * (spool_corrupt); its line lies past the record, so it is read again. */
    if (c.exit_code != 0) {
        assert_int_equal(c.exit_code, 4);
        assert_contains(c.err, "dropped 1 (spool_corrupt 1)");
    }
    unsigned *counts = calloc(LINES + 1, sizeof *counts);
    assert_non_null(counts);
    received_lines(f->srv, LINES, counts);
    for (int i = 1; i <= LINES; i++) {
        if (counts[i] == 0) {
            fail_msg("line %d was never delivered", i);
        }
    }
    assert_false(exists(f->record));

    /* Resumed (needs the spool wired into the client: a record only advances
     * over events the client reports in stats.spooled). */
    assert_true(done > 0);
    char resumed[64];
    snprintf(resumed, sizeof resumed, "resuming after line %" PRId64, done);
    assert_contains(c.err, resumed);
    assert_int_equal(read, (uint64_t)(LINES - done));
    /* Lines the record covered came from the spool alone: once each. */
    assert_true(recovered >= (uint64_t)done);
    assert_received(counts, 1, (int)done, 1);
    /* Past it, a line arrives twice only if the spool had it too. */
    for (int i = (int)done + 1; i <= LINES; i++) {
        if (counts[i] > 1 && (uint64_t)i > recovered) {
            fail_msg("line %d arrived %u times but was not in the spool", i, counts[i]);
        }
    }
    free(counts);
    cli_child_free(&c);
}

/*
 * SIGTERM while the server is down: the send stops reading, the deadline
 * passes, the undelivered events stay in the spool and the record covers every
 * line read; the next send delivers each line exactly once.
 */
static void test_spool_resumes_after_sigterm(void **state) {
    spool_fixture_t *f = *state;
    const int LINES = INTERRUPTED_LINES;
    write_input(f->input, LINES);
    assert_int_equal(devsrv_pause(f->srv), 0);

    cli_child_t c;
    start_send(&c, f, f->input, NULL, "--timeout-ms", "1000");
    wait_for_record(&c, f->record, 1000, 60000);
    bool interrupted = cli_child_running(&c);
    if (interrupted) {
        cli_child_signal(&c, SIGTERM);
    }
    cli_child_wait(&c, CHILD_DEADLINE_MS);
    assert_int_equal(c.exit_code, 4); /* undelivered */
    /* Accepted, not read: a line track refused at the deadline is not done. */
    uint64_t accepted = summary_number(c.err, "accepted ");
    /* A SIGTERM that lands after the last line was read (a slow machine,
     * valgrind) meets the send in its final flush, which it does not cut. */
    if (interrupted && summary_number(c.err, "read ") < (uint64_t)LINES) {
        assert_contains(c.err, "interrupted");
    }
    cli_child_free(&c);
    int64_t done = record_lines(f->record);
    print_message("SIGTERM %s; accepted %" PRIu64 ", the record covers %" PRId64 " of %d lines\n",
                  interrupted ? "landed" : "came too late", accepted, done, LINES);

    assert_int_equal(devsrv_resume(f->srv), 0);
    run_send(&c, f, f->input, NULL);
    assert_int_equal(c.exit_code, 0);
    unsigned *counts = calloc(LINES + 1, sizeof *counts);
    assert_non_null(counts);
    received_lines(f->srv, LINES, counts);
    /* Exactly once: nothing was in flight (the server refused connections), and
     * the record covers exactly what the spool holds. */
    assert_received(counts, 1, LINES, 1);
    assert_false(exists(f->record));

    /* Resumed (needs the spool wired into the client). */
    assert_int_equal(done, (int64_t)accepted);
    char resumed[64];
    snprintf(resumed, sizeof resumed, "resuming after line %" PRId64, done);
    assert_contains(c.err, resumed);
    assert_int_equal(summary_number(c.err, "recovered "), accepted);
    free(counts);
    cli_child_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spool_resumes_after_kill9, send_setup, send_teardown),
        cmocka_unit_test_setup_teardown(test_spool_resumes_after_sigterm, send_setup,
                                        send_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
