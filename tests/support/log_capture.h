/* Everything a client's logger says, kept whole: a growing buffer that never
 * truncates (a failed allocation fails the test when it is read), with counts
 * and a wait for a line, so a test can both search every line for what must
 * never appear and synchronise on what the library announces ("retrying ...").
 * The logger runs on any thread; the reads assert on the caller's. */
#ifndef SEGOPS_TEST_LOG_CAPTURE_H
#define SEGOPS_TEST_LOG_CAPTURE_H

#include <stdbool.h>

#include "testutil.h"

typedef struct log_capture {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    char *text; /* every line as "<level letter D/I/W/E> <message>\n" */
    size_t len, cap;
    size_t lines;
    bool lost; /* an append could not allocate */
} log_capture_t;

void log_capture_init(log_capture_t *c);
void log_capture_destroy(log_capture_t *c);
/* A segops_log_fn: pass the capture as userdata. */
void log_capture_fn(segops_log_level_t level, const char *message, void *userdata);

/* Lines logged so far. */
size_t log_capture_lines(log_capture_t *c);
/* Lines holding needle. */
size_t log_capture_count(log_capture_t *c, const char *needle);
/* Lines logged at `level` holding needle. */
size_t log_capture_count_at(log_capture_t *c, segops_log_level_t level, const char *needle);
/* Whether any line holds needle (an empty needle: false). */
bool log_capture_contains(log_capture_t *c, const char *needle);
/* Waits until n lines hold needle; fails when none more arrives for 10 s (a
 * hang detector, never a speed limit). */
void log_capture_wait(log_capture_t *c, const char *needle, size_t n);

#endif
