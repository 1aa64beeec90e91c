/* Payload validation, event encoding and batch encoding, checked against cJSON.
 *
 * Input: one flags byte, then NUL-separated fields: user_id, event_type,
 * occurred_at (flag 1), anonymous_id (flag 2), payload (the rest). The whole
 * input is also fed to the validator as a payload, NULs and all.
 *
 * Properties: anything segops__json_check_object accepts, cJSON parses as an
 * object; segops__json_string_measure answers exactly as segops__utf8_valid and
 * segops__json_escaped_len; an event that segops__event_prepare accepts decodes
 * (cJSON) to exactly its inputs, is at most max_bytes, and a batch of copies of
 * it decodes to the same events. */

#include "common.h" /* first, for its feature macros */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "deliver.h"
#include "event.h"
#include "event_pool.h"
#include "json_text.h"
#include "timefmt.h"

#include "fuzz_common.h"

static cJSON *parse(const char *s, size_t len) {
    return cJSON_ParseWithLengthOpts(s, len, NULL, false);
}

/* cJSON_Compare calls inf != inf (1e999 is valid JSON), so compare the printed
 * trees instead: printing is deterministic and keeps duplicate keys in order. */
static bool same_json(const cJSON *a, const cJSON *b) {
    char *pa = cJSON_PrintUnformatted(a), *pb = cJSON_PrintUnformatted(b);
    CHECK(pa && pb);
    bool same = strcmp(pa, pb) == 0;
    cJSON_free(pa);
    cJSON_free(pb);
    return same;
}

static void check_string_field(const cJSON *obj, const char *key, const char *want) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!want) {
        CHECK(item == NULL);
        return;
    }
    CHECK(cJSON_IsString(item));
    CHECK(strcmp(item->valuestring, want) == 0);
}

/* The event's JSON must decode to exactly what was passed in. */
static void check_event(const cJSON *obj, const segops_event_t *ev, int64_t stamp_ms) {
    CHECK(cJSON_IsObject(obj));
    check_string_field(obj, "user_id", ev->user_id);
    check_string_field(obj, "event_type", ev->event_type);
    check_string_field(obj, "anonymous_id", ev->anonymous_id);
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(obj, "occurred_at");
    CHECK(cJSON_IsString(at) && strlen(at->valuestring) == SEGOPS__RFC3339_MS_LEN);
    char want_at[SEGOPS__RFC3339_MS_LEN + 1];
    segops__rfc3339_format_ms(stamp_ms, want_at);
    CHECK(strcmp(at->valuestring, want_at) == 0);

    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(obj, "payload");
    CHECK(cJSON_IsObject(payload));
    cJSON *want = parse(ev->payload_json, strlen(ev->payload_json));
    CHECK(want != NULL);
    CHECK(same_json(want, payload));
    cJSON_Delete(want);
}

/* Splits a NUL-terminated copy of data at its NULs; returns the field count. */
static size_t split(char *buf, size_t len, char **fields, size_t max) {
    size_t n = 0;
    char *p = buf, *end = buf + len;
    while (n < max && p <= end) {
        fields[n++] = p;
        p += strlen(p) + 1;
    }
    return n;
}

static const size_t max_bytes_choices[4] = {64, 256, 4096, 1 << 20};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* 1. The validator on raw bytes, against cJSON. */
    if (segops__json_check_object((const char *)data, size) == SEGOPS_OK) {
        cJSON *root = parse((const char *)data, size);
        CHECK(cJSON_IsObject(root));
        cJSON_Delete(root);
        CHECK(memchr(data, '\0', size) == NULL);
        CHECK(segops__utf8_valid((const char *)data, size));
    }
    if (size < 1) return 0;

    /* 2. Escaping agrees with its own length function and decodes back, and the
     * one-pass measure agrees with the UTF-8 check and the length function. */
    {
        size_t esc_len = segops__json_escaped_len((const char *)data, size);
        size_t measured = 0;
        bool measured_ok = segops__json_string_measure((const char *)data, size, &measured);
        CHECK(measured_ok == segops__utf8_valid((const char *)data, size));
        CHECK(!measured_ok || measured == esc_len);
        char *quoted = malloc(esc_len + 3);
        quoted[0] = '"';
        CHECK(segops__json_escape(quoted + 1, (const char *)data, size) == esc_len);
        quoted[esc_len + 1] = '"';
        quoted[esc_len + 2] = '\0';
        if (segops__utf8_valid((const char *)data, size)) {
            cJSON *s = parse(quoted, esc_len + 2);
            CHECK(cJSON_IsString(s));
            /* cJSON strings stop at a NUL; compare up to the first one. */
            size_t plain = strnlen((const char *)data, size);
            CHECK(strlen(s->valuestring) == plain && memcmp(s->valuestring, data, plain) == 0);
            cJSON_Delete(s);
        }
        free(quoted);
    }

    /* 3. An event from the fields. */
    const uint8_t flags = data[0];
    char *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    char *fields[5];
    const size_t want = 3 + !!(flags & 1) + !!(flags & 2);
    if (split(buf, size - 1, fields, want) < want) {
        free(buf);
        return 0;
    }
    size_t f = 0;
    segops_event_t ev = {0};
    ev.user_id = fields[f++];
    ev.event_type = fields[f++];
    ev.occurred_at = flags & 1 ? fields[f++] : NULL;
    ev.anonymous_id = flags & 2 ? fields[f++] : NULL;
    ev.payload_json = flags & 4 ? NULL : fields[f];
    const size_t max_bytes = max_bytes_choices[(flags >> 3) & 3];
    const int64_t now_ms = INT64_C(1764139329123);

    segops__event_plan_t plan;
    if (segops__event_prepare(&ev, max_bytes, now_ms, &plan) != SEGOPS_OK) {
        free(buf);
        return 0;
    }
    segops__event_pool_t pool;
    segops__event_pool_init(&pool);
    segops__event_t *event = segops__event_pool_alloc(&pool, plan.len);
    CHECK(event != NULL);
    segops__event_encode(&plan, event);
    if (!ev.payload_json) ev.payload_json = "{}";
    int64_t stamp_ms = now_ms;
    if (ev.occurred_at)
        CHECK(segops__rfc3339_parse_ms(ev.occurred_at, strlen(ev.occurred_at), &stamp_ms));
    CHECK(event->len <= max_bytes && strlen(event->json) == event->len);
    CHECK(segops__json_check_object(event->json, event->len) == SEGOPS_OK);
    cJSON *one = parse(event->json, event->len);
    check_event(one, &ev, stamp_ms);

    /* 4. A batch of 1..4 copies through the real encoder. */
    const size_t n = 1 + ((flags >> 5) & 3);
    segops__event_t *events[4] = {event, event, event, event};
    segops__buf_t body = {0};
    CHECK(segops__batch_encode(&body, events, n) == SEGOPS_OK);
    CHECK(strlen(body.data) == body.len);
    cJSON *batch = parse(body.data, body.len);
    CHECK(cJSON_IsObject(batch) && cJSON_GetArraySize(batch) == 1);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(batch, "events");
    CHECK(cJSON_IsArray(list) && (size_t)cJSON_GetArraySize(list) == n);
    const cJSON *item;
    cJSON_ArrayForEach(item, list) CHECK(same_json(item, one));

    cJSON_Delete(batch);
    cJSON_Delete(one);
    segops__buf_free(&body);
    segops__event_release(&event, 1);
    segops__event_pool_destroy(&pool);
    free(buf);
    return 0;
}
