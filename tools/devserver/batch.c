/* POST /api/ingestion/track/batch/: the rate limits, scripted faults, the
 * answer delay, then credentials, validation and recording. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "batch_scan.h"
#include "handlers.h"
#include "internal.h"
#include "util.h"

#include "cJSON.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the gate decided when the request arrived. */
struct arrival {
    uint64_t request_no;
    int64_t arrival_ms;
    size_t log_index;
    devsrv__verdict_t verdict;
    uint32_t retry_after_s;
    bool have_fault;
    devsrv__fault_t fault; /* owned when have_fault */
    uint32_t delay_ms;
};

/* Counts the request, logs it, asks the rate limits and takes the next fault. */
static void arrive(devsrv_t *srv, const devsrv__request_t *rq, struct arrival *ar) {
    memset(ar, 0, sizeof *ar);
    pthread_mutex_lock(&srv->mu);
    ar->request_no = ++srv->stats.batch_requests;
    srv->stats.bytes_received += rq->total;
    devsrv__copy_trunc(srv->headers.authorization, sizeof srv->headers.authorization,
                       rq->authorization);
    devsrv__copy_trunc(srv->headers.user_agent, sizeof srv->headers.user_agent, rq->user_agent);
    devsrv__copy_trunc(srv->headers.content_type, sizeof srv->headers.content_type,
                       rq->content_type);
    /* Stamped under the lock, so the log is in time order and the plan sees
     * exactly the times the log shows. */
    ar->arrival_ms = devsrv__clock_ms(CLOCK_MONOTONIC);
    ar->log_index = devsrv__reqlog_add_locked(&srv->reqlog, DEVSRV_REQUEST_BATCH, ar->request_no,
                                              ar->arrival_ms, devsrv__clock_ms(CLOCK_REALTIME));
    if (ar->log_index != DEVSRV__REQLOG_NONE) srv->reqlog.v[ar->log_index].body_bytes = rq->total;
    ar->verdict = devsrv__plan_admit(&srv->plan, false, ar->arrival_ms, &ar->retry_after_s);
    if (ar->verdict == DEVSRV__REFUSED_PLAN) srv->stats.plan_refused++;
    if (ar->verdict == DEVSRV__REFUSED_BURST) srv->stats.burst_refused++;
    if (ar->verdict != DEVSRV__ADMITTED) {
        devsrv__reqlog_answer_locked(&srv->reqlog, ar->log_index, 429, 0);
    } else if (devsrv__faults_take_locked(&srv->faults, &ar->fault)) {
        ar->have_fault = true;
        srv->stats.faults_applied++;
    }
    ar->delay_ms = srv->answer_delay_ms;
    pthread_mutex_unlock(&srv->mu);
}

static void refuse(devsrv_t *srv, const struct arrival *ar, devsrv__answer_t *a) {
    bool plan = ar->verdict == DEVSRV__REFUSED_PLAN;
    char ra[16];
    snprintf(ra, sizeof ra, "%" PRIu32, ar->retry_after_s);
    devsrv__log(srv, "batch #%" PRIu64 ": 429 %s (Retry-After %s)", ar->request_no,
                plan ? "plan limit" : "burst limiter", ra);
    devsrv__answer_detail(a, 429,
                          plan ? "Request was throttled: the plan's API calls per window are "
                                 "used up."
                               : "Request was throttled: too many requests at once.");
    if (!devsrv__answer_retry_after(a, ra)) devsrv__answer_detail(a, 500, "Out of memory.");
}

/* Validates and records one batch body. Sets the answer; *queued gets the
 * events accepted (0 unless 2xx). */
