/* See reqlog.h and devsrv_request_log in devserver.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "reqlog.h"

#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One entry as JSON is at most this long (six numbers of <= 20 digits). */
#define ENTRY_JSON_MAX 192

size_t devsrv__reqlog_add_locked(devsrv__reqlog_t *log, devsrv_request_kind_t kind,
                                 uint64_t request_no, int64_t mono_ms, int64_t unix_ms) {
    if (log->n >= DEVSRV_REQUEST_LOG_MAX) return DEVSRV__REQLOG_NONE;
    if (log->n == log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 256;
        devsrv_request_t *v = realloc(log->v, cap * sizeof *v);
        if (!v) return DEVSRV__REQLOG_NONE;
        log->v = v;
        log->cap = cap;
    }
    log->v[log->n] = (devsrv_request_t){
        .arrival_ms = mono_ms, .arrival_unix_ms = unix_ms, .kind = kind, .request_no = request_no};
    return log->n++;
}

void devsrv__reqlog_answer_locked(devsrv__reqlog_t *log, size_t index, int status,
                                  uint32_t events) {
    if (index >= log->n) return;
    log->v[index].status = status;
    log->v[index].events = events;
}

void devsrv__reqlog_free(devsrv__reqlog_t *log) {
    free(log->v);
    memset(log, 0, sizeof *log);
}

size_t devsrv_request_log(devsrv_t *srv, devsrv_request_t *out, size_t max) {
    if (!srv) return 0;
    pthread_mutex_lock(&srv->mu);
    size_t n = srv->reqlog.n;
    if (out && max > 0) memcpy(out, srv->reqlog.v, (n < max ? n : max) * sizeof *out);
    pthread_mutex_unlock(&srv->mu);
    return n;
}

static bool counts(const devsrv_request_t *r, unsigned which) {
    unsigned kinds = which & (DEVSRV_COUNT_BATCH | DEVSRV_COUNT_MINTS);
    if (kinds == 0) kinds = DEVSRV_COUNT_BATCH | DEVSRV_COUNT_MINTS;
    unsigned kind = r->kind == DEVSRV_REQUEST_MINT ? DEVSRV_COUNT_MINTS : DEVSRV_COUNT_BATCH;
    if (!(kinds & kind)) return false;
    return !(which & DEVSRV_COUNT_ACCEPTED) || (r->status >= 200 && r->status <= 299);
}

size_t devsrv_max_in_window(const devsrv_request_t *log, size_t n, uint32_t window_ms,
                            unsigned which) {
    if (!log || window_ms == 0) return 0;
    size_t best = 0, in_window = 0, first = 0;
    for (size_t last = 0; last < n; last++) {
        if (!counts(&log[last], which)) continue;
        in_window++;
        /* The window ending at this arrival: (arrival - window_ms, arrival]. */
        for (; first < last && log[first].arrival_ms <= log[last].arrival_ms - (int64_t)window_ms;
             first++)
            if (counts(&log[first], which)) in_window--;
        if (in_window > best) best = in_window;
    }
    return best;
}

size_t devsrv_max_requests_in_window(devsrv_t *srv, uint32_t window_ms, unsigned which) {
    if (!srv) return 0;
    pthread_mutex_lock(&srv->mu);
    size_t best = devsrv_max_in_window(srv->reqlog.v, srv->reqlog.n, window_ms, which);
    pthread_mutex_unlock(&srv->mu);
    return best;
}

char *devsrv__reqlog_json(devsrv_t *srv) {
    pthread_mutex_lock(&srv->mu);
    size_t n = srv->reqlog.n;
    size_t cap = 32 + n * ENTRY_JSON_MAX;
    char *out = malloc(cap);
    size_t len = 0;
    if (out) {
        len += (size_t)snprintf(out, cap, "{\"requests\":[");
        for (size_t i = 0; i < n; i++) {
            const devsrv_request_t *r = &srv->reqlog.v[i];
            len += (size_t)snprintf(
                out + len, cap - len,
                "%s{\"no\":%" PRIu64 ",\"kind\":\"%s\",\"arrival_ms\":%" PRId64
                ",\"arrival_unix_ms\":%" PRId64 ",\"status\":%d,\"events\":%" PRIu32 "}",
                i ? "," : "", r->request_no, r->kind == DEVSRV_REQUEST_MINT ? "mint" : "batch",
                r->arrival_ms, r->arrival_unix_ms, r->status, r->events);
        }
        snprintf(out + len, cap - len, "]}");
    }
    pthread_mutex_unlock(&srv->mu);
    return out;
}
