/*
 * libsegops — the C SDK for SegOps behavioral event ingestion.
 *
 * One public header. It compiles as C99 and C++11 and includes no curl, cJSON or
 * OpenSSL header. Every function documents what it returns, who owns each pointer,
 * whether it is thread-safe and whether (and how long) it blocks.
 *
 * Lifecycle:
 *   segops_options_new -> setters -> segops_client_new -> segops_options_free
 *   segops_track / segops_identify ... -> segops_shutdown -> segops_client_free
 *
 * Accounting rule: a call that returns an error has no further effect and fires no
 * callback. A track call that returns SEGOPS_OK has exactly one outcome later:
 * delivered, or dropped and reported once through on_error with its reason.
 * segops_last_error() says why the last failed call on a thread failed.
 *
 * Exit: call segops_shutdown (or segops_client_free) before the process exits.
 * A client still holding undelivered events at exit() was never asked to
 * settle them; the library then writes one line on stderr naming how many (see
 * segops_shutdown).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SEGOPS_SEGOPS_H
#define SEGOPS_SEGOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SEGOPS_VERSION_MAJOR 0
#define SEGOPS_VERSION_MINOR 1
#define SEGOPS_VERSION_PATCH 0
#define SEGOPS_VERSION_STRING "0.1.0"

/* Public symbols keep default visibility even though the library builds hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define SEGOPS_API __attribute__((visibility("default")))
#else
#define SEGOPS_API
#endif

/* ------------------------------------------------------------------------- */
/* Errors                                                                     */
/* ------------------------------------------------------------------------- */

/* Error codes. The numbers are part of the ABI and are never renumbered. */
typedef enum segops_err {
    SEGOPS_OK = 0,
    SEGOPS_E_INVALID_ARG = 1,   /* NULL or empty required argument, invalid UTF-8, bad value */
    SEGOPS_E_NOMEM = 2,         /* an allocation failed */
    SEGOPS_E_STATE = 3,         /* wrong lifecycle state: after shutdown, or from a callback */
    SEGOPS_E_CONFIG = 4,        /* the options cannot make a working client */
    SEGOPS_E_INVALID_JSON = 5,  /* payload/traits is not the text of a JSON object */
    SEGOPS_E_TOO_LARGE = 6,     /* an event over max_event_bytes, or refused by the server (413) */
    SEGOPS_E_QUEUE_FULL = 7,    /* the queue bound was hit (see segops_overflow_t) */
    SEGOPS_E_TIMEOUT = 8,       /* a deadline passed */
    SEGOPS_E_NETWORK = 9,       /* connect/DNS/reset/transfer failure */
    SEGOPS_E_TLS = 10,          /* TLS handshake or certificate verification failed */
    SEGOPS_E_HTTP = 11,         /* an HTTP status not covered below (400, 404, 413 ...) */
    SEGOPS_E_AUTH = 12,         /* 401/403 from the batch endpoint: bad or revoked key/token */
    SEGOPS_E_RATE_LIMITED = 13, /* 429 */
    SEGOPS_E_SERVER = 14,       /* 5xx */
    SEGOPS_E_HANDSHAKE = 15,    /* the pk_ session mint failed (refused with 401/403, a bad
                                   answer, a get_user error), in every mode */
    SEGOPS_E_CRYPTO = 16,       /* the crypto library failed */
    SEGOPS_E_INTERNAL = 17,     /* a bug in libsegops; please report it */
    SEGOPS_E_SKIPPED = 18,      /* the server accepted the request but skipped events as invalid */
    SEGOPS_E_IO = 19            /* a spool file could not be written or read, or held damage */
} segops_err_t;

/* Static English text for a code; never NULL (unknown codes get a generic text).
 * Thread-safe, never blocks. */
SEGOPS_API const char *segops_strerror(segops_err_t err);

/* The reason for the last call on this thread that returned an error: one line
 * of English, e.g. "segops_options_set_api_key: the key ends with a line break
 * (read from a file? strip the trailing newline)" or "segops_track: HTTP 400
 * from the batch endpoint: <the server's message>". Never NULL; "" before any
 * call on this thread failed. It never holds a key, token or HMAC secret (a
 * refused key or URL is described, never quoted).
 *
 * Every public function that returns a segops_err_t other than SEGOPS_OK sets
 * it before returning; calls that succeed leave it unchanged (as errno and
 * libgit2's git_error_last do), so read it right after the call that failed.
 * The code is still the return value: the text is for people and logs, and its
 * wording may change between versions.
 *
 * Kept per thread (libgit2's model) rather than per object (sqlite's): most
 * failures worth explaining have no object to hang a reason on (a setter's NULL
 * opts, a segops_client_new that returns no client), and a client is shared by
 * threads whose reasons would overwrite each other. A thread sees only the
 * reasons of its own calls. The text lives in a static buffer of the calling
 * thread, valid until that thread's next failing segops call or its exit. Drop
 * reports of events accepted earlier still go to on_error, not here.
 * Thread-safe, never blocks, never allocates. */
SEGOPS_API const char *segops_last_error(void);

/* The library version as "MAJOR.MINOR.PATCH"; static, never NULL. Thread-safe. */
SEGOPS_API const char *segops_version(void);

/* ------------------------------------------------------------------------- */
/* Callbacks                                                                  */
/* ------------------------------------------------------------------------- */

