/* `segops send --spool` for test_cli_spool_*.c: numbered inputs, progress records, runs. */
#ifndef SEGOPS_TEST_CLI_SPOOL_H
#define SEGOPS_TEST_CLI_SPOOL_H

#include "cli_child.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest a child may run before the test kills it and fails (a hang detector). */
#define CHILD_DEADLINE_MS 120000

typedef struct spool_fixture {
    devsrv_t *srv;
    char dir[256];    /* a fresh temporary directory */
    char input[300];  /* dir/input.ndjson */
    char spool[300];  /* dir/spool */
    char record[320]; /* dir/spool/send-progress */
} spool_fixture_t;

/* cmocka setup and teardown: a dev server and a fresh temporary directory (removed after). */
int send_setup(void **state);
int send_teardown(void **state);

/* Line i (1-based) of every input: its number is in user_id and payload. */
int format_line(char *buf, size_t size, int i);

/* Writes lines 1..lines (format_line) to path. */
void write_input(const char *path, int lines);

/* counts[i] = how often the server received line i (counts has lines + 1
 * entries); every event must be one of the input's lines, byte for byte. */
void received_lines(devsrv_t *srv, int lines, unsigned *counts);

/* The lines first..last were each received exactly `times` times. */
void assert_received(const unsigned *counts, int first, int last, unsigned times);

/* The documented format (tools/cli/resume_record.h): lines, bytes, FNV-1a 64. */
void write_record(const char *path, uint64_t lines, uint64_t bytes, uint64_t hash);

/* A record covering the first `lines` lines of the input write_input makes. */
void write_record_for(const char *path, int lines);

/* The lines the record covers; 0 when there is none. Fails on a damaged one. */
int64_t record_lines(const char *path);

/* Whether path exists. */
bool exists(const char *path);

/* Starts `segops send --spool f->spool --batch-size 500 [extra...] ARG` with stdin_text. */
void start_send(cli_child_t *c, spool_fixture_t *f, const char *arg, const char *stdin_text,
                const char *extra1, const char *extra2);

void run_send(cli_child_t *c, spool_fixture_t *f, const char *arg, const char *stdin_text);

/* The number after `label` in the summary line, e.g. "recovered 12". */
/* The number after `label` in the summary line, e.g. "recovered 12". */
uint64_t summary_number(const char *err, const char *label);

#endif
