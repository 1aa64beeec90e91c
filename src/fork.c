/* The registry of live clients and the pthread_atfork handlers. */
#include "fork.h"

#include <pthread.h>

#include "client.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static segops_client_t *registry;
static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

/* Before fork: hold every client lock so no thread is halfway through a queue
 * or counter update when the address space is copied. */
static void prepare(void) {
    pthread_mutex_lock(&registry_lock);
    for (segops_client_t *c = registry; c; c = c->fork_link.next) segops__client_fork_prepare(c);
}

static void parent(void) {
    for (segops_client_t *c = registry; c; c = c->fork_link.next) segops__client_fork_parent(c);
    pthread_mutex_unlock(&registry_lock);
}

/* In the child only the forking thread exists and it holds every lock. */
static void child(void) {
    for (segops_client_t *c = registry; c; c = c->fork_link.next) segops__client_fork_child(c);
    pthread_mutex_unlock(&registry_lock);
}

static void install_handlers(void) { pthread_atfork(prepare, parent, child); }

void segops__fork_register(segops_client_t *c) {
    pthread_once(&handlers_once, install_handlers);
    pthread_mutex_lock(&registry_lock);
    c->fork_link.prev = NULL;
    c->fork_link.next = registry;
    if (registry) registry->fork_link.prev = c;
    registry = c;
    pthread_mutex_unlock(&registry_lock);
}

void segops__fork_unregister(segops_client_t *c) {
    pthread_mutex_lock(&registry_lock);
    if (c->fork_link.prev)
        c->fork_link.prev->fork_link.next = c->fork_link.next;
    else if (registry == c)
        registry = c->fork_link.next;
    if (c->fork_link.next) c->fork_link.next->fork_link.prev = c->fork_link.prev;
    c->fork_link.prev = c->fork_link.next = NULL;
    pthread_mutex_unlock(&registry_lock);
}
