/* POST /api/auth/session/: the pk_ handshake. Checks the key, the identity and
 * its signature, then mints a token; scripted mint failures and the expires_at
 * styles let tests probe the client's handshake. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "handlers.h"
#include "internal.h"
#include "json_span.h"
#include "timefmt.h" /* the library's RFC 3339 writer */
#include "util.h"

#include <segops/segops.h>

#include "cJSON.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_TOLERANCE_S 300

/* expires_at as the configured style writes it. */
static void format_expires(int64_t ms, devsrv_expires_style_t style, char out[64]) {
    char t[SEGOPS__RFC3339_MS_LEN + 1]; /* 2026-11-26T06:57:09.123Z */
    switch (style) {
    case DEVSRV_EXPIRES_SECONDS_Z:
        segops__rfc3339_format_ms(ms, t);
        snprintf(out, 64, "%.19sZ", t);
        break;
    case DEVSRV_EXPIRES_MICROS_Z:
        segops__rfc3339_format_ms(ms, t);
        snprintf(out, 64, "%.23s456Z", t);
        break;
    case DEVSRV_EXPIRES_OFFSET: /* the same instant, two hours east */
        segops__rfc3339_format_ms(ms + 2 * 3600 * 1000, t);
        snprintf(out, 64, "%.23s+02:00", t);
        break;
    case DEVSRV_EXPIRES_GARBAGE: snprintf(out, 64, "in 15 minutes"); break;
    case DEVSRV_EXPIRES_PAST: /* the token still works */
        segops__rfc3339_format_ms(ms - 3600 * 1000 - 900 * 1000, t);
        snprintf(out, 64, "%s", t);
        break;
    case DEVSRV_EXPIRES_MS_Z:
    default:
        segops__rfc3339_format_ms(ms, t);
        snprintf(out, 64, "%s", t);
        break;
    }
}

static bool nonempty_string(const cJSON *item) {
    return cJSON_IsString(item) && item->valuestring[0] != '\0';
}

static bool lower_hex64(const char *s) {
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) return false;
    return n == 64;
}

/* The identity a mint body asks for, checked against the key. NULL when
 * accepted (*uid malloc'd), else the detail of a 4xx (*status). */
static const char *identify(const devsrv__request_t *rq, const devsrv__pk_key_t *pk, char **uid,
                            unsigned *status) {
    cJSON *root = NULL;
    *uid = NULL;
    *status = 400;
    if (rq->len == 0) /* nothing to identify: an anonymous mint */
        root = cJSON_CreateObject();
    else if (strlen(rq->body) == rq->len)
        root = cJSON_ParseWithLengthOpts(rq->body, rq->len + 1, NULL, 1);
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(root, "user_id");
    const cJSON *anon = cJSON_GetObjectItemCaseSensitive(root, "anonymous_id");
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(root, "user_id_sig");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(root, "user_id_ts");
    int64_t ts_val = 0;
    const char *bad = NULL;
    if (!cJSON_IsObject(root))
        bad = "Body must be a JSON object.";
    else if (user && !nonempty_string(user))
        bad = "user_id must be a non-empty string.";
    else if (anon && !nonempty_string(anon))
        bad = "anonymous_id must be a non-empty string.";
    else if (sig && !(cJSON_IsString(sig) && lower_hex64(sig->valuestring)))
        bad = "user_id_sig must be 64 lowercase hex digits.";
    else if (ts && !(cJSON_IsNumber(ts) &&
                     devsrv__json_raw_integer(rq->body, rq->len, "user_id_ts", &ts_val)))
        bad = "user_id_ts must be an integer.";
    else if (sig && (!ts || !user))
        bad = "user_id_sig needs user_id and user_id_ts.";

    bool signed_ok = false;
    if (!bad && sig && pk->secret) {
        if (segops_verify_user_id(pk->secret, user->valuestring, sig->valuestring, ts_val, 0,
                                  SIG_TOLERANCE_S) != SEGOPS_OK) {
            bad = "Invalid or stale user_id signature.";
            *status = 401;
        }
        signed_ok = !bad;
    }
    if (!bad && pk->require_signed && !signed_ok) {
        bad = "This key requires a signed user_id.";
        *status = 401;
    }
    if (!bad) {
        char uuid[37];
        if (user) {
            *uid = devsrv__dupstr(user->valuestring);
        } else if (anon || segops_new_anonymous_id(uuid) == SEGOPS_OK) {
            const char *a = anon ? anon->valuestring : uuid;
            size_t n = strlen(a) + 6;
            if ((*uid = malloc(n))) snprintf(*uid, n, "anon:%s", a);
        }
        if (!*uid) {
            bad = "Could not mint a token.";
            *status = 500;
        }
    }
    cJSON_Delete(root);
    return bad;
}

/* Mints a token for uid (taken) and sets the 200 answer, or a 500. */
static void mint(devsrv_t *srv, char *uid, devsrv_expires_style_t style, devsrv__answer_t *a) {
    char token[65];
    if (!devsrv__token_new(token)) {
        free(uid);
        devsrv__answer_detail(a, 500, "Could not mint a token.");
        return;
    }
    int64_t now = devsrv__clock_ms(CLOCK_REALTIME);
    int64_t expires = now + (int64_t)srv->token_ttl_s * 1000;
    char expires_at[64];
    format_expires(expires, style, expires_at);

    cJSON *out = cJSON_CreateObject();
    char *answer = NULL;
    if (out && cJSON_AddStringToObject(out, "token", token) &&
        cJSON_AddStringToObject(out, "expires_at", expires_at) &&
        cJSON_AddStringToObject(out, "uid", uid))
        answer = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);

    pthread_mutex_lock(&srv->mu);
    bool stored = answer && devsrv__tokens_store_locked(&srv->tokens, token, uid, expires, now);
    if (stored) srv->stats.mints++;
    pthread_mutex_unlock(&srv->mu);
    if (!stored) {
        free(uid);
        free(answer);
        devsrv__answer_detail(a, 500, "Could not mint a token.");
        return;
    }
    devsrv__log(srv, "mint: 200 (expires %s)", expires_at);
    a->status = 200;
    a->body = answer;
}

