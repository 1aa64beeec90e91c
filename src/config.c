/* Options: defaults, setters with range checks, copy, and the client-time check. */
#include "config.h"

#include <stdio.h>
#include <strings.h>

#include "crypto.h"
#include "json_text.h"
#include "spool_record.h"

/* The one table of defaults. README.md "Options" lists the same values; a unit
 * test keeps the two in step. */
static const segops_options_t defaults = {
    .batch = true,
    .batch_size = 20,
    .flush_interval_ms = 5000,
    .log_level = SEGOPS_LOG_INFO,
    .max_queue_events = 100000,
    .max_queue_bytes = (size_t)32 << 20,
    .overflow = SEGOPS_OVERFLOW_DROP_NEWEST,
    .block_timeout_ms = 1000,
    .max_event_bytes = 32768,
    .max_request_bytes = (size_t)1 << 20,
    .max_retries = 10,
    .retry_base_ms = 500,
    .retry_cap_ms = 30000,
    .retry_budget_ms = 600000,
    .retry_after_max_ms = 300000,
    .connect_timeout_ms = 10000,
    .request_timeout_ms = 10000,
    .sync_timeout_ms = 30000,
    .allow_insecure_http = false,
    .max_requests_per_minute = 0,
    .spool_max_bytes = (uint64_t)1 << 30,
    .spool_max_age_ms = (uint64_t)7 * 24 * 3600 * 1000,
    .spool_fsync_ms = 0,
    .max_in_flight = 4,
};

const segops_options_t *segops__config_defaults(void) { return &defaults; }

segops_err_t segops_options_new(segops_options_t **out) {
    if (!out) return SEGOPS_E_INVALID_ARG;
    *out = segops__malloc(sizeof **out);
    if (!*out) return SEGOPS_E_NOMEM;
    **out = defaults;
    return SEGOPS_OK;
}

void segops_options_free(segops_options_t *opts) {
    if (!opts) return;
    segops__free(opts->api_url);
    segops__secret_free(opts->api_key);
    segops__free(opts->ca_file);
    segops__free(opts->ca_path);
    segops__secret_free(opts->proxy); /* a proxy URL may carry credentials */
    segops__free(opts->user_agent_suffix);
    segops__free(opts->spool_dir);
    segops__free(opts);
}

/* Replaces *slot with a copy of value (NULL clears it). */
static segops_err_t set_string(char **slot, const char *value, bool secret) {
    char *copy = NULL;
    if (value && !(copy = segops__strdup(value))) return SEGOPS_E_NOMEM;
    if (secret)
        segops__secret_free(*slot);
    else
        segops__free(*slot);
    *slot = copy;
    return SEGOPS_OK;
}

static bool printable_ascii(const char *s, size_t max_len) {
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f || n >= max_len)
            return false;
    return n > 0;
}

