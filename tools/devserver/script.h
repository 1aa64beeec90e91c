/* Scripted faults: the queue of faults waiting for batch requests, and the
 * parser of the textual script (syntax in devserver.h). */
#ifndef DEVSRV_SCRIPT_H
#define DEVSRV_SCRIPT_H

#include "devserver.h"

typedef struct devsrv__fault {
    devsrv_fault_kind_t kind;
    int status;
    char *retry_after; /* malloc'd or NULL */
    char *body;        /* malloc'd or NULL */
    char *location;    /* malloc'd Location header value or NULL */
    uint32_t delay_ms;
} devsrv__fault_t;

/* Faults in script order: [head, len) are still waiting. */
typedef struct devsrv__faults {
    devsrv__fault_t *v;
    size_t head, len, cap;
} devsrv__faults_t;

/* Frees a fault's strings and zeroes it. */
void devsrv__fault_clear(devsrv__fault_t *f);
/* Moves the next waiting fault (and its strings) into *out. False when none.
 * The server's lock must be held. */
bool devsrv__faults_take_locked(devsrv__faults_t *q, devsrv__fault_t *out);
size_t devsrv__faults_pending_locked(const devsrv__faults_t *q);
/* Frees every waiting fault and the queue (at shutdown). */
void devsrv__faults_free(devsrv__faults_t *q);

#endif
