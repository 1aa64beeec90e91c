/*
 * devserver — a local SegOps server for tests, the demo and the benchmark.
 *
 * Speaks ../shared/PROTOCOL.md on 127.0.0.1 (ephemeral port by default):
 *   POST /api/ingestion/track/batch/   events (ApiKey sk_ or Bearer session token)
 *   POST /api/auth/session/            the pk_ handshake
 *   GET  /_dev/stats                   counters as JSON (for out-of-process users)
 *   POST /_dev/script                  append faults (same syntax as --script)
 *   POST /_dev/revoke                  revoke every issued session token
 * Runs in-process (tests) or as the segops-dev-server program (demo, bench).
 * Thread-safe: every function may be called from any thread while it runs.
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
} devsrv_stats_t;

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
 * A status takes options in any order: 429:ra=2:body={"detail":"x"}. A JSON body
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

#ifdef __cplusplus
}
#endif

#endif