/* Why accepted events were dropped. The numbers are never renumbered. */
typedef enum segops_drop_reason {
    SEGOPS_DROP_NONE = 0,
    SEGOPS_DROP_QUEUE_OVERFLOW = 1,    /* evicted by SEGOPS_OVERFLOW_DROP_OLDEST */
    SEGOPS_DROP_TOO_LARGE = 2,         /* a single event the server still refused with 413 */
    SEGOPS_DROP_REJECTED = 3,          /* a non-retryable answer: 400, 401/403, other 4xx, auth */
    SEGOPS_DROP_RETRIES_EXHAUSTED = 4, /* network/5xx/429 past max_retries or the retry budget */
    SEGOPS_DROP_SHUTDOWN = 5,          /* not delivered by the segops_shutdown deadline */
    SEGOPS_DROP_SKIPPED = 6,           /* the server answered 2xx but skipped them as invalid */
    SEGOPS_DROP_SPOOL_CORRUPT = 7,     /* their spool records were damaged (a crash mid-write,
                                          a bad disk, another program writing there) */
    SEGOPS_DROP_EXPIRED = 8            /* older than spool_max_age_ms before they could be sent */
} segops_drop_reason_t;

/* One report of dropped events. Valid only during the callback. */
typedef struct segops_error_info {
    segops_err_t code;           /* what went wrong */
    int http_status;             /* the last HTTP status, or 0 when there was none */
    size_t event_count;          /* how many events this report drops (always > 0) */
    const char *message;         /* one line of detail; never holds a key or token */
    segops_drop_reason_t reason; /* which stats counter the events were added to */
} segops_error_info_t;

/* Called once for every group of dropped events, on the worker thread (or, for
 * SEGOPS_OVERFLOW_DROP_OLDEST, on the thread whose track call evicted them) with
 * no library lock held. It may call segops_track; segops_flush, segops_shutdown
 * and segops_client_free return SEGOPS_E_STATE / do nothing from inside it.
 * A report raised while a thread is already inside a segops callback (a track
 * from on_error that evicts) is never nested: it is deferred and delivered by the
 * worker (or shutdown) after the callback returns; its events stay pending, so
 * a flush still waits for the report. Default (none set): one line on stderr
 * per report. */
typedef void (*segops_error_fn)(const segops_error_info_t *error, void *userdata);

typedef enum segops_log_level {
    SEGOPS_LOG_DEBUG = 0,
    SEGOPS_LOG_INFO = 1,
    SEGOPS_LOG_WARN = 2,
    SEGOPS_LOG_ERROR = 3
} segops_log_level_t;

/* Diagnostic log lines (retries, token refreshes, ...). Called from any library
 * thread with no library lock held; `message` is valid during the call only and
 * never holds a key, token or HMAC secret. Default: nothing is logged. */
typedef void (*segops_log_fn)(segops_log_level_t level, const char *message, void *userdata);

/* The identity used for a pk_ session mint, filled by a segops_get_user_fn. */
typedef struct segops_user segops_user_t;

/* Asked for the current identity each time a pk_ session token is minted, on the
 * thread that needs the token, with no library lock held. Set what applies with
 * the segops_user_set_* functions (all optional) and return SEGOPS_OK; any other
 * return value fails the mint (reported as SEGOPS_E_HANDSHAKE). */
typedef segops_err_t (*segops_get_user_fn)(segops_user_t *user, void *userdata);

/* Setters for use inside a segops_get_user_fn. Each copies its input.
 * user_id and anonymous_id are non-empty UTF-8 of at most 4096 bytes (bytes,
 * not characters). Return SEGOPS_OK, SEGOPS_E_INVALID_ARG (NULL user,
 * NULL/empty/non-UTF-8 text or text over 4096 bytes, signature not 64 hex
 * digits, ts <= 0; what was set before stays) or SEGOPS_E_NOMEM. Never block. */
SEGOPS_API segops_err_t segops_user_set_id(segops_user_t *user, const char *user_id);
SEGOPS_API segops_err_t segops_user_set_anonymous_id(segops_user_t *user, const char *anonymous_id);
SEGOPS_API segops_err_t segops_user_set_signature(segops_user_t *user, const char *user_id_sig,
                                                  int64_t user_id_ts);

/* ------------------------------------------------------------------------- */
/* Options                                                                    */
/* ------------------------------------------------------------------------- */

/* What track does when the queue is at max_queue_events or max_queue_bytes. */
typedef enum segops_overflow {
    SEGOPS_OVERFLOW_DROP_NEWEST = 0, /* track returns SEGOPS_E_QUEUE_FULL (default) */
    SEGOPS_OVERFLOW_DROP_OLDEST = 1, /* track succeeds; the oldest queued events are dropped */
    SEGOPS_OVERFLOW_BLOCK = 2        /* track waits up to block_timeout_ms, then QUEUE_FULL */
} segops_overflow_t;

typedef struct segops_options segops_options_t;

/* Creates an options builder holding the defaults (see the README table).
 * Returns SEGOPS_OK, SEGOPS_E_INVALID_ARG (out NULL) or SEGOPS_E_NOMEM; on
 * failure *out is NULL. The caller owns *out and frees it with segops_options_free. */
SEGOPS_API segops_err_t segops_options_new(segops_options_t **out);

/* Frees the builder and wipes the key it holds. NULL-safe. */
SEGOPS_API void segops_options_free(segops_options_t *opts);

/*
 * Setters. Each copies its input, validates it, and returns SEGOPS_OK,
 * SEGOPS_E_INVALID_ARG (NULL opts, bad or out-of-range value; opts unchanged) or
 * SEGOPS_E_NOMEM. A builder is not thread-safe: set it up on one thread. None blocks.
 * A setter checks its own option alone, so options may be set in any order;
 * the checks that relate two options run in segops_client_new.
 * A refusal says why in segops_last_error(), e.g. "segops_options_set_api_key:
 * the key ends with a line break (read from a file? strip the trailing
 * newline)" or "segops_options_set_batch_size: 0 is outside 1..100000". The
 * builder remembers why its last set_api_url / set_api_key was refused until
 * one is accepted, so segops_client_new can name that cause.
 */
