/* The counters and the last batch headers: snapshots and their JSON. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void devsrv__stats_count_answer(devsrv_t *srv, unsigned status) {
    if (status != 401 && status != 403 && status != 429) return;
    pthread_mutex_lock(&srv->mu);
    if (status == 429)
        srv->stats.answers_429++;
    else
        srv->stats.auth_failures++;
    pthread_mutex_unlock(&srv->mu);
}

void devsrv_get_stats(devsrv_t *srv, devsrv_stats_t *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!srv) return;
    pthread_mutex_lock(&srv->mu);
    *out = srv->stats;
    pthread_mutex_unlock(&srv->mu);
}

size_t devsrv_stats_json(const devsrv_stats_t *s, char *buf, size_t buflen) {
    static const devsrv_stats_t zero;
    if (!s) s = &zero;
    int n = snprintf(
        buf, buflen,
        "{\"batch_requests\":%" PRIu64 ",\"batch_accepted\":%" PRIu64
        ",\"events_received\":%" PRIu64 ",\"events_skipped\":%" PRIu64
        ",\"max_events_per_request\":%" PRIu64 ",\"bytes_received\":%" PRIu64
        ",\"auth_failures\":%" PRIu64 ",\"mints\":%" PRIu64 ",\"mint_requests\":%" PRIu64
        ",\"faults_applied\":%" PRIu64 ",\"answers_429\":%" PRIu64 ",\"plan_refused\":%" PRIu64
        ",\"burst_refused\":%" PRIu64 "}",
        s->batch_requests, s->batch_accepted, s->events_received, s->events_skipped,
        s->max_events_per_request, s->bytes_received, s->auth_failures, s->mints, s->mint_requests,
        s->faults_applied, s->answers_429, s->plan_refused, s->burst_refused);
    return n < 0 ? 0 : (size_t)n;
}

void devsrv_get_last_headers(devsrv_t *srv, devsrv_last_headers_t *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!srv) return;
    pthread_mutex_lock(&srv->mu);
    *out = srv->headers;
    pthread_mutex_unlock(&srv->mu);
}
