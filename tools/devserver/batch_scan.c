/* See batch_scan.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "batch_scan.h"

#include "timefmt.h"

#include "cJSON.h"

#include <stdlib.h>
#include <string.h>

/* Checks a batch body in one pass, without building a tree: the verdicts are
 * exactly those of the cJSON tree the server used to build for every batch
 * (parse failure, root type, first "events" member, per-event rules). So it
 * follows cJSON 1.7's grammar, quirks included: whitespace is any byte 1..32,
 * a leading UTF-8 BOM is skipped, a number is what strtod takes from the run
 * of [0-9+-.eE] after a '-' or digit, containers nest at most 1000 deep
 * (CJSON_NESTING_LIMIT), raw control bytes are allowed in strings, and a key
 * names the first member whose decoded key compares equal with strcmp. A
 * string with a backslash (rare) is validated and decoded by cJSON itself. */

#define SCAN_NESTING_LIMIT 1000 /* CJSON_NESTING_LIMIT */

struct scan_str {
    const char *s; /* the raw text between the quotes */
    size_t n;
    char *dec; /* decoded by cJSON (malloc'd) when the raw text has escapes */
};

static const char *scan_value(const char *p, const char *end, int depth);

static inline const char *scan_ws(const char *p, const char *end) {
    while (p < end && (unsigned char)*p <= 32) p++;
    return p;
}

static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Decodes the string token [s, e) (quotes included) with cJSON; false when
 * cJSON rejects it (bad escape, bad surrogate). *out gets the text if asked. */
static bool decode_string(const char *s, const char *e, char **out) {
    cJSON *item = cJSON_ParseWithLength(s, (size_t)(e - s));
    bool ok = cJSON_IsString(item);
    if (ok && out) {
        *out = item->valuestring;
        item->valuestring = NULL; /* keep it; cJSON_Delete skips NULL */
    }
    cJSON_Delete(item);
    return ok;
}

/* p at the opening quote; returns just past the closing one, or NULL. When
 * str is given it receives the text (decoded when it has escapes). */
static const char *scan_string(const char *p, const char *end, struct scan_str *str) {
    const char *s = p;
    bool esc = false;
    for (p++; p < end; p++) {
        if (*p == '"') {
            p++;
            if (esc && !decode_string(s, p, str ? &str->dec : NULL)) return NULL;
            if (str) {
                str->s = s + 1;
                str->n = (size_t)(p - s) - 2;
            }
            return p;
        }
        if (*p == '\\') {
            esc = true;
            p++;
        }
    }
    return NULL;
}

/* What strtod accepts of a number at p ('-' or a digit), or NULL. */
static const char *scan_number(const char *p, const char *end) {
    size_t digits = 0;
    if (*p == '-') p++;
    for (; p < end && is_digit(*p); p++) digits++;
    if (p < end && *p == '.')
        for (p++; p < end && is_digit(*p); p++) digits++;
    if (digits == 0) return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        const char *x = p + 1;
        if (x < end && (*x == '+' || *x == '-')) x++;
        if (x < end && is_digit(*x)) {
            while (x < end && is_digit(*x)) x++;
            p = x;
        }
    }
    return p;
}

/* Does the key token's decoded text equal name (strcmp, as cJSON looks up)? */
static bool scan_key_is(const struct scan_str *k, const char *name, size_t name_len) {
    if (k->dec) return strcmp(k->dec, name) == 0;
    return k->n == name_len && memcmp(k->s, name, name_len) == 0;
}

/* Object or array at p (p at '{' or '['); depth = containers already open. */
static const char *scan_container(const char *p, const char *end, int depth) {
    if (depth >= SCAN_NESTING_LIMIT) return NULL;
    bool object = *p == '{';
    char close = object ? '}' : ']';
    p = scan_ws(p + 1, end);
    if (p < end && *p == close) return p + 1;
    for (;;) {
        if (object) {
            if (p >= end || *p != '"') return NULL;
            p = scan_string(p, end, NULL);
            if (!p) return NULL;
            p = scan_ws(p, end);
            if (p >= end || *p != ':') return NULL;
            p = scan_ws(p + 1, end);
        }
        p = scan_value(p, end, depth + 1);
        if (!p) return NULL;
        p = scan_ws(p, end);
        if (p < end && *p == ',') {
            p = scan_ws(p + 1, end);
            continue;
        }
        return (p < end && *p == close) ? p + 1 : NULL;
    }
}

static const char *scan_value(const char *p, const char *end, int depth) {
    if (p >= end) return NULL;
    switch (*p) {
    case 'n': return end - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
    case 'f': return end - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 't': return end - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case '"': return scan_string(p, end, NULL);
    case '{':
    case '[': return scan_container(p, end, depth);
    default: return (*p == '-' || is_digit(*p)) ? scan_number(p, end) : NULL;
    }
}

/* The members of an event the server looks at, first occurrence of each. */
enum { F_USER, F_TYPE, F_AT, F_PAYLOAD, F_ANON, F_COUNT };

struct field {
    bool seen;
    char kind; /* 's' string, 'o' object, 'x' anything else */
    struct scan_str str;
};

static bool field_nonempty(const struct field *f) {
    return f->seen && f->kind == 's' && (f->str.dec ? f->str.dec[0] != '\0' : f->str.n > 0);
}

/* occurred_at: an RFC 3339 date-time, by the library's own parser. */
static bool field_rfc3339(const struct field *f) {
    if (!f->seen || f->kind != 's') return false;
    int64_t ms;
    if (f->str.dec) return segops__rfc3339_parse_ms(f->str.dec, strlen(f->str.dec), &ms);
    return segops__rfc3339_parse_ms(f->str.s, f->str.n, &ms);
}

