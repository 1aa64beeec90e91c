/* The batch validator: checks a batch body in one pass, without building a
 * tree, and gives each event's verdict and byte span. */
#ifndef DEVSRV_BATCH_SCAN_H
#define DEVSRV_BATCH_SCAN_H

#include "common.h" /* SEGOPS__MAX_EVENTS_PER_REQUEST: the service's limit */

#include "json_span.h"

typedef struct devsrv__event_scan {
    devsrv__span_t span; /* the element's text inside the body */
    bool valid;          /* a well-formed event (the service's schema) */
    bool skip;           /* valid, and its event_type is the configured skip type */
} devsrv__event_scan_t;

typedef struct devsrv__batch_scan {
    const char *skip_type; /* input: events of this type are skipped; NULL = none */
    bool events_found;     /* the first "events" member of the root */
    bool events_array;     /* ... and it is an array */
    int count;             /* its elements (only the first SEGOPS__MAX_EVENTS_PER_REQUEST kept) */
    devsrv__event_scan_t ev[SEGOPS__MAX_EVENTS_PER_REQUEST];
} devsrv__batch_scan_t;

/* Scans body (len bytes, NUL-terminated, no NUL inside). False when cJSON
 * would not have parsed it as an object; otherwise fills bs (skip_type set). */
bool devsrv__batch_scan(const char *body, size_t len, devsrv__batch_scan_t *bs);

#endif
