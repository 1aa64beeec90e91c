/* segops send --spool: every line delivered, the progress record kept, trusted, refused or reread.
 */
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

/* A live server: every line once, in order, and the record is gone at the end. */
static void test_spool_delivers_every_line(void **state) {
    spool_fixture_t *f = *state;
    enum { LINES = 1200 };
    write_input(f->input, LINES);

    cli_child_t c;
    run_send(&c, f, f->input, NULL);
    assert_int_equal(c.exit_code, 0);
    assert_contains(c.err, "read 1200, accepted 1200, delivered 1200, dropped 0, malformed 0");
    assert_null(strstr(c.err, "resuming"));
    cli_child_free(&c);

    unsigned counts[LINES + 1];
    received_lines(f->srv, LINES, counts);
    assert_received(counts, 1, LINES, 1);
    assert_int_equal(devsrv_event_count(f->srv), LINES);
    assert_false(exists(f->record));
    assert_true(exists(f->spool));
}

/* Standard input cannot be read again: it is sent in full and leaves no record. */
static void test_spool_stdin_keeps_no_record(void **state) {
    spool_fixture_t *f = *state;
    const char input[] =
        "{\"user_id\":\"user-1\",\"event_type\":\"item_viewed\",\"payload\":{\"i\":1}}\n"
        "{\"user_id\":\"user-2\",\"event_type\":\"item_viewed\",\"payload\":{\"i\":2}}\n";
    cli_child_t c;
    run_send(&c, f, NULL, input);
    assert_int_equal(c.exit_code, 0);
    assert_contains(c.err, "read 2, accepted 2, delivered 2, dropped 0, malformed 0");
    cli_child_free(&c);
    unsigned counts[3];
    received_lines(f->srv, 2, counts);
    assert_received(counts, 1, 2, 1);
    assert_false(exists(f->record));

    /* --help says so. */
    char *argv[] = {(char *)"segops", (char *)"send", (char *)"--help", NULL};
    char *envp[] = {NULL};
    cli_child_start(&c, SEGOPS_CLI_PATH, argv, envp, NULL);
    cli_child_wait(&c, CHILD_DEADLINE_MS);
    assert_int_equal(c.exit_code, 0);
    assert_contains(c.out, "--spool DIR");
    assert_contains(c.out, "input cannot be resumed");
    cli_child_free(&c);
}

/* A record for the first lines of the input: they are not read again; line
 * numbers in messages go on from there; the finished send removes the record. */
static void test_spool_record_skips_its_lines(void **state) {
    spool_fixture_t *f = *state;
    enum { LINES = 600, DONE = 137, BAD = 140 };
    write_input(f->input, LINES);
    /* Line BAD becomes malformed (same length, so the record's bytes still match). */
    FILE *fp = fopen(f->input, "r+");
    assert_non_null(fp);
    char line[128];
    long offset = 0;
    for (int i = 1; i < BAD; i++) {
        offset += format_line(line, sizeof line, i);
    }
    assert_int_equal(fseek(fp, offset, SEEK_SET), 0);
    assert_int_equal(fputc('[', fp), '[');
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(mkdir(f->spool, 0700), 0);
    write_record_for(f->record, DONE);

    cli_child_t c;
    run_send(&c, f, f->input, NULL);
    assert_int_equal(c.exit_code, 3); /* the malformed line */
    assert_contains(c.err, "resuming after line 137");
    assert_contains(c.err, "line 140: invalid JSON");
    assert_contains(c.err, "read 463, accepted 462, delivered 462, dropped 0, malformed 1");
    cli_child_free(&c);

    unsigned counts[LINES + 1];
    received_lines(f->srv, LINES, counts);
    assert_received(counts, 1, DONE, 0);
    assert_received(counts, DONE + 1, BAD - 1, 1);
    assert_received(counts, BAD, BAD, 0);
    assert_received(counts, BAD + 1, LINES, 1);
    assert_false(exists(f->record));
}

/* A record that does not match the input (other lines, a shorter file, or
 * damaged) is not trusted: every line is sent. */