/* Base URL, http:// or https://, with or without a trailing '/'. Required. */
SEGOPS_API segops_err_t segops_options_set_api_url(segops_options_t *opts, const char *url);
/* "sk_..." (secret: server side) or "pk_..." (public: session handshake). Required.
 * Another prefix is SEGOPS_E_CONFIG (the prefix chooses the mode). */
SEGOPS_API segops_err_t segops_options_set_api_key(segops_options_t *opts, const char *key);
/* true (default): queue and send in the background. false: track sends on the
 * calling thread and returns the delivery outcome. */
SEGOPS_API segops_err_t segops_options_set_batch(segops_options_t *opts, bool enabled);
/* Queued events that make a request wanted at once (default 20, 1..100000);
 * fewer wait at most 1.05 s (or flush_interval_ms, if lower). The pacing rule
 * (README, threading model) then says when it goes: a partial request at most
 * once per 1.05 s, so a steady stream fills requests (up to 500 events) instead
 * of multiplying them. */
SEGOPS_API segops_err_t segops_options_set_batch_size(segops_options_t *opts, size_t n);
/* Periodic send of whatever is queued (default 5000, 1..3600000 ms). With
 * pacing an event waits at most min(1.05 s, this) before its request is wanted. */
SEGOPS_API segops_err_t segops_options_set_flush_interval_ms(segops_options_t *opts, uint32_t ms);
/* Identity for pk_ mints; required with a pk_ key. fn NULL clears it. */
SEGOPS_API segops_err_t segops_options_set_get_user(segops_options_t *opts, segops_get_user_fn fn,
                                                    void *userdata);
/* Drop reports; fn NULL restores the stderr default. */
SEGOPS_API segops_err_t segops_options_set_on_error(segops_options_t *opts, segops_error_fn fn,
                                                    void *userdata);
/* Diagnostics; fn NULL (default) logs nothing. Lines below min_level are skipped. */
SEGOPS_API segops_err_t segops_options_set_logger(segops_options_t *opts, segops_log_fn fn,
                                                  segops_log_level_t min_level, void *userdata);
/* Queue bound in events (default 100000, 1..10000000). */
SEGOPS_API segops_err_t segops_options_set_max_queue_events(segops_options_t *opts, size_t n);
/* Queue bound in bytes of encoded events (default 32 MiB, 4 KiB..4 GiB; on
 * targets with a 32-bit size_t, 4 KiB..2 GiB). */
SEGOPS_API segops_err_t segops_options_set_max_queue_bytes(segops_options_t *opts, size_t bytes);
/* Overflow policy (default SEGOPS_OVERFLOW_DROP_NEWEST). */
SEGOPS_API segops_err_t segops_options_set_overflow(segops_options_t *opts,
                                                    segops_overflow_t policy);
/* Longest wait of a track call under SEGOPS_OVERFLOW_BLOCK (default 1000, 0..600000 ms).
 * A track on the worker thread (from on_error, logger or get_user) or from any
 * other callback never waits: only the worker frees room, so it is refused at
 * once with SEGOPS_E_QUEUE_FULL. */
SEGOPS_API segops_err_t segops_options_set_block_timeout_ms(segops_options_t *opts, uint32_t ms);
/* Largest encoded event (default 32768, 256..1048576 bytes). */
SEGOPS_API segops_err_t segops_options_set_max_event_bytes(segops_options_t *opts, size_t bytes);
/* Largest request body (default 1 MiB, 64 KiB..16 MiB). Never fewer than one event. */
SEGOPS_API segops_err_t segops_options_set_max_request_bytes(segops_options_t *opts, size_t bytes);
/* Retries of one batch after network errors, 408, 429 waits excluded, and 5xx
 * (default 10, 0..100). */
SEGOPS_API segops_err_t segops_options_set_max_retries(segops_options_t *opts, uint32_t n);
/* Exponential backoff: first wait and cap (defaults 500 and 30000 ms; 1 <= base <= cap <= 600000).
 */
SEGOPS_API segops_err_t segops_options_set_retry_backoff_ms(segops_options_t *opts,
                                                            uint32_t base_ms, uint32_t cap_ms);
/* Total time one batch may spend in retries and rate-limit waits before it is
 * dropped (default 600000 ms, 1..86400000). */
SEGOPS_API segops_err_t segops_options_set_retry_budget_ms(segops_options_t *opts, uint32_t ms);
/* Longest Retry-After honoured (default 300000 ms, 0..3600000). */
SEGOPS_API segops_err_t segops_options_set_retry_after_max_ms(segops_options_t *opts, uint32_t ms);
/* Connection phase limit (default 10000, 1..600000 ms). */
SEGOPS_API segops_err_t segops_options_set_connect_timeout_ms(segops_options_t *opts, uint32_t ms);
/* Whole-request limit (default 10000, 1..600000 ms). */
SEGOPS_API segops_err_t segops_options_set_request_timeout_ms(segops_options_t *opts, uint32_t ms);
/* With batching off: the longest one track call blocks (default 30000,
 * 1..86400000 ms). Its attempts, retries and waits all end by then (a request
 * in flight is aborted); an event not delivered by then is dropped as
 * SEGOPS_DROP_RETRIES_EXHAUSTED and the call returns the last failure's code. */
SEGOPS_API segops_err_t segops_options_set_sync_timeout_ms(segops_options_t *opts, uint32_t ms);
/* Extra trust anchors (PEM bundle file / hashed directory). Verification of the
 * peer and host name is always on and cannot be turned off. */