static bool has_prefix_ci(const char *s, const char *prefix) {
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* The host part of an http(s) URL, as [start, start+len). */
static bool url_host(const char *url, const char **host, size_t *len) {
    const char *p = strstr(url, "://");
    if (!p) return false;
    p += 3;
    const char *end;
    if (*p == '[') {
        end = strchr(p, ']');
        if (!end) return false;
        end++;
    } else {
        end = p + strcspn(p, ":/");
    }
    *host = p;
    *len = (size_t)(end - p);
    return *len > 0;
}

static bool host_is_loopback(const char *host, size_t len) {
    if ((len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
        (len == 5 && !memcmp(host, "[::1]", 5)))
        return true;
    return len >= 4 && !memcmp(host, "127.", 4) && strspn(host, "0123456789.") >= len;
}

segops_err_t segops_options_set_api_url(segops_options_t *opts, const char *url) {
    if (!opts || !url || !printable_ascii(url, 2048)) return SEGOPS_E_INVALID_ARG;
    if (!has_prefix_ci(url, "http://") && !has_prefix_ci(url, "https://"))
        return SEGOPS_E_INVALID_ARG;
    const char *host;
    size_t host_len;
    /* No credentials, query or fragment in a base URL: they would end up in logs. */
    if (!url_host(url, &host, &host_len) || strpbrk(url, "@?#")) return SEGOPS_E_INVALID_ARG;
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/') len--;
    char *copy = segops__strndup(url, len);
    if (!copy) return SEGOPS_E_NOMEM;
    segops__free(opts->api_url);
    opts->api_url = copy;
    return SEGOPS_OK;
}

segops_err_t segops_options_set_api_key(segops_options_t *opts, const char *key) {
    if (!opts || !key || !printable_ascii(key, 1024)) return SEGOPS_E_INVALID_ARG;
    if ((strncmp(key, "sk_", 3) != 0 && strncmp(key, "pk_", 3) != 0) || !key[3])
        return SEGOPS_E_CONFIG; /* the prefix chooses the mode; anything else is misconfigured */
    return set_string(&opts->api_key, key, true);
}

segops_err_t segops_options_set_batch(segops_options_t *opts, bool enabled) {
    if (!opts) return SEGOPS_E_INVALID_ARG;
    opts->batch = enabled;
    return SEGOPS_OK;
}

static bool in_range(uint64_t value, uint64_t lo, uint64_t hi) {
    return value >= lo && value <= hi;
}

/* Range-checked numeric setters: one line each. */
#define RANGE_SETTER(name, type, field, lo, hi)                                                    \
    segops_err_t segops_options_set_##name(segops_options_t *opts, type value) {                   \
        if (!opts || !in_range(value, (lo), (hi))) return SEGOPS_E_INVALID_ARG;                    \
        opts->field = value;                                                                       \
        return SEGOPS_OK;                                                                          \
    }

RANGE_SETTER(batch_size, size_t, batch_size, 1, 100000)
RANGE_SETTER(flush_interval_ms, uint32_t, flush_interval_ms, 1, 3600000)
RANGE_SETTER(max_queue_events, size_t, max_queue_events, 1, 10000000)
RANGE_SETTER(max_queue_bytes, size_t, max_queue_bytes, 4096, SEGOPS__MAX_QUEUE_BYTES_LIMIT)
RANGE_SETTER(block_timeout_ms, uint32_t, block_timeout_ms, 0, 600000)
RANGE_SETTER(max_event_bytes, size_t, max_event_bytes, 256, 1048576)
RANGE_SETTER(max_request_bytes, size_t, max_request_bytes, 65536, (size_t)16 << 20)
RANGE_SETTER(max_retries, uint32_t, max_retries, 0, 100)
RANGE_SETTER(retry_budget_ms, uint32_t, retry_budget_ms, 1, 86400000)
RANGE_SETTER(retry_after_max_ms, uint32_t, retry_after_max_ms, 0, 3600000)
RANGE_SETTER(connect_timeout_ms, uint32_t, connect_timeout_ms, 1, 600000)
RANGE_SETTER(request_timeout_ms, uint32_t, request_timeout_ms, 1, 600000)
RANGE_SETTER(sync_timeout_ms, uint32_t, sync_timeout_ms, 1, 86400000)
RANGE_SETTER(max_requests_per_minute, uint32_t, max_requests_per_minute, 0,
             SEGOPS__MAX_REQUESTS_PER_MINUTE)
RANGE_SETTER(spool_max_bytes, uint64_t, spool_max_bytes, (uint64_t)1 << 20, (uint64_t)1 << 40)
RANGE_SETTER(spool_max_age_ms, uint64_t, spool_max_age_ms, 1000, (uint64_t)365 * 24 * 3600 * 1000)
RANGE_SETTER(spool_fsync_ms, uint32_t, spool_fsync_ms, 0, 60000)
RANGE_SETTER(max_in_flight, uint32_t, max_in_flight, 1, SEGOPS__MAX_IN_FLIGHT)

segops_err_t segops_options_set_retry_backoff_ms(segops_options_t *opts, uint32_t base_ms,
                                                 uint32_t cap_ms) {
    if (!opts || base_ms < 1 || base_ms > cap_ms || cap_ms > 600000) return SEGOPS_E_INVALID_ARG;
    opts->retry_base_ms = base_ms;
    opts->retry_cap_ms = cap_ms;
    return SEGOPS_OK;
}

segops_err_t segops_options_set_overflow(segops_options_t *opts, segops_overflow_t policy) {
    if (!opts || (policy != SEGOPS_OVERFLOW_DROP_NEWEST && policy != SEGOPS_OVERFLOW_DROP_OLDEST &&
                  policy != SEGOPS_OVERFLOW_BLOCK))
        return SEGOPS_E_INVALID_ARG;
    opts->overflow = policy;
    return SEGOPS_OK;
}

segops_err_t segops_options_set_get_user(segops_options_t *opts, segops_get_user_fn fn,
                                         void *userdata) {
    if (!opts) return SEGOPS_E_INVALID_ARG;
    opts->get_user = fn;
    opts->get_user_data = fn ? userdata : NULL;
    return SEGOPS_OK;
}

segops_err_t segops_options_set_on_error(segops_options_t *opts, segops_error_fn fn,
                                         void *userdata) {
    if (!opts) return SEGOPS_E_INVALID_ARG;
    opts->on_error = fn;
    opts->on_error_data = fn ? userdata : NULL;
    return SEGOPS_OK;
}

segops_err_t segops_options_set_logger(segops_options_t *opts, segops_log_fn fn,
                                       segops_log_level_t min_level, void *userdata) {
    if (!opts || min_level < SEGOPS_LOG_DEBUG || min_level > SEGOPS_LOG_ERROR)
        return SEGOPS_E_INVALID_ARG;
    opts->logger = fn;
    opts->log_level = min_level;
    opts->logger_data = fn ? userdata : NULL;
    return SEGOPS_OK;
}

static segops_err_t set_path(char **slot, const char *path) {
    if (path && (!*path || strlen(path) > 4096)) return SEGOPS_E_INVALID_ARG;
    return set_string(slot, path, false);
}

segops_err_t segops_options_set_ca_file(segops_options_t *opts, const char *path) {
    return opts ? set_path(&opts->ca_file, path) : SEGOPS_E_INVALID_ARG;
}

segops_err_t segops_options_set_ca_path(segops_options_t *opts, const char *path) {
    return opts ? set_path(&opts->ca_path, path) : SEGOPS_E_INVALID_ARG;
}

segops_err_t segops_options_set_spool_dir(segops_options_t *opts, const char *path) {
    return opts ? set_path(&opts->spool_dir, path) : SEGOPS_E_INVALID_ARG;
}

segops_err_t segops_options_set_proxy(segops_options_t *opts, const char *proxy_url) {
    if (!opts || (proxy_url && !printable_ascii(proxy_url, 2048))) return SEGOPS_E_INVALID_ARG;
    return set_string(&opts->proxy, proxy_url, true);
}

segops_err_t segops_options_set_allow_insecure_http(segops_options_t *opts, bool allow) {
    if (!opts) return SEGOPS_E_INVALID_ARG;
    opts->allow_insecure_http = allow;
    return SEGOPS_OK;
}

segops_err_t segops_options_set_user_agent_suffix(segops_options_t *opts, const char *suffix) {
    if (!opts) return SEGOPS_E_INVALID_ARG;
    if (suffix) { /* printable ASCII, spaces allowed inside */
        size_t n = strlen(suffix);
        if (n == 0 || n > 128) return SEGOPS_E_INVALID_ARG;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)suffix[i] < 0x20 || (unsigned char)suffix[i] >= 0x7f)
                return SEGOPS_E_INVALID_ARG;
    }
    return set_string(&opts->user_agent_suffix, suffix, false);
}

