/* fork() support as a registry of hooks. A module that owns locks or threads
 * registers one hook per instance; pthread_atfork then runs every prepare step
 * in registration order before a fork (taking the module's locks, so the child
 * inherits consistent state) and the parent and child steps in reverse order
 * after it. Register in lock order (a module whose lock is taken first goes
 * first). A process-wide lock that is taken while a module's lock is held
 * registers as innermost: it is prepared after every module's. fork.c knows
 * nothing of what the modules are. */
#ifndef SEGOPS_FORK_H
#define SEGOPS_FORK_H

#include "common.h"

typedef struct segops__fork_hook {
    void (*prepare)(void *arg); /* take the module's locks */
    void (*parent)(void *arg);  /* release them */
    void (*child)(void *arg);   /* only the forking thread exists: reset, then release */
    void *arg;
    struct segops__fork_hook *prev, *next; /* the registry's links */
} segops__fork_hook_t;

/* Adds hook (owned by the caller, which keeps it alive until unregistered) at the
 * end of the registry, installing the atfork handlers on first use. */
void segops__fork_register(segops__fork_hook_t *hook);
/* The same, for a lock taken while module locks are held: prepared after
 * every module's hook, released before them. */
void segops__fork_register_innermost(segops__fork_hook_t *hook);
/* Removes hook; NULL-safe and safe for a hook never registered. */
void segops__fork_unregister(segops__fork_hook_t *hook);

#endif
