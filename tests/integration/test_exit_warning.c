/* Exit without segops_shutdown: a client in a process of its own (exit_child)
 * tracks events and exits; the library must say on stderr how many events it
 * held and never sent, and say nothing when it held none, when the client was
 * shut down, or in a forked child that inherited a client. */
#define _GNU_SOURCE 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_child.h"
#include "fixture.h"

/* A child that has not exited by then is hung (never a speed threshold). */
#define CHILD_DEADLINE_MS 60000

/* Runs exit_child against srv (exit_flush_ms NULL: not set); returns its
 * stderr (free it). */
static char *run_child_flushing(devsrv_t *srv, const char *count, const char *end,
                                const char *exit_flush_ms) {
    char *argv[] = {(char *)"exit_child", (char *)devsrv_url(srv), (char *)count,
                    (char *)end,          (char *)exit_flush_ms,   NULL};
    /* The child leaves its client unfreed on purpose: no leak report. */
    char *envp[] = {(char *)"ASAN_OPTIONS=detect_leaks=0", NULL};
    cli_child_t child;
    cli_child_start(&child, EXIT_CHILD_PATH, argv, envp, NULL);
    cli_child_wait(&child, CHILD_DEADLINE_MS);
    if (child.exit_code != 0)
        fail_msg("exit_child %s %s failed with exit code %d, signal %d; stderr:\n%s", count, end,
                 child.exit_code, child.signal, child.err);
    char *err = child.err;
    child.err = NULL;
    cli_child_free(&child);
    return err;
}

static char *run_child(devsrv_t *srv, const char *count, const char *end) {
    return run_child_flushing(srv, count, end, NULL);
}

static size_t lines_of(const char *text) {
    size_t n = 0;
    for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++) n++;
    return n;
}

/* The case: 1000 events held (the server never answers the requests
 * that carry them), exit without shutdown. One line names them. */
static void test_exit_without_shutdown_says_how_many(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    assert_int_equal(devsrv_script_text(f.srv, "noanswer,noanswer,noanswer"), 0);
    char *err = run_child(f.srv, "1000", "exit");
    if (lines_of(err) != 1 ||
        !strstr(err, "segops: 1000 events were not sent: the process exited without "
                     "segops_shutdown (they are lost)\n"))
        fail_msg("expected one line naming 1000 unsent events, got:\n%s", err);
    assert_int_equal(server_stats(f.srv).events_received, 0);
    free(err);
    unstick(f.srv);
    fixture_stop(&f);
}

static void test_nothing_held_says_nothing(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    char *err = run_child(f.srv, "0", "exit");
    assert_string_equal(err, "");
    free(err);
    fixture_stop(&f);
}

static void test_shutdown_then_exit_says_nothing(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    char *err = run_child(f.srv, "25", "shutdown");
    assert_string_equal(err, "");
    assert_int_equal(server_stats(f.srv).events_received, 25);
    free(err);
    fixture_stop(&f);
}

/* A forked child inherits the client but none of its events: its exit says
 * nothing; the parent's exit still names its own. */
static void test_forked_child_says_nothing(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    assert_int_equal(devsrv_script_text(f.srv, "noanswer"), 0);
    char *err = run_child(f.srv, "7", "fork");
    if (lines_of(err) != 1 || !strstr(err, "segops: 7 events were not sent"))
        fail_msg("expected the parent's line alone, got:\n%s", err);
    free(err);
    unstick(f.srv);
    fixture_stop(&f);
}

/* ---- the opt-in flush at exit (exit_flush_ms) ---- */

/* Without it these 50 events (a partial batch, held by pacing) would still be
 * queued at exit; with it they are delivered and nothing is said. */
static void test_exit_flush_delivers(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    char *err = run_child_flushing(f.srv, "50", "exit", "10000");
    assert_string_equal(err, "");
    assert_int_equal(server_stats(f.srv).events_received, 50);
    free(err);
    fixture_stop(&f);
}

/* A server that never answers: the flush's deadline drops them, reported
 * like any shutdown's drops (the default on_error line), never silently. */
static void test_exit_flush_deadline_reports_drops(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    assert_int_equal(devsrv_script_text(f.srv, "noanswer"), 0);
    char *err = run_child_flushing(f.srv, "30", "exit", "300");
    if (lines_of(err) != 1 || !strstr(err, "segops: dropped 30 events (shutdown deadline)"))
        fail_msg("expected one drop report for 30 events, got:\n%s", err);
    assert_int_equal(server_stats(f.srv).events_received, 0);
    free(err);
    unstick(f.srv);
    fixture_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_without_shutdown_says_how_many),
        cmocka_unit_test(test_nothing_held_says_nothing),
        cmocka_unit_test(test_shutdown_then_exit_says_nothing),
        cmocka_unit_test(test_forked_child_says_nothing),
        cmocka_unit_test(test_exit_flush_delivers),
        cmocka_unit_test(test_exit_flush_deadline_reports_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
