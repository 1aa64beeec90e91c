/* See auth.h: keys, tokens and the checks of Authorization headers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "auth.h"

#include "crypto.h" /* the library's randomness and hex */
#include "internal.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_BYTES 32

const char *devsrv__keys_copy(devsrv__keys_t *keys, const devsrv_config_t *cfg) {
    if (cfg->sk_key_count > 0) {
        if (!cfg->sk_keys || !(keys->sk = calloc(cfg->sk_key_count, sizeof *keys->sk)))
            return "bad sk_keys";
        for (; keys->nsk < cfg->sk_key_count; keys->nsk++)
            if (!cfg->sk_keys[keys->nsk] ||
                !(keys->sk[keys->nsk] = devsrv__dupstr(cfg->sk_keys[keys->nsk])))
                return "bad sk_keys";
    }
    if (cfg->pk_key_count > 0) {
        if (!cfg->pk_keys || !(keys->pk = calloc(cfg->pk_key_count, sizeof *keys->pk)))
            return "bad pk_keys";
        for (; keys->npk < cfg->pk_key_count; keys->npk++) {
            const devsrv_pk_key_t *k = &cfg->pk_keys[keys->npk];
            devsrv__pk_key_t *d = &keys->pk[keys->npk];
            d->require_signed = k->require_signed;
            if (!k->key || !(d->key = devsrv__dupstr(k->key)) ||
                (k->hmac_secret_hex && !(d->secret = devsrv__dupstr(k->hmac_secret_hex)))) {
                keys->npk++; /* so keys_free frees what this one holds */
                return "bad pk_keys";
            }
        }
    }
    return NULL;
}

void devsrv__keys_free(devsrv__keys_t *keys) {
    for (size_t i = 0; i < keys->nsk; i++) free(keys->sk[i]);
    free(keys->sk);
    for (size_t i = 0; i < keys->npk; i++) {
        free(keys->pk[i].key);
        free(keys->pk[i].secret);
    }
    free(keys->pk);
    memset(keys, 0, sizeof *keys);
}

/* Matches "<scheme> <credential>"; returns the credential or NULL. */
static const char *credential(const char *header, const char *scheme) {
    size_t n = strlen(scheme);
    if (!header || strncasecmp(header, scheme, n) != 0 || header[n] != ' ') return NULL;
    header += n;
    while (*header == ' ') header++;
    return *header ? header : NULL;
}

const char *devsrv__auth_batch(devsrv_t *srv, const char *header, char **uid) {
    *uid = NULL;
    const char *cred = credential(header, "ApiKey");
    if (cred) {
        for (size_t i = 0; i < srv->keys.nsk; i++)
            if (strcmp(cred, srv->keys.sk[i]) == 0) return NULL;
        return "Invalid API key.";
    }
    cred = credential(header, "Bearer");
    if (!cred) return "Authentication credentials were not provided.";
    const char *why = "Invalid or revoked token.";
    pthread_mutex_lock(&srv->mu);
    for (size_t i = 0; i < srv->tokens.n; i++) {
        const devsrv__token_t *t = &srv->tokens.v[i];
        if (strcmp(cred, t->token) != 0) continue;
        if (t->expires_ms <= devsrv__clock_ms(CLOCK_REALTIME)) {
            why = "Token expired.";
        } else {
            *uid = devsrv__dupstr(t->uid);
            why = *uid ? NULL : "Out of memory.";
        }
        break;
    }
    pthread_mutex_unlock(&srv->mu);
    return why;
}

const devsrv__pk_key_t *devsrv__auth_find_pk(const devsrv__keys_t *keys, const char *header) {
    const char *cred = credential(header, "ApiKey");
    for (size_t i = 0; cred && i < keys->npk; i++)
        if (strcmp(cred, keys->pk[i].key) == 0) return &keys->pk[i];
    return NULL;
}

bool devsrv__token_new(char out[65]) {
    unsigned char raw[TOKEN_BYTES];
    if (segops__random_bytes(raw, sizeof raw) != SEGOPS_OK) return false;
    segops__hex_encode(raw, sizeof raw, out);
    return true;
}

void devsrv__tokens_prune_locked(devsrv__tokens_t *t, int64_t now_ms) {
    size_t w = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i].expires_ms <= now_ms) {
            free(t->v[i].token);
            free(t->v[i].uid);
        } else {
            t->v[w++] = t->v[i];
        }
    }
    t->n = w;
}

bool devsrv__tokens_store_locked(devsrv__tokens_t *t, const char *token, char *uid,
                                 int64_t expires_ms, int64_t now_ms) {
    devsrv__tokens_prune_locked(t, now_ms);
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        devsrv__token_t *v = realloc(t->v, cap * sizeof *v);
        if (!v) return false;
        t->v = v;
        t->cap = cap;
    }
    char *tok = devsrv__dupstr(token);
    char *last = devsrv__dupstr(token);
    if (!tok || !last) {
        free(tok);
        free(last);
        return false;
    }
    t->v[t->n++] = (devsrv__token_t){tok, uid, expires_ms};
    free(t->last);
    t->last = last;
    return true;
}

void devsrv__tokens_free(devsrv__tokens_t *t) {
    devsrv__tokens_prune_locked(t, INT64_MAX);
    free(t->v);
    free(t->last);
    memset(t, 0, sizeof *t);
}

void devsrv_revoke_tokens(devsrv_t *srv) {
    if (!srv) return;
    pthread_mutex_lock(&srv->mu);
    devsrv__tokens_prune_locked(&srv->tokens, INT64_MAX);
    pthread_mutex_unlock(&srv->mu);
}

size_t devsrv_last_token(devsrv_t *srv, char *buf, size_t buflen) {
    if (buf && buflen > 0) buf[0] = '\0';
    if (!srv) return 0;
    pthread_mutex_lock(&srv->mu);
    size_t n = devsrv__copy_out(srv->tokens.last, buf, buflen);
    pthread_mutex_unlock(&srv->mu);
    return n;
}
