/* Authorization of batch requests: "ApiKey sk_…" for secret keys, or a pk_
 * session token from the token cache (token.h). Senders ask for a header per
 * attempt and report a refused one; they never see which mode is in use. */
#ifndef SEGOPS_AUTH_H
#define SEGOPS_AUTH_H

#include "common.h"

#include "config.h"
#include "fork.h"
#include "token.h"
#include "transport.h"

typedef struct segops__auth segops__auth_t;

/* One attempt's Authorization value; release it after the attempt. */
typedef struct segops__auth_header {
    const char *value;
    char *owned; /* a copy of a session token, wiped on release */
} segops__auth_header_t;

segops_err_t segops__auth_new(const segops_options_t *cfg, segops__auth_t **out);
/* Wipes the key and any token. NULL-safe. */
void segops__auth_free(segops__auth_t *a);
/* fork: the child forgets a mint the parent had in flight. */
segops__fork_hook_t *segops__auth_fork_hook(segops__auth_t *a);

/* The header for the next attempt, minting a session token through t when
 * needed (pk_). On failure fills *failure and returns its code. */
segops_err_t segops__auth_get(segops__auth_t *a, segops__transport_t *t, segops__auth_header_t *h,
                              segops__mint_failure_t *failure);
void segops__auth_release(segops__auth_header_t *h);
/* The server refused h with a 401: forget the token so the next get mints. */
void segops__auth_refused(segops__auth_t *a, const segops__auth_header_t *h);
/* True when requests carry a session token (a 401 then means: mint again). */
bool segops__auth_uses_tokens(const segops__auth_t *a);
/* Session mints attempted so far (0 for secret keys). */
uint64_t segops__auth_mints(segops__auth_t *a);

#endif
