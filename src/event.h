/* An accepted event: validated once on the caller's thread and encoded once as
 * its JSON object, so sending is a memcpy. Its memory comes from the client's
 * event pool (event_pool.h). */
#ifndef SEGOPS_EVENT_H
#define SEGOPS_EVENT_H

#include "common.h"

#include "timefmt.h"

/* The header is packed because it is paid once per queued event (bench burst:
 * header + JSON + NUL rounded to 8 bytes is the whole per-event memory):
 * - accepted_ms and block_offset share one word. Both are written once, before
 *   the event is published to another thread, and only read after, so sharing
 *   a memory location cannot race. 48 bits of signed milliseconds span +-4,462
 *   years around 1970: any wall clock fits; a read-back record's time beyond
 *   that is clamped (segops__event_set_accepted), which keeps expiry the same.
 * - residence has a byte of its own: another thread may read len while the
 *   owner moves the event (an eviction while the worker walks the queue).
 * - the JSON starts right after the header, not at sizeof (event_pool.c). */
#define SEGOPS__EVENT_MS_BITS 48

typedef struct segops__event {
    struct segops__event *next; /* queue link */
    uint64_t spool_pos;         /* its spool record (spooler.h); 0: none. See residence.h */
    int64_t accepted_ms : SEGOPS__EVENT_MS_BITS; /* wall clock when track accepted it
                                                    (spool_max_age_ms, and the stats
                                                    latencies unless read_back) */
    uint64_t block_offset : 16;                  /* 8-byte units from the start of its pool block */
    uint32_t len;                                /* bytes of json, without the NUL */
    uint8_t residence;   /* segops__residence_t: changed only through residence.h */
    bool over_bound : 1; /* accepted past the memory queue's bound: spool only */
    bool read_back : 1;  /* read back from the spool's files (segops__residence_adopt) */
    char json[];         /* {"user_id":…,"event_type":…,"occurred_at":…,"payload":…} */
} segops__event_t;

/* Guards the per-event memory (BENCHMARKS.md, burst memory): 30 bytes of header
 * on LP64, 26 on ILP32. Grow it only knowing that every queued event pays it. */
_Static_assert(offsetof(segops__event_t, json) <= sizeof(void *) + 22,
               "segops__event_t header grew: every queued event pays for it");

/* Sets when track accepted the event (or when a read-back record was), clamped
 * to the 48 bits it has: the clamp keeps a far past far past and a far future
 * far future, so segops__residence_expired decides as with the full value. */
static inline void segops__event_set_accepted(segops__event_t *e, int64_t ms) {
    const int64_t max = (INT64_C(1) << (SEGOPS__EVENT_MS_BITS - 1)) - 1;
    e->accepted_ms = ms > max ? max : ms < -max - 1 ? -max - 1 : ms;
}

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
