/* fork() support. Every live client is registered; pthread_atfork handlers take
 * each client's locks before a fork (so the child inherits consistent state)
 * and, in the child, hand each client a fresh start: the parent's queued and
 * in-flight events stay the parent's, and its worker, curl handles and
 * connections are never touched by the child. */
#ifndef SEGOPS_FORK_H
#define SEGOPS_FORK_H

#include "common.h"

typedef struct segops__fork_link {
    segops_client_t *prev;
    segops_client_t *next;
} segops__fork_link_t;

/* Adds c to the registry (installing the atfork handlers on first use). */
void segops__fork_register(segops_client_t *c);
void segops__fork_unregister(segops_client_t *c);

#endif
