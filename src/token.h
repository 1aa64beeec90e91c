/* The pk_ session token cache: one mint at a time, shared by every sender; the
 * token is refreshed ahead of expires_at, used until expires_at while a refresh
 * fails, and dropped on a 401. */
#ifndef SEGOPS_TOKEN_H
#define SEGOPS_TOKEN_H

#include "common.h"

#include "config.h"
#include "transport.h"

typedef struct segops__token_cache segops__token_cache_t;

/* Why a mint failed: what the session endpoint (or get_user) did. */
typedef struct segops__mint_failure {
    segops_err_t transport_err; /* SEGOPS_OK when an HTTP status arrived */
    int http_status;            /* 0 without one */
    segops_err_t code;          /* SEGOPS_E_HANDSHAKE (401/403 included), or SEGOPS_E_NOMEM */
    char message[SEGOPS__DETAIL_LEN];
    char retry_after[64]; /* the session answer's Retry-After, "" when none */
    bool shared;          /* another caller's mint failed so: this call sent nothing */
} segops__mint_failure_t;

segops_err_t segops__token_cache_new(const segops_options_t *cfg, const char *session_url,
                                     segops__token_cache_t **out);
void segops__token_cache_free(segops__token_cache_t *tc);

/* Returns SEGOPS_OK and a new "Bearer <token>" string in *authorization (wipe
 * and free it with segops__secret_free), minting through t when the cached token
 * is missing or due for refresh. If another thread is minting, waits for that
 * mint and shares its result. A refresh that fails while the cached token has
 * not reached its expires_at hands out the cached token (logged once per token
 * at WARN) and tries again later, at most REFRESH_RETRY_MS on and never after
 * expiry. On failure fills *failure and returns its code. */
segops_err_t segops__token_get(segops__token_cache_t *tc, segops__transport_t *t,
                               char **authorization, segops__mint_failure_t *failure);

/* Forgets the cached token if it is still the one in `authorization` (a 401
 * showed it was revoked), so the next get mints afresh. */
void segops__token_invalidate(segops__token_cache_t *tc, const char *authorization);

/* fork support: prepare/parent take and release the cache lock; child (which
 * holds it) forgets a mint the parent had in flight and releases it. */
void segops__token_fork_prepare(segops__token_cache_t *tc);
void segops__token_fork_parent(segops__token_cache_t *tc);
void segops__token_fork_child(segops__token_cache_t *tc);

/* Mint attempts so far. */
uint64_t segops__token_mints(segops__token_cache_t *tc);

#endif
