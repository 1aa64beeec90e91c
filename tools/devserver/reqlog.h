/* The request log: every batch POST and session mint in arrival order, with
 * its answer, so tests can check pacing and plan windows from outside. */
#ifndef DEVSRV_REQLOG_H
#define DEVSRV_REQLOG_H

#include "devserver.h"

typedef struct devsrv__reqlog {
    devsrv_request_t *v;
    size_t n, cap;
} devsrv__reqlog_t;

#define DEVSRV__REQLOG_NONE ((size_t)-1)

/* Logs a request arriving at mono_ms / unix_ms (status 0 until answered).
 * Returns its index, or DEVSRV__REQLOG_NONE when the log is full or out of
 * memory. Lock held. */
size_t devsrv__reqlog_add_locked(devsrv__reqlog_t *log, devsrv_request_kind_t kind,
                                 uint64_t request_no, int64_t mono_ms, int64_t unix_ms);
/* Records the answer of the request at index (NONE is ignored). Lock held. */
void devsrv__reqlog_answer_locked(devsrv__reqlog_t *log, size_t index, int status, uint32_t events);
void devsrv__reqlog_free(devsrv__reqlog_t *log);

/* Writes the log as JSON ({"requests":[{...},...]}), malloc'd; NULL when out of memory. */
char *devsrv__reqlog_json(devsrv_t *srv);

#endif
