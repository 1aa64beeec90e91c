/* What the server keeps of accepted events: copies in memory (keep_events,
 * for devsrv_event_at) and NDJSON lines in the record file. A batch builds its
 * additions without the lock, then commits them in one step under it. */
#ifndef DEVSRV_STORE_H
#define DEVSRV_STORE_H

#include "devserver.h"
#include "json_span.h"

#include <stdio.h>

struct cJSON;

typedef struct devsrv__store {
    bool keep;         /* read-only after start */
    FILE *record;      /* NDJSON sink, or NULL; written under the lock */
    bool record_owned; /* fclose at the end (not stdout) */
    devsrv_event_t *events;
    size_t n, cap;
} devsrv__store_t;

/* One batch's accepted events, built outside the lock. */
typedef struct devsrv__accepted {
    devsrv_event_t *events; /* keep only */
    size_t n;
    char *ndjson;
    size_t ndjson_len, ndjson_cap;
} devsrv__accepted_t;

/* Opens cfg->record_path ("-" = stdout). NULL on success, else why not. */
const char *devsrv__store_open(devsrv__store_t *st, const devsrv_config_t *cfg);
void devsrv__store_close(devsrv__store_t *st);

/* Room for up to count events. False when out of memory. */
bool devsrv__accepted_init(devsrv__accepted_t *acc, const devsrv__store_t *st, size_t count);
/* Adds one accepted event (its tree after any rewrite, its text in the body).
 * Needs the tree only when the store keeps or records events. */
bool devsrv__accepted_add(devsrv__accepted_t *acc, const devsrv__store_t *st,
                          const struct cJSON *ev, const devsrv__span_t *raw, uint64_t request_no,
                          int64_t arrival_ms);
/* Moves the kept events into the store and writes the NDJSON. Lock held. */
bool devsrv__store_commit_locked(devsrv__store_t *st, devsrv__accepted_t *acc);
void devsrv__accepted_free(devsrv__accepted_t *acc);

#endif
