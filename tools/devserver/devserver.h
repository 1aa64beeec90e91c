/*
 * devserver — a local SegOps server for tests, the demo and the benchmark.
 *
 * Speaks ../shared/PROTOCOL.md on 127.0.0.1 (ephemeral port by default):
 *   POST /api/ingestion/track/batch/   events (ApiKey sk_ or Bearer session token)
 *   POST /api/auth/session/            the pk_ handshake
 *   GET  /_dev/stats                   counters as JSON (for out-of-process users)
 *   POST /_dev/script                  append faults (same syntax as --script)
 *   POST /_dev/revoke                  revoke every issued session token
 *   GET  /_dev/requests                the request log (devsrv_request_log) as JSON:
 *        {"requests":[{"no":1,"kind":"batch"|"mint","arrival_ms":..,"arrival_unix_ms":..,
 *                      "status":200,"events":20},...]}
 * Runs in-process (tests) or as the segops-dev-server program (demo, bench).
 * Thread-safe: every function may be called from any thread while it runs.
 *
 * Rate limits (off by default), checked when a request arrives, before any
 * scripted fault, credential or body check:
 * - a burst limiter refuses every k-th batch POST (refuse_every) with 429 and
 *   Retry-After: 1, whatever the rate;
 * - a plan admits at most plan_calls_per_window API calls (batch POSTs, and session
 *   mints unless plan_ignores_mints) in any rolling plan_window_ms: past it, 429
 *   with Retry-After = whole seconds, rounded up, until a call made then would be
 *   admitted (until the oldest counted call leaves the window). A call counts when
 *   admitted, whatever it is then answered (a scripted 503 still cost a call);
 *   refused calls count only with plan_counts_refused.
 * A refused request is answered at once (no answer delay), consumes no scripted
 * fault and records no event: only its log entry, the counters and its headers.
 */
#ifndef SEGOPS_DEVSERVER_H
#define SEGOPS_DEVSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct devsrv devsrv_t;

/* A pk_ key the server knows. */
typedef struct devsrv_pk_key {
    const char *key;             /* "pk_..." */
    const char *hmac_secret_hex; /* secret for user_id_sig (hex); NULL = none */
    bool require_signed;         /* reject mints without a valid signature */
} devsrv_pk_key_t;

/* How the session answer writes expires_at (to test the client's parser). */
typedef enum devsrv_expires_style {
    DEVSRV_EXPIRES_MS_Z = 0,  /* 2026-11-26T06:57:09.123Z (default) */
    DEVSRV_EXPIRES_SECONDS_Z, /* 2026-11-26T06:57:09Z */
    DEVSRV_EXPIRES_MICROS_Z,  /* 2026-11-26T06:57:09.123456Z */
    DEVSRV_EXPIRES_OFFSET,    /* 2026-11-26T08:57:09.123+02:00 (the same instant) */
    DEVSRV_EXPIRES_GARBAGE,   /* "in 15 minutes": not a time */
    DEVSRV_EXPIRES_PAST       /* an hour ago, as a client with a skewed clock would see it */
} devsrv_expires_style_t;

typedef struct devsrv_config {
    uint16_t port;              /* 0 = ephemeral */
    const char *const *sk_keys; /* accepted secret keys */
    size_t sk_key_count;
    const devsrv_pk_key_t *pk_keys; /* accepted public keys */
    size_t pk_key_count;
    uint32_t token_lifetime_s; /* session token lifetime; 0 = 900 */
    const char *record_path;   /* append accepted events as NDJSON; NULL = none, "-" = stdout */
    const char *tls_cert_file; /* PEM; with tls_key_file the server speaks HTTPS */
    const char *tls_key_file;
    size_t max_body_bytes;       /* larger bodies get 413; 0 = 5 MiB */
    const char *skip_event_type; /* events of this type are "schema violations": skipped */
    uint32_t answer_delay_ms;    /* added before every batch answer (slow server) */
    bool keep_events;            /* keep accepted events in memory for devsrv_event_at (tests) */
    bool log_requests;           /* one stderr line per request (never keys or tokens) */
    devsrv_expires_style_t expires_style; /* expires_at format in session answers */
    /* Rate limits (see the top of this file); all off when zero. */
    uint32_t plan_calls_per_window; /* API calls admitted per rolling window; 0 = no plan */
    uint32_t plan_window_ms;        /* the plan's window; 0 = 60000 */
    bool plan_ignores_mints;        /* mints neither count nor get refused (default: they do) */
    bool plan_counts_refused;       /* refused calls count too (default: only admitted ones) */
    uint32_t refuse_every;          /* burst limiter: every k-th batch POST gets 429; 0 = off */
} devsrv_config_t;

