/* Event validation and encoding: the whole per-event cost of track(). */
#include "event.h"

#include "json_text.h"
#include "last_error.h"
#include "timefmt.h"

/* A present, non-empty UTF-8 id: its length and escaped length, in one pass. */
static bool measure_id(const char *s, size_t *len, size_t *escaped_len) {
    if (!s || !*s) return false;
    *len = strlen(s);
    return segops__json_string_measure(s, *len, escaped_len);
}

/* Appends "<key>":"<escaped value>" at *d; esc_len is the escaped length, and
 * when nothing needs escaping (the usual case) the value is copied whole. */
static char *put_string_field(char *d, const char *key, size_t key_len, const char *value,
                              size_t value_len, size_t esc_len) {
    memcpy(d, key, key_len);
    d += key_len;
    if (esc_len == value_len) {
        memcpy(d, value, value_len);
        d += value_len;
    } else {
        d += segops__json_escape(d, value, value_len);
    }
    *d++ = '"';
    return d;
}

/* Stamps repeat their date and time within a second: the calendar arithmetic
 * runs once per second per thread, and each event writes only its milliseconds. */
static void format_stamp(int64_t ms, char out[SEGOPS__RFC3339_MS_LEN + 1]) {
    static _Thread_local int64_t cached_s = -1;
    static _Thread_local char cached[SEGOPS__RFC3339_MS_LEN + 1];
    const int64_t year_10000_ms = INT64_C(253402300800000);
    if (ms < 0 || ms >= year_10000_ms) { /* clamped or before 1970: no shortcut */
        segops__rfc3339_format_ms(ms, out);
        return;
    }
    int64_t s = ms / 1000;
    if (s != cached_s) {
        segops__rfc3339_format_ms(s * 1000, cached);
        cached_s = s;
    }
    unsigned frac = (unsigned)(ms % 1000);
    memcpy(out, cached, 20); /* "YYYY-MM-DDTHH:MM:SS." */
    out[20] = (char)('0' + frac / 100);
    out[21] = (char)('0' + frac / 10 % 10);
    out[22] = (char)('0' + frac % 10);
    out[23] = 'Z';
    out[24] = '\0';
}

#define KEY_USER "{\"user_id\":\""
#define KEY_TYPE ",\"event_type\":\""
#define KEY_TIME ",\"occurred_at\":\""
#define KEY_ANON ",\"anonymous_id\":\""
#define KEY_PAYLOAD ",\"payload\":"
#define LIT_LEN(s) (sizeof(s) - 1)

/* The checks every event gets: ids, anonymous_id and occurred_at (stamped
 * with now_ms when absent). */
static segops_err_t plan_ids(const segops_event_t *ev, int64_t now_ms, segops__event_plan_t *plan) {
    if (!ev) return segops__fail(SEGOPS_E_INVALID_ARG, "segops_track: the event is NULL");
    if (!measure_id(ev->user_id, &plan->user_len, &plan->user_esc))
        return segops__fail(SEGOPS_E_INVALID_ARG, "segops_track: user_id is %s",
                            ev->user_id ? "empty or not UTF-8" : "NULL");
    if (!measure_id(ev->event_type, &plan->type_len, &plan->type_esc))
        return segops__fail(SEGOPS_E_INVALID_ARG, "segops_track: event_type is %s",
                            ev->event_type ? "empty or not UTF-8" : "NULL");
    plan->anon_len = plan->anon_esc = 0;
    if (ev->anonymous_id && !measure_id(ev->anonymous_id, &plan->anon_len, &plan->anon_esc))
        return segops__fail(SEGOPS_E_INVALID_ARG,
                            "segops_track: anonymous_id is empty or not UTF-8");

    plan->accepted_ms = now_ms;
    int64_t stamp_ms = now_ms;
    if (ev->occurred_at &&
        !segops__rfc3339_parse_ms(ev->occurred_at, strlen(ev->occurred_at), &stamp_ms))
        return segops__fail(
            SEGOPS_E_INVALID_ARG,
            "segops_track: occurred_at is not an RFC 3339 time in years 0000..9999");
    format_stamp(stamp_ms, plan->stamp);
    return SEGOPS_OK;
}

