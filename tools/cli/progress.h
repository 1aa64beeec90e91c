/* A status line on a terminal, redrawn a few times a second by its own thread. */
#ifndef SEGOPS_CLI_PROGRESS_H
#define SEGOPS_CLI_PROGRESS_H

#include <stdint.h>

typedef struct cli_progress cli_progress_t;

typedef struct cli_progress_sample {
    uint64_t read;
    uint64_t delivered;
    uint64_t dropped;
} cli_progress_sample_t;

/* Fills *out; called on the progress thread, so it must be thread-safe. */
typedef void (*cli_progress_sample_fn)(cli_progress_sample_t *out, void *userdata);

/* Starts redrawing every interval_ms. Returns NULL if the thread cannot start
 * (the command then simply runs without a status line). */
cli_progress_t *cli_progress_start(const char *label, cli_progress_sample_fn fn, void *userdata,
                                   unsigned interval_ms);

/* Stops and joins the thread and erases the line. NULL-safe. */
void cli_progress_stop(cli_progress_t *progress);

#endif /* SEGOPS_CLI_PROGRESS_H */