/* A fault applied to one upcoming batch request, in the order scripted. */
typedef enum devsrv_fault_kind {
    DEVSRV_STATUS = 0,   /* answer `status` (+ Retry-After, + body) without recording events */
    DEVSRV_DELAY,        /* wait delay_ms, then handle the request normally */
    DEVSRV_NO_ANSWER,    /* read the request, never answer (until devsrv_stop / pause) */
    DEVSRV_CLOSE_BEFORE, /* close the connection without answering; nothing recorded */
    DEVSRV_CLOSE_MID     /* record the events, then close in the middle of the response */
} devsrv_fault_kind_t;

typedef struct devsrv_fault {
    devsrv_fault_kind_t kind;
    int status;              /* DEVSRV_STATUS */
    const char *retry_after; /* DEVSRV_STATUS: Retry-After header value, NULL = none */
    const char *body;        /* DEVSRV_STATUS: response body, NULL = a small JSON error */
    uint32_t delay_ms;       /* DEVSRV_DELAY */
    const char *location;    /* DEVSRV_STATUS: Location header value (a redirect), NULL = none */
} devsrv_fault_t;

/* One accepted event as the server recorded it (after any user_id rewrite). */
typedef struct devsrv_event {
    char *user_id;
    char *event_type;
    char *occurred_at;
    char *payload_json;  /* the payload re-serialised compactly by cJSON_PrintUnformatted */
    char *anonymous_id;  /* NULL when absent */
    char *raw_json;      /* the event object exactly as it appeared in the request body */
    uint64_t request_no; /* which batch request (1-based) carried it */
    int64_t arrival_ms;  /* CLOCK_MONOTONIC ms when that request arrived (its log entry's) */
} devsrv_event_t;

/* Counters since start. */
typedef struct devsrv_stats {
    uint64_t batch_requests;  /* every POST to the batch endpoint, faults included */
    uint64_t batch_accepted;  /* batch requests answered 2xx */
    uint64_t events_received; /* events accepted (queued), duplicates included */
    uint64_t events_skipped;  /* events skipped as invalid */
    uint64_t max_events_per_request;
    uint64_t bytes_received; /* request bodies of batch requests */
    uint64_t auth_failures;  /* 401/403 answers, both endpoints */
    uint64_t mints;          /* successful session mints */
    uint64_t mint_requests;  /* every POST to the session endpoint */
    uint64_t faults_applied;
    uint64_t answers_429;   /* 429 answers on either endpoint: scripted, plan or burst */
    uint64_t plan_refused;  /* calls refused by the plan limit (batch POSTs and mints) */
    uint64_t burst_refused; /* batch POSTs refused by refuse_every */
} devsrv_stats_t;

/* One API call as the server logged it, in arrival order. */
typedef enum devsrv_request_kind {
    DEVSRV_REQUEST_BATCH = 0, /* POST to the batch endpoint */
    DEVSRV_REQUEST_MINT       /* POST to the session endpoint */
} devsrv_request_kind_t;

typedef struct devsrv_request {
    int64_t arrival_ms;      /* CLOCK_MONOTONIC ms when the whole request was in */
    int64_t arrival_unix_ms; /* the same moment on the wall clock (CLOCK_REALTIME) */
    devsrv_request_kind_t kind;
    int status;          /* the status answered; 0 = none (yet, or closed without one) */
    uint32_t events;     /* events queued by a 2xx batch answer; 0 otherwise */
    uint64_t request_no; /* 1-based: batch_requests for a batch, mint_requests for a mint */
    uint64_t body_bytes; /* the request body's length (batch requests; 0 for a mint) */
} devsrv_request_t;

/* The log keeps the first DEVSRV_REQUEST_LOG_MAX requests; later ones are not logged. */
#define DEVSRV_REQUEST_LOG_MAX ((size_t)1 << 20)

/* Which requests devsrv_max_in_window counts (flags). With neither BATCH nor
 * MINTS set, both kinds count; 0 counts every request, whatever its status. */
#define DEVSRV_COUNT_BATCH 1u
#define DEVSRV_COUNT_MINTS 2u
#define DEVSRV_COUNT_ACCEPTED 4u /* only requests answered 2xx */

/* Header values seen on the last batch request (copied, NUL-terminated, truncated). */
typedef struct devsrv_last_headers {
    char authorization[512];
    char user_agent[256];
    char content_type[128];
} devsrv_last_headers_t;

/* Starts the server on 127.0.0.1. Returns 0 and *out, or -1 (with a line on stderr). */
int devsrv_start(const devsrv_config_t *cfg, devsrv_t **out);
/* Stops (answers nothing more, closes connections) and frees. NULL-safe. */
void devsrv_stop(devsrv_t *srv);
uint16_t devsrv_port(const devsrv_t *srv);
/* "http://127.0.0.1:PORT" (or https://); static for the server's lifetime. */
const char *devsrv_url(const devsrv_t *srv);

