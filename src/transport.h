/* HTTP POST of one request body. transport_curl.c is the only file that
 * includes curl; one transport (one connection cache) per sending thread. */
#ifndef SEGOPS_TRANSPORT_H
#define SEGOPS_TRANSPORT_H

#include "common.h"

#include "buf.h"
#include "config.h"
#include "deadline.h"

typedef struct segops__transport segops__transport_t;

typedef struct segops__http_response {
    segops_err_t err; /* SEGOPS_OK when an HTTP status arrived; else NETWORK, TIMEOUT, TLS, ... */
    int status;       /* the HTTP status, 0 without one */
    long new_connections; /* connections this request had to open (0 on reuse) */
    segops__buf_t body;   /* the first 64 KiB of the answer; owned by the caller, reused */
    char retry_after[64]; /* the Retry-After value, "" when absent */
    char detail[SEGOPS__DETAIL_LEN]; /* one line for error reports; never holds the key */
} segops__http_response_t;

/* Creates a transport configured from cfg (timeouts, TLS anchors, proxy, UA).
 * SEGOPS_OK, SEGOPS_E_NOMEM or SEGOPS_E_INTERNAL. */
/* libcurl's process-wide set-up, once. It registers a fork hook, so call it
 * holding no lock (segops_client_new does, first): fork's prepare step takes
 * the hook registry's lock and then every module's, so a module lock held
 * around the registration would invert that order. SEGOPS_E_INTERNAL when
 * libcurl cannot start. transport_new calls it too. */
segops_err_t segops__transport_init_process(void);

segops_err_t segops__transport_new(const segops_options_t *cfg, segops__transport_t **out);
void segops__transport_free(segops__transport_t *t);
/* In a forked child, for a transport the parent made: closes the child's copies
 * of its descriptors (connections, libcurl's wake-up channel) and frees what is
 * safe, without running libcurl. Closing a copy sends nothing while the parent
 * holds the original, so the parent's connections stay intact. t may be NULL;
 * it is invalid afterwards. Call it from the fork child handler. */
void segops__transport_abandon_in_child(segops__transport_t *t);

/* POSTs body as application/json with "Authorization: <authorization>" and fills
 * resp. Blocks until the answer, request_timeout_ms, or the abort deadline. */
void segops__transport_post(segops__transport_t *t, const char *url, const char *authorization,
                            const char *body, size_t body_len, segops__http_response_t *resp);

/* Sets the deadline at which a transfer in progress, or any later one, is
 * aborted with SEGOPS_E_TIMEOUT (none: only request_timeout_ms ends it).
 * Thread-safe: shutdown calls it while the worker is inside
 * segops__transport_post. */
void segops__transport_set_deadline(segops__transport_t *t, segops__deadline_t deadline);

#endif