SEGOPS_API segops_err_t segops_options_set_ca_file(segops_options_t *opts, const char *path);
SEGOPS_API segops_err_t segops_options_set_ca_path(segops_options_t *opts, const char *path);
/* Proxy URL as libcurl takes it ("http://host:3128"); without it the
 * environment's proxy variables apply as they do for libcurl. */
SEGOPS_API segops_err_t segops_options_set_proxy(segops_options_t *opts, const char *proxy_url);
/* Allow http:// to a host other than loopback (default false: keys would cross a
 * network in clear text). */
SEGOPS_API segops_err_t segops_options_set_allow_insecure_http(segops_options_t *opts, bool allow);
/* Appended to the User-Agent after a space (printable ASCII, at most 128 bytes). */
SEGOPS_API segops_err_t segops_options_set_user_agent_suffix(segops_options_t *opts,
                                                             const char *suffix);
/* The most requests the client makes in any rolling 60 seconds, batch POSTs and
 * pk_ session mints together (default 0 = no limit of your own, 0..100000). Set it
 * to your SegOps plan's API-call limit (Free 60, Starter 300, Business 1000) or
 * to your share of it when several processes use one key. The client then spreads
 * its requests at least 60 s / n apart and packs what waits into fuller requests
 * (up to 500 events); a segops_flush or segops_shutdown may skip the spacing but
 * never the limit, so under a low limit they can wait for the window to free up
 * (a deadline still drops what could not be sent, as reported today).
 * With 0 the client still paces partial requests and lowers its own rate to what
 * the server allowed after a 429 (see the README's threading model). */
SEGOPS_API segops_err_t segops_options_set_max_requests_per_minute(segops_options_t *opts,
                                                                   uint32_t n);
/* A directory for the on-disk spool (default NULL: none, events live in memory
 * only). With a spool every accepted event is also written to files there and
 * removed once delivered or dropped for its own reason, so events survive a
 * crash, kill -9 or restart: segops_client_new sends what earlier processes
 * left. The directory is created if only its last component is missing; each
 * client writes its own locked sub-directory (run-*), so several clients and
 * processes may share one spool_dir (on a local file system: locks are flock).
 * A directory that cannot be used (missing parent, not a directory, no
 * permission, read-only file system) makes segops_client_new fail with
 * SEGOPS_E_CONFIG, and so does a spool_dir with batch = false (track then
 * sends on the caller's thread: nothing is spooled). The path is copied; NULL
 * turns the spool off; "" is SEGOPS_E_INVALID_ARG. */
SEGOPS_API segops_err_t segops_options_set_spool_dir(segops_options_t *opts, const char *path);
/* Bound on the spool's files, every run in spool_dir held by this client
 * together (default 1 GiB, 1 MiB..1 TiB). At the bound the overflow policy
 * applies as it does to the memory queue. */
SEGOPS_API segops_err_t segops_options_set_spool_max_bytes(segops_options_t *opts, uint64_t bytes);
/* Spooled events older than this (since they were tracked) are dropped as
 * SEGOPS_DROP_EXPIRED instead of sent (default 604800000 = 7 days,
 * 1000..31536000000 ms). */
SEGOPS_API segops_err_t segops_options_set_spool_max_age_ms(segops_options_t *opts, uint64_t ms);
/* fsync policy: 0 (default) never syncs, so spooled events survive the process
 * (crash, kill -9) but not a power loss or kernel crash; N > 0 syncs the spool
 * files at most N ms after a write (1..60000), which bounds what a power loss
 * can take to the last N ms, at the cost of one fdatasync per interval (about a
 * millisecond on an SSD, tens on a spinning disk). */
SEGOPS_API segops_err_t segops_options_set_spool_fsync_ms(segops_options_t *opts, uint32_t ms);
/* Opt-in flush at exit (default 0: off, 0..60000 ms). When the process calls
 * exit() (or returns from main) while this client was never shut down and
 * still holds undelivered events, the library's atexit handler calls
 * segops_shutdown(client, ms) first: what is delivered by then is delivered,
 * and what is not is dropped and reported through on_error (the stderr line by
 * default) as any shutdown's drops are. Off, or when exit() runs on a segops
 * worker thread or inside a segops callback (where a shutdown could wait for
 * itself), the handler only writes its line (see segops_shutdown). Your
 * callbacks may then run during exit: keep what they use alive until then.
 * It never replaces calling segops_shutdown yourself. */
SEGOPS_API segops_err_t segops_options_set_exit_flush_ms(segops_options_t *opts, uint32_t ms);
/* Batch requests the client may have in flight at once (default 4, 1..16), each
 * on a sender thread with its own connection. At 200 ms per request one request
 * at a time carries about 2,500 events/s; four carry 10,000. More requests in
 * flight never mean more requests per minute: every request start counts
 * against the plan (max_requests_per_minute and what a 429 taught), partial
 * requests still go at most once per 1.05 s, a second request starts only when
 * a full one's worth (500 events or max_request_bytes) waits or a flush or
 * shutdown is waiting, and while a request is failing (network error, 5xx, 429)
 * one request at a time probes the server for all. Events in requests are
 * outside the queue's bounds: memory holds the queue plus up to n + 1
 * requests' events (one full request is taken ahead while all n are busy).
 * Ignored with batch = false.
 * Order: the events of one request keep the order they were tracked in (per
 * thread), but two requests in flight may arrive in either order; occurred_at
 * (stamped at track, to the millisecond) always orders events. Set 1 to keep
 * a thread's events arriving in the order it tracked them. */
SEGOPS_API segops_err_t segops_options_set_max_in_flight(segops_options_t *opts, uint32_t n);

