/* The Authorization header: API key, or session token (see auth.h). */
#include "auth.h"

#include "crypto.h"

#define SESSION_PATH "/api/auth/session/"

struct segops__auth {
    char *apikey_header;           /* "ApiKey sk_…" (sk_ keys), wiped on free */
    segops__token_cache_t *tokens; /* pk_ keys */
    segops__fork_hook_t fork_hook;
};

static void fork_prepare(void *arg) { segops__token_fork_prepare(((segops__auth_t *)arg)->tokens); }
static void fork_parent(void *arg) { segops__token_fork_parent(((segops__auth_t *)arg)->tokens); }
static void fork_child(void *arg) { segops__token_fork_child(((segops__auth_t *)arg)->tokens); }
static void fork_nothing(void *arg) { SEGOPS__UNUSED(arg); }

static char *join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = segops__malloc(la + lb + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

segops_err_t segops__auth_new(const segops_options_t *cfg, segops__auth_t **out) {
    segops__auth_t *a = segops__calloc(1, sizeof *a);
    *out = NULL;
    if (!a) return SEGOPS_E_NOMEM;
    segops_err_t err = SEGOPS_E_NOMEM;
    if (segops__config_is_public_key(cfg)) {
        char *session_url = join(cfg->api_url, SESSION_PATH);
        if (session_url) err = segops__token_cache_new(cfg, session_url, &a->tokens);
        segops__free(session_url);
        a->fork_hook = (segops__fork_hook_t){fork_prepare, fork_parent, fork_child, a, NULL, NULL};
    } else {
        a->apikey_header = join("ApiKey ", cfg->api_key);
        if (a->apikey_header) err = SEGOPS_OK;
        a->fork_hook =
            (segops__fork_hook_t){fork_nothing, fork_nothing, fork_nothing, a, NULL, NULL};
    }
    if (err != SEGOPS_OK) {
        segops__auth_free(a);
        return err;
    }
    *out = a;
    return SEGOPS_OK;
}

void segops__auth_free(segops__auth_t *a) {
    if (!a) return;
    segops__secret_free(a->apikey_header);
    segops__token_cache_free(a->tokens);
    segops__free(a);
}

segops__fork_hook_t *segops__auth_fork_hook(segops__auth_t *a) { return &a->fork_hook; }

segops_err_t segops__auth_get(segops__auth_t *a, segops__transport_t *t, segops__auth_header_t *h,
                              segops__mint_failure_t *failure) {
    h->owned = NULL;
    h->value = a->apikey_header;
    if (!a->tokens) return SEGOPS_OK;
    segops_err_t err = segops__token_get(a->tokens, t, &h->owned, failure);
    h->value = h->owned;
    return err;
}

void segops__auth_release(segops__auth_header_t *h) {
    segops__secret_free(h->owned);
    h->owned = NULL;
    h->value = NULL;
}

void segops__auth_refused(segops__auth_t *a, const segops__auth_header_t *h) {
    if (a->tokens) segops__token_invalidate(a->tokens, h->owned);
}

bool segops__auth_uses_tokens(const segops__auth_t *a) { return a->tokens != NULL; }

uint64_t segops__auth_mints(segops__auth_t *a) {
    return a->tokens ? segops__token_mints(a->tokens) : 0;
}
