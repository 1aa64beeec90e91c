/* See store.h, and devsrv_event_count / devsrv_event_at / devsrv_wait_events. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "store.h"

#include "internal.h"
#include "util.h"

#include "cJSON.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *devsrv__store_open(devsrv__store_t *st, const devsrv_config_t *cfg) {
    st->keep = cfg->keep_events;
    if (!cfg->record_path) return NULL;
    if (strcmp(cfg->record_path, "-") == 0) {
        st->record = stdout;
        return NULL;
    }
    if (!(st->record = fopen(cfg->record_path, "a"))) return "cannot open record_path";
    st->record_owned = true;
    return NULL;
}

static void event_clear(devsrv_event_t *ev) {
    free(ev->user_id);
    free(ev->event_type);
    free(ev->occurred_at);
    free(ev->payload_json);
    free(ev->anonymous_id);
    free(ev->raw_json);
    memset(ev, 0, sizeof *ev);
}

void devsrv__store_close(devsrv__store_t *st) {
    if (st->record && st->record_owned)
        fclose(st->record);
    else if (st->record)
        fflush(st->record);
    for (size_t i = 0; i < st->n; i++) event_clear(&st->events[i]);
    free(st->events);
    memset(st, 0, sizeof *st);
}

bool devsrv__accepted_init(devsrv__accepted_t *acc, const devsrv__store_t *st, size_t count) {
    memset(acc, 0, sizeof *acc);
    return !st->keep || count == 0 || (acc->events = calloc(count, sizeof *acc->events));
}

static bool ndjson_append(devsrv__accepted_t *acc, const char *line) {
    size_t n = strlen(line);
    if (acc->ndjson_len + n + 2 > acc->ndjson_cap) {
        size_t cap = acc->ndjson_cap ? acc->ndjson_cap : 1024;
        while (cap < acc->ndjson_len + n + 2) cap *= 2;
        char *p = realloc(acc->ndjson, cap);
        if (!p) return false;
        acc->ndjson = p;
        acc->ndjson_cap = cap;
    }
    memcpy(acc->ndjson + acc->ndjson_len, line, n);
    acc->ndjson_len += n;
    acc->ndjson[acc->ndjson_len++] = '\n';
    acc->ndjson[acc->ndjson_len] = '\0';
    return true;
}

/* The kept copy of one accepted event (after the user_id rewrite). */
static bool keep_event(devsrv_event_t *out, const cJSON *ev, const devsrv__span_t *raw,
                       uint64_t request_no, int64_t arrival_ms) {
    const cJSON *anon = cJSON_GetObjectItemCaseSensitive(ev, "anonymous_id");
    memset(out, 0, sizeof *out);
    out->user_id = devsrv__dupstr(cJSON_GetObjectItemCaseSensitive(ev, "user_id")->valuestring);
    out->event_type =
        devsrv__dupstr(cJSON_GetObjectItemCaseSensitive(ev, "event_type")->valuestring);
    out->occurred_at =
        devsrv__dupstr(cJSON_GetObjectItemCaseSensitive(ev, "occurred_at")->valuestring);
    out->payload_json = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(ev, "payload"));
    out->anonymous_id = anon ? devsrv__dupstr(anon->valuestring) : NULL;
    out->raw_json = raw ? devsrv__dupmem(raw->start, (size_t)(raw->end - raw->start))
                        : cJSON_PrintUnformatted(ev);
    out->request_no = request_no;
    out->arrival_ms = arrival_ms;
    if (!out->user_id || !out->event_type || !out->occurred_at || !out->payload_json ||
        (anon && !out->anonymous_id) || !out->raw_json) {
        event_clear(out);
        return false;
    }
    return true;
}

bool devsrv__accepted_add(devsrv__accepted_t *acc, const devsrv__store_t *st, const cJSON *ev,
                          const devsrv__span_t *raw, uint64_t request_no, int64_t arrival_ms) {
    if (st->record) {
        char *line = cJSON_PrintUnformatted(ev);
        bool ok = line && ndjson_append(acc, line);
        free(line);
        if (!ok) return false;
    }
    if (st->keep && !keep_event(&acc->events[acc->n], ev, raw, request_no, arrival_ms))
        return false;
    acc->n++;
    return true;
}

bool devsrv__store_commit_locked(devsrv__store_t *st, devsrv__accepted_t *acc) {
    if (st->keep && acc->n > 0) {
        if (st->n + acc->n > st->cap) {
            size_t cap = st->cap ? st->cap : 64;
            while (cap < st->n + acc->n) cap *= 2;
            devsrv_event_t *p = realloc(st->events, cap * sizeof *p);
            if (!p) return false;
            st->events = p;
            st->cap = cap;
        }
        memcpy(st->events + st->n, acc->events, acc->n * sizeof *acc->events);
        st->n += acc->n;
        acc->n = 0; /* ownership moved */
    }
    if (st->record && acc->ndjson_len > 0) {
        fwrite(acc->ndjson, 1, acc->ndjson_len, st->record);
        fflush(st->record);
    }
    return true;
}

void devsrv__accepted_free(devsrv__accepted_t *acc) {
    for (size_t k = 0; acc->events && k < acc->n; k++) event_clear(&acc->events[k]);
    free(acc->events);
    free(acc->ndjson);
    memset(acc, 0, sizeof *acc);
}

size_t devsrv_event_count(devsrv_t *srv) {
    if (!srv) return 0;
    pthread_mutex_lock(&srv->mu);
    size_t n = srv->store.n;
    pthread_mutex_unlock(&srv->mu);
    return n;
}

int devsrv_event_at(devsrv_t *srv, size_t index, devsrv_event_t *out) {
    if (!out) return -1;
    memset(out, 0, sizeof *out);
    if (!srv) return -1;
    int rc = -1;
    pthread_mutex_lock(&srv->mu);
    if (index < srv->store.n) {
        const devsrv_event_t *ev = &srv->store.events[index];
        out->user_id = devsrv__dupstr(ev->user_id);
        out->event_type = devsrv__dupstr(ev->event_type);
        out->occurred_at = devsrv__dupstr(ev->occurred_at);
        out->payload_json = devsrv__dupstr(ev->payload_json);
        out->anonymous_id = devsrv__dupstr(ev->anonymous_id);
        out->raw_json = devsrv__dupstr(ev->raw_json);
        out->request_no = ev->request_no;
        out->arrival_ms = ev->arrival_ms;
        rc = (out->user_id && out->event_type && out->occurred_at && out->payload_json &&
              (!ev->anonymous_id || out->anonymous_id) && out->raw_json)
                 ? 0
                 : -1;
    }
    pthread_mutex_unlock(&srv->mu);
    if (rc != 0) event_clear(out);
    return rc;
}

void devsrv_event_free(devsrv_event_t *ev) {
    if (ev) event_clear(ev);
}

uint64_t devsrv_wait_events(devsrv_t *srv, uint64_t n, int timeout_ms) {
    if (!srv) return 0;
    struct timespec deadline = devsrv__deadline_in(timeout_ms < 0 ? 0 : timeout_ms);
    pthread_mutex_lock(&srv->mu);
    while (srv->stats.events_received < n) {
        if (pthread_cond_timedwait(&srv->cond, &srv->mu, &deadline) == ETIMEDOUT) break;
    }
    uint64_t got = srv->stats.events_received;
    pthread_mutex_unlock(&srv->mu);
    return got;
}