/* Stops listening so connections are refused; resume listens again on the same port. 0 or -1. */
int devsrv_pause(devsrv_t *srv);
int devsrv_resume(devsrv_t *srv);

/* Appends faults to the script; each one is consumed by one batch request. */
void devsrv_script(devsrv_t *srv, const devsrv_fault_t *faults, size_t count);
/* Parses and appends a textual script: comma-separated items
 *   503 | 429:ra=2 | 500:body={...} | delay=250 | noanswer | close | closemid
 * A status takes options in any order: 429:ra=2:body={"detail":"x"}; a redirect's
 * Location is quoted: 307:loc="http://127.0.0.1:8080/api/ingestion/track/batch/". A JSON body
 * may hold commas; an HTTP-date Retry-After is quoted: 503:ra="Wed, 21 Oct 2015 07:28:00 GMT".
 * DEVSRV_CLOSE_MID sends the status line, so it counts in batch_accepted when 2xx.
 * Returns 0, or -1 for a malformed script (nothing appended). */
int devsrv_script_text(devsrv_t *srv, const char *script);
/* Faults still waiting to be used. */
size_t devsrv_script_pending(devsrv_t *srv);
void devsrv_set_answer_delay(devsrv_t *srv, uint32_t ms);

/* Session answers from now on write expires_at in this style. */
void devsrv_set_expires_style(devsrv_t *srv, devsrv_expires_style_t style);
/* The next `count` requests to the session endpoint (with a known key) are
 * answered `status` with a {"detail"} body and no token. They still count in
 * mint_requests, and their bodies in devsrv_last_mint_body. */
void devsrv_fail_mints(devsrv_t *srv, int status, uint32_t count);
/* The same, with a Retry-After header (NULL = none) on those answers. */
void devsrv_fail_mints_retry_after(devsrv_t *srv, int status, uint32_t count,
                                   const char *retry_after);

/* Revokes every issued token: batches carrying them get 401. */
void devsrv_revoke_tokens(devsrv_t *srv);
/* Copies the most recently minted token (for tests that check it never leaks).
 * Returns its length, 0 if none. */
size_t devsrv_last_token(devsrv_t *srv, char *buf, size_t buflen);
/* The JSON body of the most recent mint request, copied; 0 if none. */
size_t devsrv_last_mint_body(devsrv_t *srv, char *buf, size_t buflen);

void devsrv_get_stats(devsrv_t *srv, devsrv_stats_t *out);
/* Writes the counters as one compact JSON object (what GET /_dev/stats answers),
 * NUL-terminated and truncated to buflen. Returns the length it needs without the NUL. */
size_t devsrv_stats_json(const devsrv_stats_t *stats, char *buf, size_t buflen);
void devsrv_get_last_headers(devsrv_t *srv, devsrv_last_headers_t *out);
/* Events kept (config.keep_events): count, and a deep copy of one. */
size_t devsrv_event_count(devsrv_t *srv);
int devsrv_event_at(devsrv_t *srv, size_t index, devsrv_event_t *out);
void devsrv_event_free(devsrv_event_t *ev);
/* Waits until at least n events were received or timeout_ms passed; returns the count. */
uint64_t devsrv_wait_events(devsrv_t *srv, uint64_t n, int timeout_ms);

/* Copies the first min(max, logged) entries of the request log (arrival order)
 * into out (may be NULL when max is 0). Returns how many are logged. */
size_t devsrv_request_log(devsrv_t *srv, devsrv_request_t *out, size_t max);
/* The largest number of the `which` requests (DEVSRV_COUNT_*) of log[0..n) that
 * arrived within one rolling window of window_ms: the most whose arrival_ms lie in
 * some (t - window_ms, t]. log must be in arrival order, as devsrv_request_log gives it. */
size_t devsrv_max_in_window(const devsrv_request_t *log, size_t n, uint32_t window_ms,
                            unsigned which);
/* The same over the server's request log so far. */
size_t devsrv_max_requests_in_window(devsrv_t *srv, uint32_t window_ms, unsigned which);

/* Changes the plan while running (calls_per_window 0 = off, window_ms 0 = 60 s).
 * Calls counted under the previous plan stay counted; calls made with no plan never are. */
void devsrv_set_plan_limit(devsrv_t *srv, uint32_t calls_per_window, uint32_t window_ms);
/* Changes the burst limiter (0 = off); the k-th batch POST from now on is refused. */
void devsrv_set_refuse_every(devsrv_t *srv, uint32_t k);

#ifdef __cplusplus
}
#endif

#endif
