/* Options: the builder behind segops_options_t, its defaults (one table, in
 * config.c) and the validation a client runs on it. A client keeps its own
 * frozen copy. */
#ifndef SEGOPS_CONFIG_H
#define SEGOPS_CONFIG_H

#include "common.h"

struct segops_options {
    char *api_url; /* without trailing '/' */
    char *api_key; /* secret: wiped on free, never logged */
    bool batch;
    size_t batch_size;
    uint32_t flush_interval_ms;
    segops_get_user_fn get_user;
    void *get_user_data;
    segops_error_fn on_error;
    void *on_error_data;
    segops_log_fn logger;
    segops_log_level_t log_level;
    void *logger_data;
    size_t max_queue_events;
    size_t max_queue_bytes;
    segops_overflow_t overflow;
    uint32_t block_timeout_ms;
    size_t max_event_bytes;
    size_t max_request_bytes;
    uint32_t max_retries;
    uint32_t retry_base_ms;
    uint32_t retry_cap_ms;
    uint32_t retry_budget_ms;
    uint32_t retry_after_max_ms;
    uint32_t connect_timeout_ms;
    uint32_t request_timeout_ms;
    uint32_t sync_timeout_ms;
    char *ca_file;
    char *ca_path;
    char *proxy;
    char *user_agent_suffix;
    bool allow_insecure_http;
    uint32_t max_requests_per_minute; /* 0 = no limit of the application's own */
    char *spool_dir;                  /* NULL: no spool */
    uint64_t spool_max_bytes;
    uint64_t spool_max_age_ms;
    uint32_t spool_fsync_ms; /* 0: never */
    uint32_t exit_flush_ms;  /* 0: at exit, only say what was never sent */
    uint32_t max_in_flight;  /* batch requests in flight at once, 1..SEGOPS__MAX_IN_FLIGHT */
    /* Why the last set_api_url / set_api_key was refused ("" when it was not),
     * so segops_client_new can name the real cause of a missing one. */
    char api_url_refused[SEGOPS__DETAIL_LEN];
    char api_key_refused[SEGOPS__DETAIL_LEN];
};

/* The largest max_queue_bytes: 4 GiB where size_t has 64 bits. Where it has 32
 * bits, 2 GiB: the queue adds an event's bytes (up to 1 MiB) to its count
 * before it compares the sum with the bound, and that sum must fit a size_t. */
#if SIZE_MAX > UINT32_MAX
#define SEGOPS__MAX_QUEUE_BYTES_LIMIT ((size_t)4 << 30)
#else
#define SEGOPS__MAX_QUEUE_BYTES_LIMIT ((size_t)1 << 31)
#endif
/* The largest max_requests_per_minute the setter accepts. */
#define SEGOPS__MAX_REQUESTS_PER_MINUTE 100000u

/* The defaults every new builder starts from (the README table mirrors it). */
const segops_options_t *segops__config_defaults(void);

/* Deep copy. SEGOPS_E_NOMEM on failure (*out NULL). */
segops_err_t segops__config_copy(const segops_options_t *src, segops_options_t **out);

/* Checks that the options can make a client: SEGOPS_OK or SEGOPS_E_CONFIG with a
 * one-line reason (never containing the key) in why. */
segops_err_t segops__config_check(const segops_options_t *opts, char *why, size_t why_len);

/* True for a pk_ key (session handshake), false for sk_. */
bool segops__config_is_public_key(const segops_options_t *opts);

#endif