static void process(devsrv_t *srv, const devsrv__request_t *rq, const struct arrival *ar,
                    devsrv__answer_t *a, uint32_t *queued_out) {
    *queued_out = 0;
    if (rq->too_large) {
        devsrv__answer_detail(a, 413, "Request body too large.");
        return;
    }
    char *uid = NULL;
    const char *why = devsrv__auth_batch(srv, rq->authorization, &uid);
    if (why) {
        devsrv__answer_detail(a, 401, why);
        return;
    }

    /* One pass validates the body (an embedded NUL is not JSON); trees are
     * built below only for the accepted events that are kept or recorded. */
    devsrv__batch_scan_t *bs = malloc(sizeof *bs);
    devsrv__accepted_t acc = {0};
    devsrv__answer_detail(a, 500, "Out of memory.");
    if (!bs) goto out;
    bs->skip_type = srv->skip_type;
    if (strlen(rq->body) != rq->len || !devsrv__batch_scan(rq->body, rq->len, bs)) {
        devsrv__answer_detail(a, 400, "Body must be a JSON object.");
        goto out;
    }
    if (!bs->events_array) {
        devsrv__answer_detail(a, 400, "Body must hold an events array.");
        goto out;
    }
    int count = bs->count;
    if (count > SEGOPS__MAX_EVENTS_PER_REQUEST) {
        devsrv__answer_detail(a, 400, "At most 500 events per request.");
        goto out;
    }
    if (!devsrv__accepted_init(&acc, &srv->store, (size_t)count)) goto out;
    uint64_t skipped = 0;
    for (int i = 0; i < count; i++) {
        const devsrv__event_scan_t *es = &bs->ev[i];
        if (!es->valid || es->skip) {
            skipped++;
            continue;
        }
        cJSON *ev = NULL;
        if (srv->store.record || srv->store.keep) {
            /* The event's own text parses to the same tree as inside the body. */
            ev = cJSON_ParseWithLength(es->span.start, (size_t)(es->span.end - es->span.start));
            if (!ev) goto out;
            /* The real service attributes token-carried events to the token's uid. */
            cJSON *s = uid ? cJSON_CreateString(uid) : NULL;
            if (uid && (!s || !cJSON_ReplaceItemInObjectCaseSensitive(ev, "user_id", s))) {
                cJSON_Delete(s);
                cJSON_Delete(ev);
                goto out;
            }
        }
        bool ok =
            devsrv__accepted_add(&acc, &srv->store, ev, &es->span, ar->request_no, ar->arrival_ms);
        cJSON_Delete(ev);
        if (!ok) goto out;
    }

    uint64_t queued = (uint64_t)count - skipped;
    pthread_mutex_lock(&srv->mu);
    if (!devsrv__store_commit_locked(&srv->store, &acc)) {
        pthread_mutex_unlock(&srv->mu);
        goto out;
    }
    srv->stats.events_received += queued;
    srv->stats.events_skipped += skipped;
    srv->stats.batch_accepted++;
    if ((uint64_t)count > srv->stats.max_events_per_request)
        srv->stats.max_events_per_request = (uint64_t)count;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->mu);

    char buf[96];
    snprintf(buf, sizeof buf, "{\"queued\":%" PRIu64 ",\"skipped\":%" PRIu64 "}", queued, skipped);
    if ((a->body = devsrv__dupstr(buf))) {
        a->status = 200;
        *queued_out = (uint32_t)queued;
    }
out:
    devsrv__accepted_free(&acc);
    free(bs);
    free(uid);
}

/* Applies a scripted fault that answers by itself. True when it did (a set). */
static bool apply_fault(devsrv_t *srv, const devsrv__request_t *rq, struct arrival *ar,
                        devsrv__answer_t *a) {
    devsrv__fault_t *f = &ar->fault;
    a->action = DEVSRV__CLOSE; /* unless the fault answers */
    switch (f->kind) {
    case DEVSRV_STATUS:
        if (devsrv__wait_running(srv, rq->epoch, ar->delay_ms, -1)) {
            devsrv__log(srv, "batch #%" PRIu64 ": scripted %d", ar->request_no, f->status);
            a->action = DEVSRV__SEND;
            a->status = (unsigned)f->status;
            if (f->body) {
                a->body = f->body; /* ownership moves to the answer */
                f->body = NULL;
            } else {
                char dflt[64];
                snprintf(dflt, sizeof dflt, "{\"detail\":\"Scripted status %d.\"}", f->status);
                a->body = devsrv__dupstr(dflt);
            }
            if (!a->body || !devsrv__answer_retry_after(a, f->retry_after))
                devsrv__answer_detail(a, 500, "Out of memory.");
            a->location = f->location; /* ownership moves to the answer */
            f->location = NULL;
        }
        return true;
    case DEVSRV_NO_ANSWER:
        devsrv__log(srv, "batch #%" PRIu64 ": scripted no answer", ar->request_no);
        devsrv__wait_running(srv, rq->epoch, -1, rq->fd);
        return true;
    case DEVSRV_CLOSE_BEFORE:
        devsrv__log(srv, "batch #%" PRIu64 ": scripted close", ar->request_no);
        return true;
    case DEVSRV_DELAY:
        devsrv__log(srv, "batch #%" PRIu64 ": scripted delay %" PRIu32 " ms", ar->request_no,
                    f->delay_ms);
        if (!devsrv__wait_running(srv, rq->epoch, f->delay_ms, -1)) return true;
        break;
    case DEVSRV_CLOSE_MID: break;
    }
    a->action = DEVSRV__SEND;
    return false;
}

void devsrv__batch_handle(devsrv_t *srv, const devsrv__request_t *rq, devsrv__answer_t *a) {
    struct arrival ar;
    uint32_t queued = 0;
    arrive(srv, rq, &ar);
    if (ar.verdict != DEVSRV__ADMITTED) {
        refuse(srv, &ar, a);
        return;
    }

    if (ar.have_fault && apply_fault(srv, rq, &ar, a)) goto out;
    if (!devsrv__wait_running(srv, rq->epoch, ar.delay_ms, -1)) {
        a->action = DEVSRV__CLOSE;
        goto out;
    }
    process(srv, rq, &ar, a, &queued);
    bool cut = ar.have_fault && ar.fault.kind == DEVSRV_CLOSE_MID;
    if (cut) a->action = DEVSRV__SEND_CUT;
    devsrv__log(srv, "batch #%" PRIu64 ": %u %s%s", ar.request_no, a->status,
                a->body ? a->body : a->detail, cut ? " (cut mid-response)" : "");
out:
    pthread_mutex_lock(&srv->mu);
    devsrv__reqlog_answer_locked(&srv->reqlog, ar.log_index,
                                 a->action == DEVSRV__CLOSE ? 0 : (int)a->status, queued);
    pthread_mutex_unlock(&srv->mu);
    if (ar.have_fault) devsrv__fault_clear(&ar.fault);
}