static void test_spool_foreign_record_starts_over(void **state) {
    spool_fixture_t *f = *state;
    enum { LINES = 300 };
    write_input(f->input, LINES);
    assert_int_equal(mkdir(f->spool, 0700), 0);

    struct {
        const char *record; /* NULL: a record with a wrong hash / too many bytes */
        uint64_t bytes, hash;
        const char *message;
    } cases[] = {
        {NULL, 0, 0, "was written for another input; starting at line 1"},
        {NULL, 1u << 30, 0, "was written for another input; starting at line 1"},
        {"segops-send-progress 1\nlines 12\n", 0, 0, "is damaged; starting at line 1"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        if (cases[k].record != NULL) {
            FILE *fp = fopen(f->record, "w");
            assert_non_null(fp);
            fputs(cases[k].record, fp);
            assert_int_equal(fclose(fp), 0);
        } else {
            /* The right line count, but not these lines' hash (or more bytes than the file). */
            uint64_t bytes = cases[k].bytes != 0 ? cases[k].bytes : 40 * 78;
            write_record(f->record, 40, bytes, UINT64_C(0x0123456789abcdef));
        }
        size_t before = devsrv_event_count(f->srv);
        cli_child_t c;
        run_send(&c, f, f->input, NULL);
        assert_int_equal(c.exit_code, 0);
        assert_contains(c.err, cases[k].message);
        assert_contains(c.err, "read 300, accepted 300, delivered 300");
        cli_child_free(&c);
        assert_int_equal(devsrv_event_count(f->srv) - before, LINES);
        assert_false(exists(f->record));
    }
    unsigned counts[LINES + 1];
    received_lines(f->srv, LINES, counts);
    assert_received(counts, 1, LINES, 3);
}

/* Two resumable sends on one directory would overwrite each other's record. */
static void test_spool_one_resumable_send_per_dir(void **state) {
    spool_fixture_t *f = *state;
    write_input(f->input, 10);
    assert_int_equal(mkdir(f->spool, 0700), 0);
    char lock_path[340];
    snprintf(lock_path, sizeof lock_path, "%s/send-progress.lock", f->spool);
    int fd = open(lock_path, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);

    cli_child_t c;
    run_send(&c, f, f->input, NULL);
    assert_int_equal(c.exit_code, 1);
    assert_contains(c.err, "another 'segops send' is resuming from");
    cli_child_free(&c);
    assert_int_equal(devsrv_event_count(f->srv), 0);

    close(fd); /* released: the same send now goes through */
    run_send(&c, f, f->input, NULL);
    assert_int_equal(c.exit_code, 0);
    cli_child_free(&c);
    assert_int_equal(devsrv_event_count(f->srv), 10);
}

/* Events rejected for bad credentials are gone (dropped, not spooled): the
 * record goes back to where the run began, so the lines are read again once
 * the key is fixed. */
static void test_spool_rejected_key_rereads_the_run(void **state) {
    spool_fixture_t *f = *state;
    enum { LINES = 400, DONE = 50 };
    write_input(f->input, LINES);
    assert_int_equal(mkdir(f->spool, 0700), 0);
    write_record_for(f->record, DONE);

    char url_env[256];
    snprintf(url_env, sizeof url_env, "SEGOPS_API_URL=%s", devsrv_url(f->srv));
    char *envp[] = {url_env, (char *)"SEGOPS_API_KEY=sk_revoked_0123456789abcdef", NULL};
    char *argv[] = {(char *)"segops",
                    (char *)"send",
                    (char *)"--no-progress",
                    (char *)"--spool",
                    f->spool,
                    f->input,
                    NULL};
    cli_child_t c;
    cli_child_start(&c, SEGOPS_CLI_PATH, argv, envp, NULL);
    cli_child_wait(&c, CHILD_DEADLINE_MS);
    assert_int_equal(c.exit_code, 5);
    assert_contains(c.err, "resuming after line 50");
    assert_null(strstr(c.err, "sk_revoked_0123456789abcdef"));
    cli_child_free(&c);
    assert_int_equal(devsrv_event_count(f->srv), 0);
    assert_int_equal(record_lines(f->record), DONE);

    run_send(&c, f, f->input, NULL);
    assert_int_equal(c.exit_code, 0);
    assert_contains(c.err, "resuming after line 50");
    assert_contains(c.err, "read 350, accepted 350, delivered 350, dropped 0");
    cli_child_free(&c);
    unsigned counts[LINES + 1];
    received_lines(f->srv, LINES, counts);
    assert_received(counts, 1, DONE, 0);
    assert_received(counts, DONE + 1, LINES, 1);
    assert_false(exists(f->record));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spool_delivers_every_line, send_setup, send_teardown),
        cmocka_unit_test_setup_teardown(test_spool_stdin_keeps_no_record, send_setup,
                                        send_teardown),
        cmocka_unit_test_setup_teardown(test_spool_record_skips_its_lines, send_setup,
                                        send_teardown),
        cmocka_unit_test_setup_teardown(test_spool_foreign_record_starts_over, send_setup,
                                        send_teardown),
        cmocka_unit_test_setup_teardown(test_spool_one_resumable_send_per_dir, send_setup,
                                        send_teardown),
        cmocka_unit_test_setup_teardown(test_spool_rejected_key_rereads_the_run, send_setup,
                                        send_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