static segops_err_t too_large(size_t len, size_t max_bytes) {
    return segops__fail(SEGOPS_E_TOO_LARGE,
                        "segops_track: the event takes %s%zu bytes, over max_event_bytes %zu",
                        len > max_bytes ? "" : "more than ", len, max_bytes);
}

/* The encoded size, checked against max_bytes. */
static segops_err_t plan_size(const segops_event_t *ev, size_t max_bytes,
                              segops__event_plan_t *plan) {
    plan->ev = ev;
    size_t len = LIT_LEN(KEY_USER) + plan->user_esc + 1 + LIT_LEN(KEY_TYPE) + plan->type_esc + 1 +
                 LIT_LEN(KEY_TIME) + SEGOPS__RFC3339_MS_LEN + 1 + LIT_LEN(KEY_PAYLOAD) +
                 plan->payload_len + 1;
    if (ev->anonymous_id) len += LIT_LEN(KEY_ANON) + plan->anon_esc + 1;
    if (len > max_bytes) return too_large(len, max_bytes);
    plan->len = len;
    return SEGOPS_OK;
}

segops_err_t segops__event_prepare(const segops_event_t *ev, size_t max_bytes, int64_t now_ms,
                                   segops__event_plan_t *plan) {
    segops_err_t err = plan_ids(ev, now_ms, plan);
    if (err != SEGOPS_OK) return err;
    plan->payload = ev->payload_json ? ev->payload_json : "{}";
    plan->payload_len = strlen(plan->payload);
    /* A payload far over the limit is refused before it is scanned. */
    if (plan->payload_len > max_bytes) return too_large(plan->payload_len, max_bytes);
    err = segops__json_check_object(plan->payload, plan->payload_len);
    if (err != SEGOPS_OK)
        return segops__fail(err, "segops_track: %s",
                            err == SEGOPS_E_INVALID_JSON
                                ? "the payload is not the text of one JSON object, or nests "
                                  "deeper than 64 levels"
                                : segops_strerror(err));
    return plan_size(ev, max_bytes, plan);
}

segops_err_t segops__event_prepare_trusted(const segops_event_t *ev, const char *payload,
                                           size_t payload_len, size_t max_bytes, int64_t now_ms,
                                           segops__event_plan_t *plan) {
    segops_err_t err = plan_ids(ev, now_ms, plan);
    if (err != SEGOPS_OK) return err;
    plan->payload = payload;
    plan->payload_len = payload_len;
    return plan_size(ev, max_bytes, plan);
}

void segops__event_encode(const segops__event_plan_t *plan, segops__event_t *event) {
    const segops_event_t *ev = plan->ev;
    char *d = event->json;
    d = put_string_field(d, KEY_USER, LIT_LEN(KEY_USER), ev->user_id, plan->user_len,
                         plan->user_esc);
    d = put_string_field(d, KEY_TYPE, LIT_LEN(KEY_TYPE), ev->event_type, plan->type_len,
                         plan->type_esc);
    d = put_string_field(d, KEY_TIME, LIT_LEN(KEY_TIME), plan->stamp, SEGOPS__RFC3339_MS_LEN,
                         SEGOPS__RFC3339_MS_LEN);
    if (ev->anonymous_id)
        d = put_string_field(d, KEY_ANON, LIT_LEN(KEY_ANON), ev->anonymous_id, plan->anon_len,
                             plan->anon_esc);
    memcpy(d, KEY_PAYLOAD, LIT_LEN(KEY_PAYLOAD));
    d += LIT_LEN(KEY_PAYLOAD);
    memcpy(d, plan->payload, plan->payload_len);
    d += plan->payload_len;
    *d++ = '}';
    *d = '\0';
    event->len = (uint32_t)plan->len;
    segops__event_set_accepted(event, plan->accepted_ms);
}
