/* The registry of fork hooks and the pthread_atfork handlers. */
#include "fork.h"

#include <pthread.h>

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static segops__fork_hook_t *first, *last;
static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

static void prepare(void) {
    pthread_mutex_lock(&registry_lock);
    for (segops__fork_hook_t *h = first; h; h = h->next) h->prepare(h->arg);
}

static void parent(void) {
    for (segops__fork_hook_t *h = last; h; h = h->prev) h->parent(h->arg);
    pthread_mutex_unlock(&registry_lock);
}

/* In the child only the forking thread exists, and it holds every lock. */
static void child(void) {
    for (segops__fork_hook_t *h = last; h; h = h->prev) h->child(h->arg);
    pthread_mutex_unlock(&registry_lock);
}

static void install_handlers(void) { pthread_atfork(prepare, parent, child); }

void segops__fork_register(segops__fork_hook_t *hook) {
    pthread_once(&handlers_once, install_handlers);
    pthread_mutex_lock(&registry_lock);
    hook->next = NULL;
    hook->prev = last;
    if (last)
        last->next = hook;
    else
        first = hook;
    last = hook;
    pthread_mutex_unlock(&registry_lock);
}

void segops__fork_unregister(segops__fork_hook_t *hook) {
    if (!hook) return;
    pthread_mutex_lock(&registry_lock);
    bool registered = hook->prev || hook->next || first == hook;
    if (registered) {
        if (hook->prev)
            hook->prev->next = hook->next;
        else
            first = hook->next;
        if (hook->next)
            hook->next->prev = hook->prev;
        else
            last = hook->prev;
    }
    hook->prev = hook->next = NULL;
    pthread_mutex_unlock(&registry_lock);
}