/* ------------------------------------------------------------------------- */
/* Client                                                                     */
/* ------------------------------------------------------------------------- */

typedef struct segops_client segops_client_t;

/* One event for segops_track_event. Zero-initialise it ({0}) and set what applies;
 * fields may be added at the end in later versions. The strings are copied. */
typedef struct segops_event {
    const char *user_id;      /* required, non-empty UTF-8 */
    const char *event_type;   /* required, non-empty UTF-8, e.g. "order_placed" */
    const char *payload_json; /* the text of a JSON object; NULL means {} */
    const char *occurred_at;  /* RFC 3339 time (any offset); NULL means now */
    const char *anonymous_id; /* optional; NULL means none */
} segops_event_t;

/* Counters since segops_client_new. All are taken under one lock, so at every
 * snapshot: enqueued == delivered + dropped + pending. */
typedef struct segops_stats {
    uint64_t enqueued;  /* events accepted by track/identify */
    uint64_t delivered; /* events the server queued */
    uint64_t dropped;   /* sum of the dropped_* counters */
    uint64_t pending;   /* queued plus in flight */
    uint64_t pending_bytes;
    uint64_t requests;    /* batch POSTs made (every attempt) */
    uint64_t retries;     /* batch POSTs that were retries */
    uint64_t bytes_sent;  /* request bodies sent */
    uint64_t token_mints; /* pk_ session handshakes attempted */
    uint64_t connections; /* new connections opened (keep-alive reuses one) */
    /* dropped, by reason (segops_drop_reason_t) */
    uint64_t dropped_queue_overflow;
    uint64_t dropped_too_large;
    uint64_t dropped_rejected;
    uint64_t dropped_retries_exhausted;
    uint64_t dropped_shutdown;
    uint64_t dropped_skipped;
    /* track calls refused before acceptance (not in enqueued), by returned code */
    uint64_t rejected_invalid_arg;
    uint64_t rejected_invalid_json;
    uint64_t rejected_too_large;
    uint64_t rejected_queue_full;
    uint64_t rejected_state;
    uint64_t rejected_other; /* SEGOPS_E_NOMEM, SEGOPS_E_INTERNAL */
    /* rate limits */
    uint64_t rate_limited;    /* 429 answers received (batch POSTs and session mints) */
    uint64_t pace_per_minute; /* requests per rolling minute the client allows itself now:
                                 the lower of max_requests_per_minute and the rate learned
                                 from the server's 429s; 0 = no limit */
    /* The spool (spool_dir). With a spool:
     * enqueued + recovered == delivered + dropped + pending. */
    uint64_t recovered;             /* events picked up from spool files earlier processes left */
    uint64_t spooled;               /* events written to the spool */
    uint64_t spool_bytes;           /* bytes of spool files on disk now */
    uint64_t spool_write_failures;  /* events a spool write failed for (disk full, I/O error) */
    uint64_t dropped_spool_corrupt; /* dropped: damaged spool records */
    uint64_t dropped_expired;       /* dropped: older than spool_max_age_ms */
    /* What operators watch: cheap, always on, read with this one call. The
     * percentiles come from fixed histograms of the recent past (buckets about
     * 12% wide from 1 ms to 17 min; a percentile is its bucket's upper edge, so
     * never below the true value and at most 12.5% above); 0 until there was a
     * sample. Synchronous sends (batch = false) count too. */
    uint64_t requests_in_flight;    /* batch POSTs sent and not yet answered, now */
    uint64_t oldest_pending_age_ms; /* age since track of the oldest event queued in memory
                                       or in a request, not yet delivered or dropped, now;
                                       0 when none (events waiting only in the spool's
                                       files are not looked at) */
    uint64_t delivery_delay_p50_ms; /* track to delivery (its request's 2xx answer), per
                                       event, over the last 4,096 delivered events ... */
    uint64_t delivery_delay_p99_ms; /* ... (events read back from a spool are left out) */
    uint64_t request_rtt_p50_ms;    /* one batch POST, sent to answered (any answer or
                                       failure), over the last 1,024 POSTs ... */
    uint64_t request_rtt_p99_ms;    /* ... */
} segops_stats_t;

/* Creates a client from a copy of opts (the caller may free opts at once) and
 * starts its worker thread (batch mode). Returns SEGOPS_OK, SEGOPS_E_INVALID_ARG
 * (NULL opts/out), SEGOPS_E_NOMEM, SEGOPS_E_INTERNAL (thread or curl start
 * failed), or SEGOPS_E_CONFIG for exactly these causes:
 *   - api_url was never set;
 *   - api_key was never set;
 *   - a pk_ key without a get_user callback;
 *   - plain http:// to a host other than loopback without allow_insecure_http;
 *   - batch_size > max_queue_events (the queue could never hold one batch);
 *   - max_event_bytes > max_queue_bytes (an event could not fit the queue);
 *   - with a spool_dir: spool_max_bytes < max_event_bytes + 32 (the spool could
 *     never hold one event with its 32-byte record header);
 *   - a spool_dir with batch = false (a synchronous send has no spool);
 *   - a spool_dir that cannot be used (its parent is missing, it is not a
 *     directory, no permission, a read-only file system, no space, no file
 *     locking).
 * Four of these relate two options, so no setter can check them. (A key without
 * the sk_/pk_ prefix is refused earlier, by segops_options_set_api_key.)
 * segops_last_error() names the cause, with the values involved ("batch_size
 * 50 is larger than max_queue_events 10"); for a URL or key that its setter
 * refused it says so ("api_url was refused by its setter: the url has no
 * scheme ..."), not "not set". With a logger set, the cause is also logged at
 * SEGOPS_LOG_ERROR. On failure *out is NULL. Thread-safe; does no network I/O. */
