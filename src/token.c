/* Session token cache and the mint request (POST /api/auth/session/). */
#include "token.h"

#include <pthread.h>
#include <stdio.h>

#include "clock.h"
#include "crypto.h"
#include "json.h"
#include "log.h"
#include "user.h"

/* Refresh this long before expires_at (the SegOps protocol asks for 60 s), or at half the lifetime
 * for tokens that live less than twice that. */
#define REFRESH_MARGIN_MS 60000
/* How long a token whose expires_at already passed (clock skew) is kept. */
#define SKEWED_TOKEN_KEEP_MS 30000
/* After a failed refresh, while the cached token is still valid, the next
 * refresh is tried this much later at most (sooner as expiry nears). */
#define REFRESH_RETRY_MS 5000

struct segops__token_cache {
    const segops_options_t *cfg;
    char *session_url;
    pthread_mutex_t lock;
    pthread_cond_t minted; /* broadcast when a mint finishes */
    char *authorization;   /* "Bearer <token>", NULL when none */
    int64_t refresh_at;    /* monotonic ms: mint a fresh token from then on */
    int64_t expires_at;    /* monotonic ms: the cached token may be sent until then */
    bool stale_warned;     /* a failed refresh of this token was logged */
    bool minting;
    uint64_t generation;                 /* mints finished */
    segops__mint_failure_t last_failure; /* of the mint that finished last, if it failed */
    bool last_failed;
    uint64_t mints;
};

segops_err_t segops__token_cache_new(const segops_options_t *cfg, const char *session_url,
                                     segops__token_cache_t **out) {
    segops__token_cache_t *tc = segops__calloc(1, sizeof *tc);
    *out = NULL;
    if (!tc) return SEGOPS_E_NOMEM;
    tc->cfg = cfg;
    if (!(tc->session_url = segops__strdup(session_url))) {
        segops__free(tc);
        return SEGOPS_E_NOMEM;
    }
    pthread_mutex_init(&tc->lock, NULL);
    pthread_cond_init(&tc->minted, NULL);
    *out = tc;
    return SEGOPS_OK;
}

void segops__token_cache_free(segops__token_cache_t *tc) {
    if (!tc) return;
    segops__secret_free(tc->authorization);
    segops__free(tc->session_url);
    pthread_cond_destroy(&tc->minted);
    pthread_mutex_destroy(&tc->lock);
    segops__free(tc);
}

static segops_err_t fail(segops__mint_failure_t *f, segops_err_t code, segops_err_t transport_err,
                         int status, const char *message) {
    f->code = code;
    f->transport_err = transport_err;
    f->http_status = status;
    f->retry_after[0] = '\0';
    f->shared = false;
    snprintf(f->message, sizeof f->message, "session handshake: %.200s", message);
    return code;
}

/* When a fresh token is due and until when it may be sent (monotonic ms). */
typedef struct token_times {
    int64_t refresh_at;
    int64_t expires_at;
} token_times_t;

/* One mint, with no lock held: get_user, POST, parse. */
static segops_err_t mint(segops__token_cache_t *tc, segops__transport_t *t, char **authorization,
                         token_times_t *times, segops__mint_failure_t *f) {
    segops_user_t user = {0};
    segops__buf_t body = {0};
    segops__http_response_t resp = {0};
    char *token = NULL;
    segops_err_t err = segops__call_get_user(tc->cfg, &user);
    if (err != SEGOPS_OK) {
        err = fail(f, SEGOPS_E_HANDSHAKE, SEGOPS_OK, 0, "get_user returned an error");
        goto out;
    }
    if ((err = segops__user_mint_body(&user, &body)) != SEGOPS_OK) {
        fail(f, err, SEGOPS_OK, 0, "out of memory");
        goto out;
    }
    char apikey[1100];
    snprintf(apikey, sizeof apikey, "ApiKey %s", tc->cfg->api_key);
    segops__transport_post(t, tc->session_url, apikey, body.data, body.len, &resp);
    segops__secure_wipe(apikey, sizeof apikey);
    if (resp.err != SEGOPS_OK) {
        err = fail(f, SEGOPS_E_HANDSHAKE, resp.err, 0, resp.detail);
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        /* A refused mint is a handshake failure like any other (a 401/403 is
         * still final: the retry rules see its status). */
        char said[160], why[200];
        segops__json_error_detail(resp.body.data, resp.body.len, tc->cfg->api_key, said,
                                  sizeof said);
        snprintf(why, sizeof why, "HTTP %d, %s%s%s", resp.status,
                 resp.status == 401 || resp.status == 403 ? "the server refused the key or identity"
                                                          : "unexpected status",
                 said[0] ? ": " : "", said);
        err = fail(f, SEGOPS_E_HANDSHAKE, SEGOPS_OK, resp.status, why);
        snprintf(f->retry_after, sizeof f->retry_after, "%s", resp.retry_after);
        goto out;
    }
    int64_t expires_ms;
    char why[128];
    err = segops__json_session(resp.body.data, resp.body.len, &token, &expires_ms, why, sizeof why);
    if (err != SEGOPS_OK) {
        fail(f, err, SEGOPS_OK, resp.status, why);
        goto out;
    }
    size_t len = strlen(token) + sizeof "Bearer ";
    if (!(*authorization = segops__malloc(len))) {
        err = fail(f, SEGOPS_E_NOMEM, SEGOPS_OK, 0, "out of memory");
        goto out;
    }
    snprintf(*authorization, len, "Bearer %s", token);
    int64_t lifetime = expires_ms - segops__clock_realtime_ms();
    int64_t margin = lifetime >= 2 * REFRESH_MARGIN_MS ? REFRESH_MARGIN_MS : lifetime / 2;
    if (lifetime <= 0) {
        /* Already expired by our clock: skew. Keep it a while rather than mint
         * before every request; a 401 still makes us mint again. */
        segops__log(tc->cfg, SEGOPS_LOG_WARN,
                    "session token expires_at is in the past by our clock (clock skew?)");
        lifetime = SKEWED_TOKEN_KEEP_MS;
        margin = 0;
    }
    const int64_t now = segops__clock_monotonic_ms();
    times->refresh_at = now + lifetime - margin;
    times->expires_at = now + lifetime;
    segops__log(tc->cfg, SEGOPS_LOG_DEBUG, "session token minted, refresh in %lld ms",
                (long long)(lifetime - margin));
out:
    segops__secret_free(token);
    segops__user_clear(&user);
    segops__secure_wipe(body.data, body.len); /* it carried the identity's signature */
    segops__buf_free(&body);
    segops__secure_wipe(resp.body.data, resp.body.len); /* the answer held the token */
    segops__buf_free(&resp.body);
    return err;
}

