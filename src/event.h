/* An accepted event: validated once on the caller's thread and encoded once as
 * its JSON object, so sending is a memcpy. One allocation per event. */
#ifndef SEGOPS_EVENT_H
#define SEGOPS_EVENT_H

#include "common.h"

typedef struct segops__event {
    struct segops__event *next; /* queue link */
    uint32_t len;               /* bytes of json, without the NUL */
    char json[]; /* {"user_id":…,"event_type":…,"occurred_at":…,"payload":…} */
} segops__event_t;

/* Validates ev and builds its record, stamped with now_ms when ev->occurred_at
 * is NULL. Returns SEGOPS_OK, SEGOPS_E_INVALID_ARG (NULL/empty/non-UTF-8 ids or
 * anonymous_id, occurred_at not RFC 3339), SEGOPS_E_INVALID_JSON,
 * SEGOPS_E_TOO_LARGE (encoded size over max_bytes) or SEGOPS_E_NOMEM. */
segops_err_t segops__event_build(const segops_event_t *ev, size_t max_bytes, int64_t now_ms,
                                 segops__event_t **out);

void segops__event_free(segops__event_t *event);

#endif