SEGOPS_API segops_err_t segops_client_new(const segops_options_t *opts, segops_client_t **out);

/* Tracks one event: validates on the calling thread, copies, stamps occurred_at
 * (RFC 3339 UTC, milliseconds, 'Z'), enqueues and returns. payload_json is the
 * text of one JSON object (NULL means {}), its objects and arrays nested at most
 * 64 levels deep, the payload object itself being the first level.
 * Returns SEGOPS_OK (accepted: later delivered or reported dropped),
 * SEGOPS_E_INVALID_ARG (NULL client/ids, empty or non-UTF-8 ids),
 * SEGOPS_E_INVALID_JSON (payload is not a JSON object, or is nested deeper than
 * 64 levels), SEGOPS_E_TOO_LARGE
 * (over max_event_bytes), SEGOPS_E_QUEUE_FULL (see segops_overflow_t),
 * SEGOPS_E_STATE (after shutdown) or SEGOPS_E_NOMEM.
 * Thread-safe. Never does I/O; blocks only on short internal locks (never held
 * across I/O) and, under SEGOPS_OVERFLOW_BLOCK, up to block_timeout_ms. With a
 * spool_dir, under any policy, it also waits up to block_timeout_ms for the
 * spool thread while 4096 accepted events are not yet written (the crash
 * window's bound) or, with the memory queue full, while 64 events wait to go to
 * disk only; then SEGOPS_E_QUEUE_FULL. Inside a callback it refuses at once.
 * With batching off it sends on the calling thread (retrying as configured) and
 * returns the delivery outcome instead, within sync_timeout_ms (default 30 s);
 * calls from different threads use separate connections and never wait for each
 * other. A failed send is counted as dropped and reported by the return value,
 * not through on_error; segops_last_error() then says why, with the HTTP status
 * and the server's message when there was an answer ("segops_track: not
 * delivered: HTTP 400 from the batch endpoint: <the server's detail>"). A
 * refused pk_ session mint returns SEGOPS_E_HANDSHAKE. It returns
 * SEGOPS_E_STATE when called from inside a segops callback (a logger or
 * get_user running in a send). Every refusal names its field or cause in
 * segops_last_error(). */
SEGOPS_API segops_err_t segops_track(segops_client_t *client, const char *user_id,
                                     const char *event_type, const char *payload_json);

/* segops_track with every field of segops_event_t; the same returns, plus
 * SEGOPS_E_INVALID_ARG for a NULL event, an occurred_at that is not RFC 3339 or
 * whose instant lies outside 0000-01-01T00:00:00Z..9999-12-31T23:59:59.999Z
 * (e.g. year 0000 at +14:00, year 9999 at -14:00), or an empty/non-UTF-8
 * anonymous_id. occurred_at may carry any number of fraction digits; it is sent
 * in UTC truncated (not rounded) to the millisecond. */
SEGOPS_API segops_err_t segops_track_event(segops_client_t *client, const segops_event_t *event);

/* Tracks a "context_identified" event whose payload is traits_json (NULL = {}).
 * The same returns, thread-safety and blocking as segops_track. */
SEGOPS_API segops_err_t segops_identify(segops_client_t *client, const char *user_id,
                                        const char *traits_json);

/* Sends everything queued now and waits until every event tracked before the
 * call is delivered or dropped (and reported); with a spool_dir, also what waits
 * on disk (spilled, or left by earlier clients). timeout_ms < 0 waits without a
 * deadline. Returns SEGOPS_OK, SEGOPS_E_TIMEOUT (the deadline passed first; the
 * events stay queued), SEGOPS_E_INVALID_ARG (NULL client), SEGOPS_E_STATE
 * (after shutdown, or called from inside a segops callback), or, in a forked
 * child whose worker could not start, SEGOPS_E_NOMEM / SEGOPS_E_INTERNAL.
 * A shutdown that begins during the flush decides the rest: the flush returns
 * once it finished (or at its own deadline), SEGOPS_E_TIMEOUT when the
 * shutdown left events on disk for the next client (spool_dir). Thread-safe. */
SEGOPS_API segops_err_t segops_flush(segops_client_t *client, int timeout_ms);

/* Flushes, then stops and joins the worker. Whatever is undelivered at the
 * deadline (timeout_ms < 0: none) is dropped and reported as SEGOPS_DROP_SHUTDOWN
 * (reported before it is counted); a request in flight is aborted at the
 * deadline, and its report says the server may have received it. Returns
 * SEGOPS_OK (all delivered or dropped for their own reasons), SEGOPS_E_TIMEOUT
 * (events were dropped at the deadline), SEGOPS_E_INVALID_ARG (NULL client) or
 * SEGOPS_E_STATE (inside a callback).
 * With a spool_dir what is in the spool is not dropped at the deadline: what is
 * not delivered by then (in memory, in flight or on disk) stays in the spool for
 * the next client on that directory, is not reported, stays counted in
 * stats.pending, and the call returns SEGOPS_E_TIMEOUT; SEGOPS_OK means nothing
 * was left. Events the spool could not take (spool_max_bytes reached, a full or
 * failing disk) are only in memory: they are dropped and reported as
 * SEGOPS_DROP_SHUTDOWN, as without a spool.
 * Idempotent and thread-safe: the first call drives the shutdown and blocks
 * until the worker has stopped (the deadline plus a few ms). Every other call,
 * concurrent or later, waits for that with its own timeout_ms and returns the
 * first call's result, or SEGOPS_E_TIMEOUT when its own deadline passes first
 * (the shutdown then goes on).
 *
 * Exiting without it: the events a batching client holds live in its memory and
 * worker thread, which exit() ends; by default the library does not send at
 * exit (the worker may be mid-request, the application's callbacks may be torn
 * down, and the exiting thread may be one that must not wait). An atexit handler,
 * installed with the first client, writes one line to stderr for each client
 * that was never shut down and still holds undelivered events:
 *   "segops: 1000 events were not sent: the process exited without
 *    segops_shutdown (they are lost)"
 * (with a spool_dir: "(they stay in the spool for the next client)"). A client
 * shut down or freed, holding nothing, or inherited by a forked child (which
 * never inherits events) prints nothing. _exit, quick_exit, crashes and fatal
 * signals run no atexit handler. To have the handler try to deliver first, with
 * a bound, set segops_options_set_exit_flush_ms. */