/* A copy of the cached token for the caller. Lock held. */
static segops_err_t hand_out(segops__token_cache_t *tc, char **authorization,
                             segops__mint_failure_t *failure) {
    *authorization = segops__strdup(tc->authorization);
    return *authorization ? SEGOPS_OK
                          : fail(failure, SEGOPS_E_NOMEM, SEGOPS_OK, 0, "out of memory");
}

/* True while the cached token may still be sent: a refresh that failed does
 * not take away a token the server still accepts. Lock held. */
static bool cached_still_valid(const segops__token_cache_t *tc, int64_t now) {
    return tc->authorization && now < tc->expires_at;
}

segops_err_t segops__token_get(segops__token_cache_t *tc, segops__transport_t *t,
                               char **authorization, segops__mint_failure_t *failure) {
    *authorization = NULL;
    pthread_mutex_lock(&tc->lock);
    uint64_t seen = tc->generation;
    for (;;) {
        const int64_t now = segops__clock_monotonic_ms();
        if (tc->authorization && now < tc->refresh_at) {
            segops_err_t err = hand_out(tc, authorization, failure);
            pthread_mutex_unlock(&tc->lock);
            return err;
        }
        if (tc->generation != seen && tc->last_failed) { /* the mint we waited for failed */
            segops_err_t err = SEGOPS_OK;
            if (cached_still_valid(tc, now)) {
                err = hand_out(tc, authorization, failure);
            } else {
                *failure = tc->last_failure;
                failure->shared = true;
                err = failure->code;
            }
            pthread_mutex_unlock(&tc->lock);
            return err;
        }
        if (!tc->minting) break;
        pthread_cond_wait(&tc->minted, &tc->lock);
    }
    tc->minting = true;
    tc->mints++;
    pthread_mutex_unlock(&tc->lock);

    char *fresh = NULL;
    token_times_t times = {0};
    segops_err_t err = mint(tc, t, &fresh, &times, failure);

    pthread_mutex_lock(&tc->lock);
    const int64_t now = segops__clock_monotonic_ms();
    int64_t valid_ms = -1; /* >= 0: a failed refresh falls back on the cached token */
    tc->minting = false;
    tc->generation++;
    tc->last_failed = err != SEGOPS_OK;
    if (err == SEGOPS_OK) {
        segops__secret_free(tc->authorization);
        tc->authorization = fresh;
        tc->refresh_at = times.refresh_at;
        tc->expires_at = times.expires_at;
        tc->stale_warned = false;
        err = hand_out(tc, authorization, failure);
    } else {
        tc->last_failure = *failure;
        if (cached_still_valid(tc, now)) {
            /* Try again later, not before every send, and never past expiry. */
            const int64_t left = tc->expires_at - now;
            tc->refresh_at = now + SEGOPS__MIN(REFRESH_RETRY_MS, left / 2);
            err = hand_out(tc, authorization, failure); /* keeps *failure unless it fails */
            if (err == SEGOPS_OK && !tc->stale_warned) {
                valid_ms = left;
                tc->stale_warned = true;
            }
        }
    }
    pthread_cond_broadcast(&tc->minted);
    pthread_mutex_unlock(&tc->lock);
    if (valid_ms >= 0) /* logged once per token, with no lock held */
        segops__log(tc->cfg, SEGOPS_LOG_WARN,
                    "session token refresh failed (%s, HTTP %d); using the cached token until "
                    "it expires in %lld ms",
                    failure->message, failure->http_status, (long long)valid_ms);
    return err;
}

void segops__token_invalidate(segops__token_cache_t *tc, const char *authorization) {
    pthread_mutex_lock(&tc->lock);
    if (tc->authorization && authorization && strcmp(tc->authorization, authorization) == 0) {
        segops__secret_free(tc->authorization);
        tc->authorization = NULL;
    }
    pthread_mutex_unlock(&tc->lock);
}

uint64_t segops__token_mints(segops__token_cache_t *tc) {
    pthread_mutex_lock(&tc->lock);
    uint64_t n = tc->mints;
    pthread_mutex_unlock(&tc->lock);
    return n;
}

void segops__token_fork_prepare(segops__token_cache_t *tc) { pthread_mutex_lock(&tc->lock); }

void segops__token_fork_parent(segops__token_cache_t *tc) { pthread_mutex_unlock(&tc->lock); }

void segops__token_fork_child(segops__token_cache_t *tc) {
    /* A mint in flight belonged to a parent thread that does not exist here. */
    tc->minting = false;
    tc->mints = 0;
    pthread_cond_init(&tc->minted, NULL);
    pthread_mutex_unlock(&tc->lock);
}
