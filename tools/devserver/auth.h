/* Credentials: the keys the server knows (read-only once started), the session
 * tokens it issued, and the checks of an Authorization header. */
#ifndef DEVSRV_AUTH_H
#define DEVSRV_AUTH_H

#include "devserver.h"

typedef struct devsrv__pk_key {
    char *key;
    char *secret; /* hex, or NULL */
    bool require_signed;
} devsrv__pk_key_t;

typedef struct devsrv__keys {
    char **sk;
    size_t nsk;
    devsrv__pk_key_t *pk;
    size_t npk;
} devsrv__keys_t;

typedef struct devsrv__token {
    char *token;
    char *uid;
    int64_t expires_ms; /* wall clock, like the expires_at handed out */
} devsrv__token_t;

/* Issued tokens (guarded by the server's lock). */
typedef struct devsrv__tokens {
    devsrv__token_t *v;
    size_t n, cap;
    char *last; /* the most recent token, for devsrv_last_token */
} devsrv__tokens_t;

/* Copies the configured keys. NULL on success, else why the configuration is bad. */
const char *devsrv__keys_copy(devsrv__keys_t *keys, const devsrv_config_t *cfg);
void devsrv__keys_free(devsrv__keys_t *keys);

/* Checks batch credentials (ApiKey sk_ or a live Bearer token). Returns NULL when
 * accepted (*uid then holds the token's uid, malloc'd, or NULL for an sk_ key),
 * else the reason for the 401. Takes the server's lock itself. */
const char *devsrv__auth_batch(devsrv_t *srv, const char *header, char **uid);
/* The pk_ key an "ApiKey pk_..." header names, or NULL. */
const devsrv__pk_key_t *devsrv__auth_find_pk(const devsrv__keys_t *keys, const char *header);

/* A fresh random token: 64 lowercase hex digits. False when randomness failed. */
bool devsrv__token_new(char out[65]);
/* Stores a token issued now_ms for uid until expires_ms, dropping expired ones.
 * Takes uid on success. Lock held. */
bool devsrv__tokens_store_locked(devsrv__tokens_t *t, const char *token, char *uid,
                                 int64_t expires_ms, int64_t now_ms);
/* Forgets tokens that expired by now_ms (INT64_MAX: every token). Lock held. */
void devsrv__tokens_prune_locked(devsrv__tokens_t *t, int64_t now_ms);
void devsrv__tokens_free(devsrv__tokens_t *t);

#endif