SEGOPS_API segops_err_t segops_shutdown(segops_client_t *client, int timeout_ms);

/* Shuts down (without a deadline if never shut down: call segops_shutdown first
 * to bound it), then frees the client and wipes its secrets. NULL-safe; does
 * nothing when called from inside a segops callback. No other call may use the
 * client during or after this one. */
SEGOPS_API void segops_client_free(segops_client_t *client);

/* Copies a consistent snapshot of the counters into *out. Returns SEGOPS_OK or
 * SEGOPS_E_INVALID_ARG. Thread-safe; takes the queue lock briefly; never does
 * file I/O (also callable from a logger or on_error). */
SEGOPS_API segops_err_t segops_client_stats(segops_client_t *client, segops_stats_t *out);

/* ------------------------------------------------------------------------- */
/* Payload builder                                                            */
/* ------------------------------------------------------------------------- */

/*
 * A payload (or traits) object built from typed values, so no caller writes or
 * escapes JSON text by hand:
 *
 *   segops_props_t *p;
 *   segops_props_new(&p);
 *   segops_props_set_string(p, "sku", sku);        // any UTF-8: quotes, control chars
 *   segops_props_set_double(p, "total", 42.5);
 *   segops_props_set_int(p, "qty", 3);
 *   segops_track_props(client, user_id, "order_placed", p);
 *   segops_props_free(p);
 *
 * The builder keeps the object as compact JSON text, members in the order their
 * keys were first set. Setting a key again replaces its value in place (like a
 * dict). A builder made with segops_props_new_array holds a JSON array instead:
 * its setters take key NULL and append. Nested objects and arrays: a child
 * builder (segops_props_set_props) or JSON text (segops_props_set_json).
 *
 * Every setter returns SEGOPS_OK, SEGOPS_E_INVALID_ARG (NULL props; a NULL key
 * on an object builder or a non-NULL key on an array builder; a key or string
 * that is not valid UTF-8 or holds a NUL; a NaN or infinite double; nesting over
 * 64 levels), SEGOPS_E_INVALID_JSON (segops_props_set_json with text that is not
 * one JSON value) or SEGOPS_E_NOMEM. A setter that fails leaves the builder
 * exactly as it was. Setters copy their inputs; the caller keeps ownership of
 * every pointer it passes.
 *
 * Numbers keep their value on the wire: integers exactly (INT64_MIN included);
 * doubles in the shortest of 15, 16 or 17 significant digits that reads back as
 * the same double ("%.15g" first: 0.1 -> 0.1, 42.5 -> 42.5, 42.0 -> 42,
 * 1e300 -> 1e+300), whatever the process's LC_NUMERIC locale.
 *
 * Not thread-safe: one thread modifies a builder at a time. Calls that only read
 * it (segops_props_json, segops_track_props, ...) may share an unchanging
 * builder across threads. A builder is reusable: tracking copies it. No builder
 * function blocks or does I/O.
 */
typedef struct segops_props segops_props_t;

/* Creates an empty object builder ({}). Returns SEGOPS_OK, SEGOPS_E_INVALID_ARG
 * (out NULL) or SEGOPS_E_NOMEM; on failure *out is NULL. The caller owns *out
 * and frees it with segops_props_free. */
SEGOPS_API segops_err_t segops_props_new(segops_props_t **out);

/* Creates an empty array builder ([]): its setters take key NULL and append, and
 * it can only be nested (segops_props_set_props); tracking it as a payload is
 * SEGOPS_E_INVALID_JSON. Returns as segops_props_new. */
SEGOPS_API segops_err_t segops_props_new_array(segops_props_t **out);

/* Frees a builder. NULL-safe. */
SEGOPS_API void segops_props_free(segops_props_t *props);

/* Removes every member, keeping the builder's memory for reuse. NULL-safe. */
SEGOPS_API void segops_props_clear(segops_props_t *props);

/* The builder's JSON text (compact, NUL-terminated), owned by the builder and
 * valid until it is next modified or freed; *len (optional) receives its length.
 * NULL props gives "{}". */
SEGOPS_API const char *segops_props_json(const segops_props_t *props, size_t *len);

/* Typed setters; see the returns above. value is copied (set_string: NULL value
 * is SEGOPS_E_INVALID_ARG; use segops_props_set_null). */
SEGOPS_API segops_err_t segops_props_set_string(segops_props_t *props, const char *key,
                                                const char *value);
SEGOPS_API segops_err_t segops_props_set_int(segops_props_t *props, const char *key, int64_t value);
SEGOPS_API segops_err_t segops_props_set_double(segops_props_t *props, const char *key,
                                                double value);
SEGOPS_API segops_err_t segops_props_set_bool(segops_props_t *props, const char *key, bool value);
SEGOPS_API segops_err_t segops_props_set_null(segops_props_t *props, const char *key);
/* Any one JSON value (object, array, string, number, literal), validated
 * (SEGOPS_E_INVALID_JSON otherwise) and stored without surrounding white space. */
