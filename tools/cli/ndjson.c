/* NDJSON line parsing with cJSON (length-bounded, no global error state). */
#include "ndjson.h"

#include "cJSON.h"

#include <stdbool.h>
#include <string.h>

/* A required field: a non-empty string. */
static const char *required_string(const cJSON *root, const char *name) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!cJSON_IsString(item) || item->valuestring == NULL || item->valuestring[0] == '\0') {
        return NULL;
    }
    return item->valuestring;
}

/* An optional string: absent or null gives NULL; anything but a string is an error. */
static bool optional_string(const cJSON *root, const char *name, const char **out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    *out = NULL;
    if (item == NULL || cJSON_IsNull(item)) {
        return true;
    }
    if (!cJSON_IsString(item) || item->valuestring == NULL) {
        return false;
    }
    *out = item->valuestring;
    return true;
}

static const char *parse_fields(cJSON *root, cli_ndjson_event_t *out) {
    if (!cJSON_IsObject(root)) {
        return "not a JSON object";
    }
    out->event.user_id = required_string(root, "user_id");
    if (out->event.user_id == NULL) {
        return "user_id must be a non-empty string";
    }
    out->event.event_type = required_string(root, "event_type");
    if (out->event.event_type == NULL) {
        return "event_type must be a non-empty string";
    }
    if (!optional_string(root, "occurred_at", &out->event.occurred_at)) {
        return "occurred_at must be a string";
    }
    if (!optional_string(root, "anonymous_id", &out->event.anonymous_id)) {
        return "anonymous_id must be a string";
    }
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(root, "payload");
    if (payload != NULL && !cJSON_IsNull(payload)) {
        if (!cJSON_IsObject(payload)) {
            return "payload must be a JSON object";
        }
        out->payload = cJSON_PrintUnformatted(payload);
        if (out->payload == NULL) {
            return "out of memory";
        }
    }
    out->event.payload_json = out->payload;
    return NULL;
}

const char *cli_ndjson_parse(const char *line, size_t len, cli_ndjson_event_t *out) {
    memset(out, 0, sizeof *out);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(line, len, &end, false);
    if (root == NULL) {
        return "invalid JSON";
    }
    out->root = root;
    /* One object per line: anything after it but blanks is a second value. */
    for (const char *p = end; p != NULL && p < line + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r') {
            cli_ndjson_release(out);
            return "invalid JSON (text after the object)";
        }
    }
    const char *reason = parse_fields(root, out);
    if (reason != NULL) {
        cli_ndjson_release(out);
    }
    return reason;
}

void cli_ndjson_release(cli_ndjson_event_t *ev) {
    cJSON_free(ev->payload);
    cJSON_Delete(ev->root);
    memset(ev, 0, sizeof *ev);
}