segops_err_t segops__config_copy(const segops_options_t *src, segops_options_t **out) {
    segops_options_t *copy = segops__malloc(sizeof *copy);
    *out = NULL;
    if (!copy) return SEGOPS_E_NOMEM;
    *copy = *src;
    copy->api_url = copy->api_key = copy->ca_file = copy->ca_path = copy->proxy = NULL;
    copy->user_agent_suffix = copy->spool_dir = NULL;
    char **dst[] = {&copy->api_url, &copy->api_key,           &copy->ca_file,  &copy->ca_path,
                    &copy->proxy,   &copy->user_agent_suffix, &copy->spool_dir};
    const char *from[] = {src->api_url, src->api_key,           src->ca_file,  src->ca_path,
                          src->proxy,   src->user_agent_suffix, src->spool_dir};
    for (size_t i = 0; i < SEGOPS__ARRAY_LEN(dst); i++) {
        if (from[i] && !(*dst[i] = segops__strdup(from[i]))) {
            segops_options_free(copy);
            return SEGOPS_E_NOMEM;
        }
    }
    *out = copy;
    return SEGOPS_OK;
}

bool segops__config_is_public_key(const segops_options_t *opts) {
    return opts->api_key && strncmp(opts->api_key, "pk_", 3) == 0;
}

segops_err_t segops__config_check(const segops_options_t *opts, char *why, size_t why_len) {
    const char *reason = NULL;
    const char *host;
    size_t host_len;
    if (!opts->api_url)
        reason = "api_url is not set";
    else if (!opts->api_key)
        reason = "api_key is not set";
    else if (segops__config_is_public_key(opts) && !opts->get_user)
        reason = "a pk_ key needs a get_user callback for the session handshake";
    else if (has_prefix_ci(opts->api_url, "http://") && !opts->allow_insecure_http &&
             url_host(opts->api_url, &host, &host_len) && !host_is_loopback(host, host_len))
        reason = "plain http:// to a non-loopback host would send the key in clear text "
                 "(use https:// or allow_insecure_http)";
    else if (opts->batch_size > opts->max_queue_events)
        reason = "batch_size is larger than max_queue_events";
    else if (opts->max_event_bytes > opts->max_queue_bytes)
        reason = "max_event_bytes is larger than max_queue_bytes";
    else if (opts->spool_dir &&
             opts->spool_max_bytes < opts->max_event_bytes + SEGOPS__SPOOL_RECORD_HEADER)
        reason = "spool_max_bytes cannot hold one event of max_event_bytes";
    if (!reason) return SEGOPS_OK;
    if (why && why_len) snprintf(why, why_len, "%s", reason);
    return SEGOPS_E_CONFIG;
}