/* One element of the events array (p at '{'), at the given depth. Fills the
 * verdicts of event_valid() and skip_event_type into *ev. */
static const char *scan_event(const char *p, const char *end, int depth, const char *skip_type,
                              devsrv__event_scan_t *ev) {
    static const struct {
        const char *name;
        size_t len;
    } names[F_COUNT] = {{"user_id", 7},
                        {"event_type", 10},
                        {"occurred_at", 11},
                        {"payload", 7},
                        {"anonymous_id", 12}};
    struct field f[F_COUNT];
    memset(f, 0, sizeof f);
    const char *ret = NULL;
    ev->valid = ev->skip = false;
    if (depth >= SCAN_NESTING_LIMIT) return NULL;
    p = scan_ws(p + 1, end);
    if (p < end && *p == '}') {
        ret = p + 1;
        goto done;
    }
    for (;;) {
        if (p >= end || *p != '"') goto done;
        struct scan_str key = {NULL, 0, NULL};
        p = scan_string(p, end, &key);
        if (!p) goto done;
        int which = -1;
        for (int i = 0; i < F_COUNT; i++)
            if (!f[i].seen && scan_key_is(&key, names[i].name, names[i].len)) {
                which = i;
                break;
            }
        /* A later duplicate of a key already seen is ignored, like the lookup does. */
        free(key.dec);
        p = scan_ws(p, end);
        if (p >= end || *p != ':') goto done;
        p = scan_ws(p + 1, end);
        if (which >= 0 && p < end && *p == '"') {
            f[which].seen = true;
            f[which].kind = 's';
            p = scan_string(p, end, &f[which].str);
        } else {
            if (which >= 0) {
                f[which].seen = true;
                f[which].kind = (p < end && *p == '{') ? 'o' : 'x';
            }
            p = scan_value(p, end, depth + 1);
        }
        if (!p) goto done;
        p = scan_ws(p, end);
        if (p < end && *p == ',') {
            p = scan_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}') ret = p + 1;
        goto done;
    }
done:
    if (ret) {
        ev->valid = field_nonempty(&f[F_USER]) && field_nonempty(&f[F_TYPE]) &&
                    field_rfc3339(&f[F_AT]) && f[F_PAYLOAD].seen && f[F_PAYLOAD].kind == 'o' &&
                    (!f[F_ANON].seen || f[F_ANON].kind == 's');
        if (ev->valid && skip_type) {
            const struct scan_str *t = &f[F_TYPE].str;
            ev->skip = t->dec ? strcmp(t->dec, skip_type) == 0
                              : t->n == strlen(skip_type) && memcmp(t->s, skip_type, t->n) == 0;
        }
    }
    for (int i = 0; i < F_COUNT; i++) free(f[i].str.dec);
    return ret;
}

/* The events array at p (p at '['), depth = containers already open. */
static const char *scan_events(const char *p, const char *end, int depth,
                               devsrv__batch_scan_t *bs) {
    if (depth >= SCAN_NESTING_LIMIT) return NULL;
    p = scan_ws(p + 1, end);
    if (p < end && *p == ']') return p + 1;
    for (;;) {
        devsrv__event_scan_t scratch,
            *ev = bs->count < SEGOPS__MAX_EVENTS_PER_REQUEST ? &bs->ev[bs->count] : &scratch;
        const char *start = p;
        if (p < end && *p == '{') {
            p = scan_event(p, end, depth + 1, bs->skip_type, ev);
        } else {
            ev->valid = ev->skip = false;
            p = scan_value(p, end, depth + 1);
        }
        if (!p) return NULL;
        ev->span.start = start;
        ev->span.end = p;
        bs->count++;
        p = scan_ws(p, end);
        if (p < end && *p == ',') {
            p = scan_ws(p + 1, end);
            continue;
        }
        return (p < end && *p == ']') ? p + 1 : NULL;
    }
}

/* The whole body (len bytes, NUL-terminated, no NUL inside). False when cJSON
 * would not have parsed it as an object. */
bool devsrv__batch_scan(const char *body, size_t len, devsrv__batch_scan_t *bs) {
    const char *p = body, *end = body + len;
    bs->events_found = bs->events_array = false;
    bs->count = 0;
    if (len >= 4 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
    p = scan_ws(p, end);
    if (p >= end || *p != '{') return false; /* parse error or not an object: one answer */
    p = scan_ws(p + 1, end);
    if (p < end && *p == '}') return scan_ws(p + 1, end) == end;
    for (;;) {
        if (p >= end || *p != '"') return false;
        struct scan_str key = {NULL, 0, NULL};
        p = scan_string(p, end, &key);
        if (!p) return false;
        bool events = !bs->events_found && scan_key_is(&key, "events", 6);
        free(key.dec);
        p = scan_ws(p, end);
        if (p >= end || *p != ':') return false;
        p = scan_ws(p + 1, end);
        if (events) {
            bs->events_found = true;
            bs->events_array = p < end && *p == '[';
        }
        p = events && bs->events_array ? scan_events(p, end, 1, bs) : scan_value(p, end, 1);
        if (!p) return false;
        p = scan_ws(p, end);
        if (p < end && *p == ',') {
            p = scan_ws(p + 1, end);
            continue;
        }
        if (p >= end || *p != '}') return false;
        return scan_ws(p + 1, end) == end;
    }
}
