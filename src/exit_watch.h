/* Exit without segops_shutdown: a registry of the live clients and one atexit
 * handler that writes one line to stderr for each client still holding events
 * it never sent, so a forgotten shutdown is never silent. By default it only
 * reports, without sending (at exit the worker may be mid-request, the
 * application's callbacks and loggers may already be torn down, and exit() may
 * have been called from a thread that must not wait for the network); a
 * client's exit_flush_ms option asks its hook to shut it down first. */
#ifndef SEGOPS_EXIT_WATCH_H
#define SEGOPS_EXIT_WATCH_H

#include "common.h"

typedef struct segops__exit_watch {
    /* How many events the client holds undelivered that segops_shutdown was
     * never asked to settle (0 once it was), after a flush at exit when its
     * options ask for one; *in_spool says they stay on disk for the next
     * client. Called at exit with no lock of the registry or library held. */
    uint64_t (*unsent)(void *arg, bool *in_spool);
    void *arg;
    struct segops__exit_watch *prev, *next; /* the registry's links */
} segops__exit_watch_t;

/* Adds w (owned by the caller, alive until removed), installing the atexit
 * handler on first use. */
void segops__exit_watch_add(segops__exit_watch_t *w);
/* Removes w; safe for one never added. While the atexit check runs it waits
 * for the check to end. After it returns the check no longer calls w, so its
 * client may be freed. Never call it from a hook. */
void segops__exit_watch_remove(segops__exit_watch_t *w);

#endif