/* Everything after the rate limits. */
static void handle(devsrv_t *srv, const devsrv__request_t *rq, devsrv_expires_style_t style,
                   devsrv__answer_t *a) {
    const devsrv__pk_key_t *pk = devsrv__auth_find_pk(&srv->keys, rq->authorization);
    if (!pk) {
        devsrv__log(srv, "mint: 401 unknown public key");
        devsrv__answer_detail(a, 401, "Invalid public key.");
        return;
    }
    int fail_status = 0;
    char retry_after[sizeof srv->mint_fail_retry_after] = "";
    pthread_mutex_lock(&srv->mu);
    if (srv->mint_fail_count > 0) {
        srv->mint_fail_count--;
        fail_status = srv->mint_fail_status;
        memcpy(retry_after, srv->mint_fail_retry_after, sizeof retry_after);
    }
    pthread_mutex_unlock(&srv->mu);
    if (fail_status) {
        devsrv__log(srv, "mint: scripted %d", fail_status);
        a->status = (unsigned)fail_status;
        a->body = devsrv__dupstr("{\"detail\":\"Scripted mint failure.\"}");
        if (!a->body || !devsrv__answer_retry_after(a, retry_after))
            devsrv__answer_detail(a, 500, "Out of memory.");
        return;
    }
    if (rq->too_large) {
        devsrv__answer_detail(a, 413, "Request body too large.");
        return;
    }
    char *uid;
    unsigned status;
    const char *bad = identify(rq, pk, &uid, &status);
    if (bad) {
        devsrv__log(srv, "mint: %u %s", status, bad);
        devsrv__answer_detail(a, status, bad);
        return;
    }
    mint(srv, uid, style, a);
}

void devsrv__session_handle(devsrv_t *srv, const devsrv__request_t *rq, devsrv__answer_t *a) {
    uint32_t retry_after_s = 0;
    pthread_mutex_lock(&srv->mu);
    uint64_t no = ++srv->stats.mint_requests;
    free(srv->last_mint_body);
    srv->last_mint_body = rq->too_large ? NULL : devsrv__dupmem(rq->body, rq->len);
    devsrv_expires_style_t style = srv->expires_style;
    int64_t arrival_ms = devsrv__clock_ms(CLOCK_MONOTONIC);
    size_t log_index = devsrv__reqlog_add_locked(&srv->reqlog, DEVSRV_REQUEST_MINT, no, arrival_ms,
                                                 devsrv__clock_ms(CLOCK_REALTIME));
    devsrv__verdict_t verdict = devsrv__plan_admit(&srv->plan, true, arrival_ms, &retry_after_s);
    if (verdict == DEVSRV__REFUSED_PLAN) srv->stats.plan_refused++;
    pthread_mutex_unlock(&srv->mu);

    if (verdict == DEVSRV__ADMITTED) {
        handle(srv, rq, style, a);
    } else {
        char ra[16];
        snprintf(ra, sizeof ra, "%" PRIu32, retry_after_s);
        devsrv__log(srv, "mint: 429 plan limit (Retry-After %s)", ra);
        devsrv__answer_detail(
            a, 429, "Request was throttled: the plan's API calls per window are used up.");
        if (!devsrv__answer_retry_after(a, ra)) devsrv__answer_detail(a, 500, "Out of memory.");
    }
    pthread_mutex_lock(&srv->mu);
    devsrv__reqlog_answer_locked(&srv->reqlog, log_index, (int)a->status, 0);
    pthread_mutex_unlock(&srv->mu);
}

void devsrv_set_expires_style(devsrv_t *srv, devsrv_expires_style_t style) {
    if (!srv) return;
    pthread_mutex_lock(&srv->mu);
    srv->expires_style = style;
    pthread_mutex_unlock(&srv->mu);
}

void devsrv_fail_mints_retry_after(devsrv_t *srv, int status, uint32_t count,
                                   const char *retry_after) {
    if (!srv || status < 100 || status > 599) return;
    pthread_mutex_lock(&srv->mu);
    srv->mint_fail_status = status;
    srv->mint_fail_count = count;
    snprintf(srv->mint_fail_retry_after, sizeof srv->mint_fail_retry_after, "%s",
             retry_after ? retry_after : "");
    pthread_mutex_unlock(&srv->mu);
}

void devsrv_fail_mints(devsrv_t *srv, int status, uint32_t count) {
    devsrv_fail_mints_retry_after(srv, status, count, NULL);
}

size_t devsrv_last_mint_body(devsrv_t *srv, char *buf, size_t buflen) {
    if (buf && buflen > 0) buf[0] = '\0';
    if (!srv) return 0;
    pthread_mutex_lock(&srv->mu);
    size_t n = devsrv__copy_out(srv->last_mint_body, buf, buflen);
    pthread_mutex_unlock(&srv->mu);
    return n;
}
