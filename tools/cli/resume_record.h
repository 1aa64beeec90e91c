/*
 * The progress record of a resumable send, DIR/send-progress: how much of the
 * input is done, as text.
 *
 *   segops-send-progress 1
 *   lines 12000              input lines done (blank and malformed ones too)
 *   bytes 960000             their length in bytes, newlines included
 *   fnv1a64 9ae16a3b2f90404f FNV-1a 64 of those bytes: the input's identity
 *
 * A hash of the lines themselves identifies the input better than its path,
 * size or mtime would: a file that grew, was copied or was touched still
 * resumes, and one whose first lines changed starts over.
 */
#ifndef SEGOPS_CLI_RESUME_RECORD_H
#define SEGOPS_CLI_RESUME_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define CLI_RESUME_RECORD_NAME "send-progress"
#define CLI_RESUME_LOCK_NAME "send-progress.lock"

typedef struct cli_resume_mark {
    uint64_t lines;
    uint64_t bytes;
    uint64_t hash;
    uint64_t events; /* of those lines, how many track accepted (not in the record) */
} cli_resume_mark_t;

/* No lines yet. */
void cli_resume_mark_init(cli_resume_mark_t *mark);
/* One more line, raw[0..len) exactly as read. */
void cli_resume_mark_add(cli_resume_mark_t *mark, const char *raw, size_t len);

/* Reads the record in dir_fd into *out (events 0). Returns 0, ENOENT (none),
 * EINVAL (not a record: damaged) or another errno. */
int cli_resume_record_load(int dir_fd, cli_resume_mark_t *out);
/* Replaces the record atomically (a temporary file renamed over it), 0600.
 * Returns 0 or an errno. */
int cli_resume_record_save(int dir_fd, const cli_resume_mark_t *mark);
/* Removes the record (and a temporary file a crash may have left). */
void cli_resume_record_remove(int dir_fd);

#endif /* SEGOPS_CLI_RESUME_RECORD_H */
