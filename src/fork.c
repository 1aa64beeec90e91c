/* The registry of fork hooks and the pthread_atfork handlers. */
#include "fork.h"

#include <pthread.h>

typedef struct hook_list {
    segops__fork_hook_t *first, *last;
} hook_list_t;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static hook_list_t modules;   /* prepared in registration order */
static hook_list_t innermost; /* prepared after every module, in registration order */
static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

static void prepare_list(const hook_list_t *list) {
    for (segops__fork_hook_t *h = list->first; h; h = h->next) h->prepare(h->arg);
}

static void prepare(void) {
    pthread_mutex_lock(&registry_lock);
    prepare_list(&modules);
    prepare_list(&innermost);
}

static void parent(void) {
    for (segops__fork_hook_t *h = innermost.last; h; h = h->prev) h->parent(h->arg);
    for (segops__fork_hook_t *h = modules.last; h; h = h->prev) h->parent(h->arg);
    pthread_mutex_unlock(&registry_lock);
}

/* In the child only the forking thread exists, and it holds every lock. */
static void child(void) {
    for (segops__fork_hook_t *h = innermost.last; h; h = h->prev) h->child(h->arg);
    for (segops__fork_hook_t *h = modules.last; h; h = h->prev) h->child(h->arg);
    pthread_mutex_unlock(&registry_lock);
}

static void install_handlers(void) { pthread_atfork(prepare, parent, child); }

static void append(hook_list_t *list, segops__fork_hook_t *hook) {
    pthread_once(&handlers_once, install_handlers);
    pthread_mutex_lock(&registry_lock);
    hook->next = NULL;
    hook->prev = list->last;
    if (list->last)
        list->last->next = hook;
    else
        list->first = hook;
    list->last = hook;
    pthread_mutex_unlock(&registry_lock);
}

void segops__fork_register(segops__fork_hook_t *hook) { append(&modules, hook); }

void segops__fork_register_innermost(segops__fork_hook_t *hook) { append(&innermost, hook); }

/* The innermost list holds a process-wide lock or two: a short scan. */
static bool is_innermost(const segops__fork_hook_t *hook) {
    for (const segops__fork_hook_t *h = innermost.first; h; h = h->next)
        if (h == hook) return true;
    return false;
}

void segops__fork_unregister(segops__fork_hook_t *hook) {
    if (!hook) return;
    pthread_mutex_lock(&registry_lock);
    hook_list_t *list = is_innermost(hook) ? &innermost : &modules;
    bool registered = hook->prev || hook->next || list->first == hook;
    if (registered) {
        if (hook->prev)
            hook->prev->next = hook->next;
        else
            list->first = hook->next;
        if (hook->next)
            hook->next->prev = hook->prev;
        else
            list->last = hook->prev;
    }
    hook->prev = hook->next = NULL;
    pthread_mutex_unlock(&registry_lock);
}
