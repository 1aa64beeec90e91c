/* Scripted faults: devsrv_script, devsrv_script_text and the queue they fill
 * (see script.h and devserver.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "script.h"

#include "internal.h"
#include "json_span.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void devsrv__fault_clear(devsrv__fault_t *f) {
    free(f->retry_after);
    free(f->body);
    free(f->location);
    memset(f, 0, sizeof *f);
}

bool devsrv__faults_take_locked(devsrv__faults_t *q, devsrv__fault_t *out) {
    if (q->head >= q->len) return false;
    *out = q->v[q->head++];
    return true;
}

size_t devsrv__faults_pending_locked(const devsrv__faults_t *q) { return q->len - q->head; }

void devsrv__faults_free(devsrv__faults_t *q) {
    for (size_t i = q->head; i < q->len; i++) devsrv__fault_clear(&q->v[i]);
    free(q->v);
    memset(q, 0, sizeof *q);
}

/* Appends already-owned faults; takes them all or none. Lock held. */
static bool push_locked(devsrv__faults_t *q, devsrv__fault_t *items, size_t n) {
    if (q->head > 0) {
        memmove(q->v, q->v + q->head, (q->len - q->head) * sizeof *q->v);
        q->len -= q->head;
        q->head = 0;
    }
    if (q->len + n > q->cap) {
        size_t cap = q->cap ? q->cap : 8;
        while (cap < q->len + n) cap *= 2;
        devsrv__fault_t *v = realloc(q->v, cap * sizeof *v);
        if (!v) return false;
        q->v = v;
        q->cap = cap;
    }
    memcpy(q->v + q->len, items, n * sizeof *items);
    q->len += n;
    return true;
}

/* Exactly three digits at *pp, advancing past them. */
static bool read_status(const char **pp, int *out) {
    const char *p = *pp;
    if (!(p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9'))
        return false;
    *out = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    *pp = p + 3;
    return true;
}

/* Reads a status item's ":ra=..." and ":body=..." options at *pp. */
static bool parse_status_options(const char **pp, devsrv__fault_t *f) {
    const char *p = *pp;
    while (*p == ':') {
        p++;
        const char *v, *ve;
        if (strncmp(p, "ra=", 3) == 0 && !f->retry_after) {
            v = p + 3;
            if (*v == '"') { /* HTTP-dates contain commas and colons */
                ve = strchr(v + 1, '"');
                if (!ve) return false;
                f->retry_after = devsrv__dupmem(v + 1, (size_t)(ve - v - 1));
                p = ve + 1;
            } else {
                ve = v + strcspn(v, ",:");
                while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
                if (ve == v) return false;
                f->retry_after = devsrv__dupmem(v, (size_t)(ve - v));
                p = v + strcspn(v, ",:");
            }
            if (!f->retry_after) return false;
        } else if (strncmp(p, "loc=\"", 5) == 0 && !f->location) {
            v = p + 5; /* quoted: a URL holds colons */
            ve = strchr(v, '"');
            if (!ve || ve == v || !(f->location = devsrv__dupmem(v, (size_t)(ve - v))))
                return false;
            p = ve + 1;
        } else if (strncmp(p, "body=", 5) == 0 && !f->body) {
            v = p + 5;
            if (*v == '{' || *v == '[') /* JSON bodies may hold commas */
                ve = devsrv__json_skip_value(v, v + strlen(v));
            else
                ve = v + strcspn(v, ",");
            if (!ve || ve == v || !(f->body = devsrv__dupmem(v, (size_t)(ve - v)))) return false;
            p = ve;
        } else {
            return false;
        }
    }
    *pp = p;
    return true;
}

/* Parses one script item at *pp (see devserver.h). Returns false on a syntax error. */
static bool parse_item(const char **pp, devsrv__fault_t *f) {
    const char *p = *pp;
    memset(f, 0, sizeof *f);
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    size_t word = strcspn(p, ", \t\r\n");
    if (word == 8 && strncmp(p, "noanswer", 8) == 0) {
        f->kind = DEVSRV_NO_ANSWER;
        p += 8;
    } else if (word == 8 && strncmp(p, "closemid", 8) == 0) {
        f->kind = DEVSRV_CLOSE_MID;
        p += 8;
    } else if (word == 5 && strncmp(p, "close", 5) == 0) {
        f->kind = DEVSRV_CLOSE_BEFORE;
        p += 5;
    } else if (strncmp(p, "delay=", 6) == 0) {
        char *e;
        errno = 0;
        unsigned long ms = strtoul(p + 6, &e, 10);
        if (e == p + 6 || errno || ms > UINT32_MAX || p[6] == '-' || p[6] == '+') return false;
        f->kind = DEVSRV_DELAY;
        f->delay_ms = (uint32_t)ms;
        p = e;
    } else {
        int status;
        if (!read_status(&p, &status) || status < 100 || status > 599 || (*p >= '0' && *p <= '9'))
            return false;
        f->kind = DEVSRV_STATUS;
        f->status = status;
        if (!parse_status_options(&p, f)) return false;
    }
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    if (*p != ',' && *p != '\0') return false;
    *pp = p;
    return true;
}

void devsrv_script(devsrv_t *srv, const devsrv_fault_t *faults, size_t count) {
    if (!srv || !faults || count == 0) return;
    devsrv__fault_t *items = calloc(count, sizeof *items);
    if (!items) return;
    size_t i = 0;
    for (; i < count; i++) {
        items[i].kind = faults[i].kind;
        items[i].status = faults[i].status;
        items[i].delay_ms = faults[i].delay_ms;
        if ((faults[i].retry_after &&
             !(items[i].retry_after = devsrv__dupstr(faults[i].retry_after))) ||
            (faults[i].body && !(items[i].body = devsrv__dupstr(faults[i].body))) ||
            (faults[i].location && !(items[i].location = devsrv__dupstr(faults[i].location))))
            break;
    }
    pthread_mutex_lock(&srv->mu);
    bool ok = i == count && push_locked(&srv->faults, items, count);
    pthread_mutex_unlock(&srv->mu);
    if (!ok) {
        for (size_t k = 0; k < count; k++) devsrv__fault_clear(&items[k]);
        fprintf(stderr, "devsrv: out of memory scripting faults\n");
    }
    free(items);
}

int devsrv_script_text(devsrv_t *srv, const char *script) {
    if (!srv || !script) return -1;
    size_t cap = 1;
    for (const char *p = script; *p; p++)
        cap += *p == ','; /* an upper bound: commas inside bodies only over-count */
    devsrv__fault_t *items = calloc(cap, sizeof *items);
    if (!items) return -1;
    size_t n = 0;
    const char *p = script;
    bool ok = true;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    if (*p != '\0') {
        for (;;) {
            if (n >= cap || !parse_item(&p, &items[n])) {
                if (n < cap) devsrv__fault_clear(&items[n]);
                ok = false;
                break;
            }
            n++;
            if (*p == '\0') break;
            p++; /* the comma */
        }
    }
    if (ok && n > 0) {
        pthread_mutex_lock(&srv->mu);
        ok = push_locked(&srv->faults, items, n);
        pthread_mutex_unlock(&srv->mu);
    }
    if (!ok)
        for (size_t k = 0; k < n; k++) devsrv__fault_clear(&items[k]);
    free(items);
    return ok ? 0 : -1;
}

size_t devsrv_script_pending(devsrv_t *srv) {
    if (!srv) return 0;
    pthread_mutex_lock(&srv->mu);
    size_t n = devsrv__faults_pending_locked(&srv->faults);
    pthread_mutex_unlock(&srv->mu);
    return n;
}
