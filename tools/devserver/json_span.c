/* See json_span.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "json_span.h"

#include "util.h"

#include "cJSON.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* p at the opening quote; returns just past the closing one, or NULL. */
static const char *skip_string(const char *p, const char *end) {
    for (p++; p < end; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }
        if (*p == '"') return p + 1;
    }
    return NULL;
}

const char *devsrv__json_skip_value(const char *p, const char *end) {
    if (p >= end) return NULL;
    if (*p == '"') return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            char c = *p;
            if (c == '"') {
                p = skip_string(p, end);
                if (!p) return NULL;
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return NULL;
    }
    const char *s = p;
    while (p < end && *p != '\0' && !strchr(",:}] \t\r\n", *p)) p++;
    return p > s ? p : NULL;
}

/* Compares a raw JSON key token (with quotes) to name, decoding escapes if any. */
static bool key_equals(const char *ks, const char *ke, const char *name) {
    size_t n = (size_t)(ke - ks) - 2;
    if (!memchr(ks + 1, '\\', n)) return n == strlen(name) && memcmp(ks + 1, name, n) == 0;
    cJSON *k = cJSON_ParseWithLength(ks, (size_t)(ke - ks));
    bool eq = cJSON_IsString(k) && strcmp(k->valuestring, name) == 0;
    cJSON_Delete(k);
    return eq;
}

bool devsrv__json_find_member(const char *p, const char *end, const char *name,
                              devsrv__span_t *out) {
    p = skip_ws(p, end);
    if (p >= end || *p != '{') return false;
    p = skip_ws(p + 1, end);
    while (p < end && *p == '"') {
        const char *ks = p, *ke = skip_string(p, end);
        if (!ke) return false;
        p = skip_ws(ke, end);
        if (p >= end || *p != ':') return false;
        p = skip_ws(p + 1, end);
        const char *ve = devsrv__json_skip_value(p, end);
        if (!ve) return false;
        if (key_equals(ks, ke, name)) {
            out->start = p;
            out->end = ve;
            return true;
        }
        p = skip_ws(ve, end);
        if (p >= end || *p != ',') return false;
        p = skip_ws(p + 1, end);
    }
    return false;
}

bool devsrv__json_raw_integer(const char *body, size_t len, const char *name, int64_t *out) {
    devsrv__span_t sp;
    if (!devsrv__json_find_member(body, body + len, name, &sp)) return false;
    const char *p = sp.start;
    if (*p == '-') p++;
    if (p == sp.end) return false;
    for (; p < sp.end; p++)
        if (*p < '0' || *p > '9') return false;
    char *tok = devsrv__dupmem(sp.start, (size_t)(sp.end - sp.start));
    if (!tok) return false;
    errno = 0;
    long long v = strtoll(tok, NULL, 10);
    free(tok);
    *out = (int64_t)v;
    return errno == 0;
}
