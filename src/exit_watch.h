/* Exit without segops_shutdown: a registry of the live clients and one atexit
 * handler that writes one line to stderr for each client still holding events
 * it never sent, so a forgotten shutdown is never silent. It only reports: it
 * does not send (at exit the worker may be mid-request, the application's
 * callbacks and loggers may already be torn down, and exit() may have been
 * called from a thread that must not wait for the network). */
#ifndef SEGOPS_EXIT_WATCH_H
#define SEGOPS_EXIT_WATCH_H

#include "common.h"

typedef struct segops__exit_watch {
    /* How many events the client holds undelivered that segops_shutdown was
     * never asked to settle (0 once it was); *in_spool says they stay on disk
     * for the next client. Called at exit with no library lock held. */
    uint64_t (*unsent)(void *arg, bool *in_spool);
    void *arg;
    struct segops__exit_watch *prev, *next; /* the registry's links */
} segops__exit_watch_t;

/* Adds w (owned by the caller, alive until removed), installing the atexit
 * handler on first use. */
void segops__exit_watch_add(segops__exit_watch_t *w);
/* Removes w; safe for one never added. After it returns the handler no longer
 * calls w, so its client may be freed. */
void segops__exit_watch_remove(segops__exit_watch_t *w);

#endif