SEGOPS_API segops_err_t segops_props_set_json(segops_props_t *props, const char *key,
                                              const char *json);
/* Nests a copy of child's current object or array (child is not retained and
 * stays the caller's). child NULL or child == props is SEGOPS_E_INVALID_ARG. */
SEGOPS_API segops_err_t segops_props_set_props(segops_props_t *props, const char *key,
                                               const segops_props_t *child);

/* One value of any kind, for segops_props_set_value. */
typedef enum segops_value_type {
    SEGOPS_VALUE_NULL = 0,
    SEGOPS_VALUE_BOOL = 1,
    SEGOPS_VALUE_INT = 2,
    SEGOPS_VALUE_DOUBLE = 3,
    SEGOPS_VALUE_STRING = 4, /* as.text: UTF-8, need not be NUL-terminated */
    SEGOPS_VALUE_JSON = 5,   /* as.text: one JSON value, validated */
    SEGOPS_VALUE_PROPS = 6   /* as.props: a builder, nested as a copy */
} segops_value_type_t;

typedef struct segops_value {
    segops_value_type_t type;
    union {
        bool boolean;
        int64_t integer;
        double number;
        struct {
            const char *data;
            size_t len;
        } text;
        const segops_props_t *props;
    } as;
} segops_value_t;

/* The setter every typed one is made of, with an explicit key length (keys and
 * strings need not be NUL-terminated: for C++ string_view and the like). key
 * NULL appends to an array builder. Returns as the typed setters, plus
 * SEGOPS_E_INVALID_ARG for a NULL value or an unknown type. */
SEGOPS_API segops_err_t segops_props_set_value(segops_props_t *props, const char *key,
                                               size_t key_len, const segops_value_t *value);

/* segops_track with the builder's object as payload (props NULL means {}). The
 * builder's text is not validated again: the builder only ever holds valid JSON.
 * Returns, counts refusals in segops_stats_t and blocks exactly as segops_track
 * (SEGOPS_E_INVALID_JSON when props is an array builder). Thread-safe for the
 * client; props is only read and may be reused or freed once the call returns. */
SEGOPS_API segops_err_t segops_track_props(segops_client_t *client, const char *user_id,
                                           const char *event_type, const segops_props_t *props);

/* segops_track_event with the builder as payload: event->payload_json must be
 * NULL (SEGOPS_E_INVALID_ARG otherwise). Otherwise as segops_track_props. */
SEGOPS_API segops_err_t segops_track_event_props(segops_client_t *client,
                                                 const segops_event_t *event,
                                                 const segops_props_t *props);

/* segops_identify with the builder's object as traits (NULL means {}). Returns
 * and blocks as segops_track_props. */
SEGOPS_API segops_err_t segops_identify_props(segops_client_t *client, const char *user_id,
                                              const segops_props_t *traits);

/* ------------------------------------------------------------------------- */
/* Signing (backend helpers; no client needed)                                */
/* ------------------------------------------------------------------------- */

typedef struct segops_signed_user {
    char user_id_sig[65]; /* lowercase hex HMAC-SHA256, NUL-terminated */
    int64_t user_id_ts;   /* unix seconds signed */
} segops_signed_user_t;

/* Signs "<user_id>|<unix_ts>" with HMAC-SHA256 keyed by the hex-decoded secret.
 * unix_ts <= 0 means now. Returns SEGOPS_OK, SEGOPS_E_INVALID_ARG (NULL argument,
 * empty or non-UTF-8 user_id, secret empty or not even-length hex),
 * SEGOPS_E_NOMEM (user ids over 512 bytes are copied to the heap) or
 * SEGOPS_E_CRYPTO. Nothing is retained. Thread-safe; never blocks. */
SEGOPS_API segops_err_t segops_sign_user_id(const char *hmac_secret_hex, const char *user_id,
                                            int64_t unix_ts, segops_signed_user_t *out);

/* Checks a signature: SEGOPS_OK when it matches (compared in constant time) and
 * |now - user_id_ts| <= tolerance_s (now <= 0 means the current time);
 * SEGOPS_E_AUTH when it does not match or is outside the window;
 * SEGOPS_E_INVALID_ARG for malformed arguments; SEGOPS_E_NOMEM; SEGOPS_E_CRYPTO.
 * Thread-safe. */
SEGOPS_API segops_err_t segops_verify_user_id(const char *hmac_secret_hex, const char *user_id,
                                              const char *user_id_sig, int64_t user_id_ts,
                                              int64_t now, int64_t tolerance_s);

/* Writes {"user_id":...,"user_id_sig":"...","user_id_ts":N} (user_id JSON-escaped)
 * into buf, NUL-terminated. *needed (optional) receives the size including the
 * NUL. Returns SEGOPS_OK, SEGOPS_E_TOO_LARGE (buflen too small; buf untouched,
 * *needed set), or SEGOPS_E_INVALID_ARG. buf may be NULL when buflen is 0.
 * Thread-safe; never blocks. */
SEGOPS_API segops_err_t segops_signed_user_json(const char *user_id,
                                                const segops_signed_user_t *signed_user, char *buf,
                                                size_t buflen, size_t *needed);

/* Writes a random (version 4) UUID, 36 characters plus NUL, lowercase.
 * Returns SEGOPS_OK, SEGOPS_E_INVALID_ARG or SEGOPS_E_CRYPTO. Thread-safe. */
SEGOPS_API segops_err_t segops_new_anonymous_id(char out[37]);

#ifdef __cplusplus
}
#endif

#endif /* SEGOPS_SEGOPS_H */
