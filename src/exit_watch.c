/* The registry of live clients and the atexit check (see exit_watch.h). */
#include "exit_watch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fork.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static segops__exit_watch_t *first;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

/* exit() may run while another thread adds or removes a client: wait for it a
 * little, but never hang the exit of a process. */
#define EXIT_LOCK_WAIT_MS 1000

static void check_at_exit(void) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += EXIT_LOCK_WAIT_MS / 1000;
    if (pthread_mutex_timedlock(&lock, &until) != 0) {
        fputs("segops: exiting without checking for unsent events (a client was being created "
              "or freed)\n",
              stderr);
        return;
    }
    for (segops__exit_watch_t *w = first; w; w = w->next) {
        bool in_spool = false;
        uint64_t n = w->unsent(w->arg, &in_spool);
        if (!n) continue;
        fprintf(stderr,
                "segops: %llu event%s not sent: the process exited without segops_shutdown%s\n",
                (unsigned long long)n, n == 1 ? " was" : "s were",
                in_spool ? " (they stay in the spool for the next client)" : " (they are lost)");
    }
    pthread_mutex_unlock(&lock);
}

/* fork: the child inherits a consistent registry. Registered before any
 * client's hooks, so the registry lock is taken first, as check_at_exit does. */
static void fork_prepare(void *arg) {
    SEGOPS__UNUSED(arg);
    pthread_mutex_lock(&lock);
}
static void fork_release(void *arg) {
    SEGOPS__UNUSED(arg);
    pthread_mutex_unlock(&lock);
}
static segops__fork_hook_t fork_hook = {fork_prepare, fork_release, fork_release, NULL, NULL, NULL};

static void install(void) {
    segops__fork_register(&fork_hook);
    atexit(check_at_exit);
}

void segops__exit_watch_add(segops__exit_watch_t *w) {
    pthread_once(&install_once, install);
    pthread_mutex_lock(&lock);
    w->prev = NULL;
    w->next = first;
    if (first) first->prev = w;
    first = w;
    pthread_mutex_unlock(&lock);
}

void segops__exit_watch_remove(segops__exit_watch_t *w) {
    pthread_mutex_lock(&lock);
    if (w->prev || w->next || first == w) {
        if (w->prev)
            w->prev->next = w->next;
        else
            first = w->next;
        if (w->next) w->next->prev = w->prev;
    }
    w->prev = w->next = NULL;
    pthread_mutex_unlock(&lock);
}
