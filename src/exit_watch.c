/* The registry of live clients and the atexit check (see exit_watch.h). */
#include "exit_watch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "fork.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t walked = PTHREAD_COND_INITIALIZER; /* the exit check is done */
static segops__exit_watch_t *first;
static bool walking; /* the exit check is calling hooks: watches cannot leave */
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

/* One line per client that holds events it never sent. The hooks run without
 * the registry lock (one may shut its client down, whose callbacks may create
 * clients); a client freed meanwhile waits in segops__exit_watch_remove. */
static void check_at_exit(void) {
    pthread_mutex_lock(&lock);
    segops__exit_watch_t *list = first;
    first = NULL; /* clients created from now on are not checked */
    walking = true;
    pthread_mutex_unlock(&lock);
    segops__exit_watch_t *last = NULL;
    for (segops__exit_watch_t *w = list; w; w = w->next) {
        last = w;
        bool in_spool = false;
        uint64_t n = w->unsent(w->arg, &in_spool);
        if (!n) continue;
        fprintf(stderr,
                "segops: %llu event%s not sent: the process exited without segops_shutdown%s\n",
                (unsigned long long)n, n == 1 ? " was" : "s were",
                in_spool ? " (they stay in the spool for the next client)" : " (they are lost)");
    }
    pthread_mutex_lock(&lock);
    if (last) { /* back in front of those created meanwhile */
        last->next = first;
        if (first) first->prev = last;
        first = list;
    }
    walking = false;
    pthread_cond_broadcast(&walked);
    pthread_mutex_unlock(&lock);
}

/* fork: the child inherits a consistent registry (and no check in progress:
 * the thread running it does not exist there). */
static void fork_prepare(void *arg) {
    SEGOPS__UNUSED(arg);
    pthread_mutex_lock(&lock);
}
static void fork_parent(void *arg) {
    SEGOPS__UNUSED(arg);
    pthread_mutex_unlock(&lock);
}
static void fork_child(void *arg) {
    SEGOPS__UNUSED(arg);
    walking = false; /* a check the parent was running is the parent's */
    pthread_cond_init(&walked, NULL);
    pthread_mutex_unlock(&lock);
}
static segops__fork_hook_t fork_hook = {fork_prepare, fork_parent, fork_child, NULL, NULL, NULL};

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
    while (walking) pthread_cond_wait(&walked, &lock);
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
