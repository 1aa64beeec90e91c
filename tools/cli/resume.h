/*
 * Resuming `segops send --spool DIR FILE` after an interruption.
 *
 * The library's spool keeps every event track accepted; what it cannot know is
 * which input lines those events came from. This module keeps that in
 * DIR/send-progress: how many lines of the input are done (their event is in
 * the spool, delivered or settled, or the line was blank or malformed), with
 * the byte length and an FNV-1a hash of those lines as the input's identity. A
 * later send of the same input (any file whose first lines hash the same: a
 * copy, or the same file with lines appended) skips them.
 *
 * The record is replaced atomically (write a temporary file, rename) by a
 * thread every 50 ms, and only with a count the spool has confirmed: see
 * resume.c. DIR/send-progress.lock (flock) keeps two resumable sends from
 * sharing one record.
 */
#ifndef SEGOPS_CLI_RESUME_H
#define SEGOPS_CLI_RESUME_H

#include <segops/segops.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cli_resume cli_resume_t;

/* Locks and reads the record in dir (the client's spool_dir, which
 * segops_client_new has created), skips the lines it covers when `in` (a
 * regular file, read from its start) begins with them, else rewinds `in`, and
 * starts the thread that keeps the record. *lineno receives how many lines were
 * skipped. The client must outlive the cli_resume_t. Returns CLI_EXIT_OK with
 * *out, or an exit code after reporting why (another send holds the lock, the
 * input or the record cannot be read). */
int cli_resume_begin(const char *dir, segops_client_t *client, FILE *in, cli_resume_t **out,
                     uint64_t *lineno);

/* Counts one more input line done: raw[0..len) exactly as read (with its
 * newline); accepted says whether track accepted an event for it. Called only
 * by the thread reading the input. */
void cli_resume_line(cli_resume_t *r, const char *raw, size_t len, bool accepted);

typedef enum cli_resume_end {
    CLI_RESUME_DONE,  /* every line read and settled: remove the record */
    CLI_RESUME_KEEP,  /* stopped early or events remain: record what the spool holds */
    CLI_RESUME_REREAD /* this run's events were rejected (credentials): read them again */
} cli_resume_end_t;

/* Stops the thread, settles the record as `end` says (call after
 * segops_shutdown, so the client's counters are final), says on stderr where
 * the next run resumes, releases the lock and frees r. NULL-safe. */
void cli_resume_end(cli_resume_t *r, cli_resume_end_t end);

#endif /* SEGOPS_CLI_RESUME_H */
