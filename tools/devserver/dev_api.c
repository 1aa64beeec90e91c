/* The /_dev routes (counters, scripting, revocation, the request log) and the
 * answers for unknown paths and methods. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "handlers.h"
#include "internal.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

/* GET /_dev/stats: more than the longest counters JSON (13 numbers of 20 digits). */
#define STATS_JSON_MAX 1024

void devsrv__dev_api_handle(devsrv_t *srv, devsrv__route_t route, const devsrv__request_t *rq,
                            devsrv__answer_t *a) {
    char buf[STATS_JSON_MAX];
    switch (route) {
    case DEVSRV__R_STATS: {
        devsrv_stats_t st;
        devsrv_get_stats(srv, &st);
        devsrv_stats_json(&st, buf, sizeof buf);
        break;
    }
    case DEVSRV__R_SCRIPT:
        if (rq->too_large || rq->len == 0 || strlen(rq->body) != rq->len ||
            devsrv_script_text(srv, rq->body) != 0) {
            devsrv__answer_detail(a, 400, "Malformed fault script.");
            return;
        }
        snprintf(buf, sizeof buf, "{\"pending\":%zu}", devsrv_script_pending(srv));
        break;
    case DEVSRV__R_REVOKE:
        devsrv_revoke_tokens(srv);
        devsrv__log(srv, "revoked every token");
        snprintf(buf, sizeof buf, "{\"revoked\":true}");
        break;
    case DEVSRV__R_REQUESTS:
        a->status = 200;
        if (!(a->body = devsrv__reqlog_json(srv))) devsrv__answer_detail(a, 500, "Out of memory.");
        return;
    case DEVSRV__R_BAD_METHOD: devsrv__answer_detail(a, 405, "Method not allowed."); return;
    default: devsrv__answer_detail(a, 404, "Not found."); return;
    }
    a->status = 200;
    if (!(a->body = devsrv__dupstr(buf))) devsrv__answer_detail(a, 500, "Out of memory.");
}
