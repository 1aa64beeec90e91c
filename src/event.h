/* An accepted event: validated once on the caller's thread and encoded once as
 * its JSON object, so sending is a memcpy. Its memory comes from the client's
 * event pool (event_pool.h). */
#ifndef SEGOPS_EVENT_H
#define SEGOPS_EVENT_H

#include "common.h"

#include "timefmt.h"

typedef struct segops__event {
    struct segops__event *next; /* queue link */
    uint32_t len;               /* bytes of json, without the NUL */
    uint32_t block_offset;      /* from the start of its pool block (event_pool.c) */
    uint64_t spool_pos;         /* its spool record (spooler.h); 0: none. See residence.h */
    int64_t accepted_ms;        /* wall clock when track accepted it (spool_max_age_ms, and
                                   the stats latencies unless read_back) */
    uint8_t residence;          /* segops__residence_t: changed only through residence.h */
    bool over_bound;            /* accepted past the memory queue's bound: spool only */
    bool read_back;             /* read back from the spool's files (segops__residence_adopt) */
    char json[]; /* {"user_id":…,"event_type":…,"occurred_at":…,"payload":…} */
} segops__event_t;

/* When this client's track accepted the event, for the stats latencies; 0 for
 * an event read back from the spool (its accepted_ms may be a previous
 * process's, so it has no track time here and is left out). */
static inline int64_t segops__event_track_ms(const segops__event_t *e) {
    return e->read_back ? 0 : e->accepted_ms;
}

/* A validated event, ready to encode: the caller's strings (borrowed until
 * encoded), their lengths and escaped lengths, and the formatted stamp. */
typedef struct segops__event_plan {
    const segops_event_t *ev;
    const char *payload;
    size_t user_len, user_esc;
    size_t type_len, type_esc;
    size_t anon_len, anon_esc;
    size_t payload_len;
    size_t len;          /* bytes of the encoded JSON object */
    int64_t accepted_ms; /* now_ms of prepare */
    char stamp[SEGOPS__RFC3339_MS_LEN + 1];
} segops__event_plan_t;

/* Validates ev and plans its encoding, stamped with now_ms when ev->occurred_at
 * is NULL. Returns SEGOPS_OK, SEGOPS_E_INVALID_ARG (NULL/empty/non-UTF-8 ids or
 * anonymous_id, occurred_at not RFC 3339), SEGOPS_E_INVALID_JSON or
 * SEGOPS_E_TOO_LARGE (encoded size over max_bytes). Never allocates. */
segops_err_t segops__event_prepare(const segops_event_t *ev, size_t max_bytes, int64_t now_ms,
                                   segops__event_plan_t *plan);

/* As segops__event_prepare, with payload[0..payload_len) as the payload
 * (ev->payload_json is ignored) and no scan of it: for payloads the library
 * wrote itself and knows to be one valid JSON object (the props builder). The
 * same checks of ids, anonymous_id, occurred_at and size. payload is borrowed
 * until encoded. Never allocates. */
segops_err_t segops__event_prepare_trusted(const segops_event_t *ev, const char *payload,
                                           size_t payload_len, size_t max_bytes, int64_t now_ms,
                                           segops__event_plan_t *plan);

/* Writes the planned JSON object and its NUL into event->json, which has room
 * for plan->len + 1 bytes. */
void segops__event_encode(const segops__event_plan_t *plan, segops__event_t *event);

#endif
