/* The retry policy as pure functions: what to do with one attempt's outcome,
 * how long to back off, and what a Retry-After header asks for. */
#ifndef SEGOPS_RETRY_H
#define SEGOPS_RETRY_H

#include "common.h"

typedef enum segops__action {
    SEGOPS__ACT_DELIVERED = 0, /* 2xx */
    SEGOPS__ACT_RETRY,        /* network error, 408, 5xx except 501/505: back off, counts a retry */
    SEGOPS__ACT_RATE_LIMITED, /* 429: wait (Retry-After floor), does not use up retries */
    SEGOPS__ACT_SPLIT,        /* 413: halve the batch; a single event is dropped as too large */
    SEGOPS__ACT_REAUTH,       /* 401 with a pk_ session token: re-mint once, resend once */
    SEGOPS__ACT_DROP          /* everything else: drop and report */
} segops__action_t;

typedef struct segops__verdict {
    segops__action_t action;
    segops_err_t code;                /* the code to report if the events end up dropped */
    segops_drop_reason_t drop_reason; /* meaningful for SEGOPS__ACT_DROP (and SPLIT of 1) */
} segops__verdict_t;

/* Classifies one attempt. transport_err is SEGOPS_OK when an HTTP status was
 * received (then http_status is it), otherwise the transport's error
 * (SEGOPS_E_NETWORK, SEGOPS_E_TIMEOUT, SEGOPS_E_TLS, ...) and http_status is 0.
 * TLS failures are not retried (a bad certificate does not fix itself).
 * session_token says the request carried a pk_ Bearer token (401 -> REAUTH). */
segops__verdict_t segops__retry_classify(segops_err_t transport_err, int http_status,
                                         bool session_token);

/* The wait before retry number `attempt` (1 = first retry): base * 2^(attempt-1)
 * capped at cap_ms, with "equal jitter" (half fixed, half random) drawn from
 * *rng_state (any non-zero seed; xorshift64*). Result is in [d/2, d]. */
uint32_t segops__retry_backoff_ms(uint32_t base_ms, uint32_t cap_ms, uint32_t attempt,
                                  uint64_t *rng_state);

/* Parses a Retry-After value (delta-seconds or an HTTP-date, surrounding white
 * space allowed) into a wait in milliseconds relative to now_unix_s, clamped to
 * [0, max_ms]. Returns false for an empty or malformed value. */
bool segops__retry_after_parse(const char *value, size_t len, int64_t now_unix_s, uint32_t max_ms,
                               uint32_t *wait_ms);

#endif
