/* Options: defaults, setters with range checks, copy, and the client-time check. */
#include "config.h"

#include <stdio.h>
#include <strings.h>

#include "crypto.h"
#include "json_text.h"
#include "last_error.h"
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
    .exit_flush_ms = 0,
    .max_in_flight = 4,
};

const segops_options_t *segops__config_defaults(void) { return &defaults; }

segops_err_t segops_options_new(segops_options_t **out) {
    if (!out) return segops__fail(SEGOPS_E_INVALID_ARG, "segops_options_new: out is NULL");
    *out = segops__malloc(sizeof **out);
    if (!*out) return segops__fail(SEGOPS_E_NOMEM, "segops_options_new: out of memory");
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

/* A setter's refusal: its reason, prefixed with the setter's name. */
#define REFUSE(err, setter, ...) segops__fail((err), "segops_options_set_" setter ": " __VA_ARGS__)
#define NO_OPTS(setter) REFUSE(SEGOPS_E_INVALID_ARG, setter, "opts is NULL")

/* Replaces *slot with a copy of value (NULL clears it). */
static segops_err_t set_string(char **slot, const char *value, bool secret, const char *setter) {
    char *copy = NULL;
    if (value && !(copy = segops__strdup(value)))
        return segops__fail(SEGOPS_E_NOMEM, "segops_options_set_%s: out of memory", setter);
    if (secret)
        segops__secret_free(*slot);
    else
        segops__free(*slot);
    *slot = copy;
    return SEGOPS_OK;
}

/* Why s is not printable ASCII without spaces of 1..max_len bytes, or NULL
 * when it is. The reason names the fault, never the text (it may be a key). */
static const char *not_printable_ascii(const char *s, size_t max_len) {
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= max_len) return "is too long";
        if ((c == '\n' || c == '\r') && !s[n + 1 + (c == '\r' && s[n + 1] == '\n')])
            return "ends with a line break (read from a file? strip the trailing newline)";
        if (c <= 0x20 || c == 0x7f) return "contains white space or a control character";
        if (c >= 0x80) return "contains a non-ASCII byte";
    }
    return n ? NULL : "is empty";
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

/* Why url cannot be a base URL, or NULL. The URL is not quoted: it may hold
 * credentials. */
static const char *bad_base_url(const char *url) {
    const char *why = not_printable_ascii(url, 2048);
    if (why) return why;
    if (!has_prefix_ci(url, "http://") && !has_prefix_ci(url, "https://"))
        return strstr(url, "://")
                   ? "the scheme is not http:// or https://"
                   : "has no scheme (write https://host, e.g. https://api.segops.ai)";
    const char *host;
    size_t host_len;
    if (!url_host(url, &host, &host_len)) return "has no host after the scheme";
    /* No credentials, query or fragment in a base URL: they would end up in logs. */
    if (strchr(url, '@')) return "holds credentials (user@host), which would end up in logs";
    if (strpbrk(url, "?#")) return "holds a query or fragment ('?' or '#')";
    return NULL;
}

segops_err_t segops_options_set_api_url(segops_options_t *opts, const char *url) {
    if (!opts) return NO_OPTS("api_url");
    const char *why = url ? bad_base_url(url) : "is NULL";
    if (why) {
        snprintf(opts->api_url_refused, sizeof opts->api_url_refused, "the url %s", why);
        return REFUSE(SEGOPS_E_INVALID_ARG, "api_url", "the url %s", why);
    }
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/') len--;
    char *copy = segops__strndup(url, len);
    if (!copy) return REFUSE(SEGOPS_E_NOMEM, "api_url", "out of memory");
    segops__free(opts->api_url);
    opts->api_url = copy;
    opts->api_url_refused[0] = '\0';
    return SEGOPS_OK;
}

segops_err_t segops_options_set_api_key(segops_options_t *opts, const char *key) {
    if (!opts) return NO_OPTS("api_key");
    segops_err_t err = SEGOPS_E_INVALID_ARG;
    const char *why = key ? not_printable_ascii(key, 1024) : "is NULL";
    if (!why) {
        /* strncmp stops at a shorter key's NUL, so key[3] is read only past a prefix. */
        bool prefixed = strncmp(key, "sk_", 3) == 0 || strncmp(key, "pk_", 3) == 0;
        if (!prefixed)
            why = "does not start with sk_ or pk_ (the prefix chooses the mode)";
        else if (!key[3])
            why = "has nothing after its sk_/pk_ prefix";
        /* the prefix chooses the mode; anything else is misconfigured */
        if (why) err = SEGOPS_E_CONFIG;
    }
    if (why) {
        snprintf(opts->api_key_refused, sizeof opts->api_key_refused, "the key %s", why);
        return REFUSE(err, "api_key", "the key %s", why);
    }
    if ((err = set_string(&opts->api_key, key, true, "api_key")) == SEGOPS_OK)
        opts->api_key_refused[0] = '\0';
    return err;
}

segops_err_t segops_options_set_batch(segops_options_t *opts, bool enabled) {
    if (!opts) return NO_OPTS("batch");
    opts->batch = enabled;
    return SEGOPS_OK;
}

static bool in_range(uint64_t value, uint64_t lo, uint64_t hi) {
    return value >= lo && value <= hi;
}

/* Range-checked numeric setters: one line each. */
#define RANGE_SETTER(name, type, field, lo, hi)                                                    \
    segops_err_t segops_options_set_##name(segops_options_t *opts, type value) {                   \
        if (!opts) return NO_OPTS(#name);                                                          \
        if (!in_range(value, (lo), (hi)))                                                          \
            return REFUSE(SEGOPS_E_INVALID_ARG, #name, "%llu is outside %llu..%llu",               \
                          (unsigned long long)value, (unsigned long long)(lo),                     \
                          (unsigned long long)(hi));                                               \
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
RANGE_SETTER(exit_flush_ms, uint32_t, exit_flush_ms, 0, 60000)
RANGE_SETTER(max_in_flight, uint32_t, max_in_flight, 1, SEGOPS__MAX_IN_FLIGHT)

segops_err_t segops_options_set_retry_backoff_ms(segops_options_t *opts, uint32_t base_ms,
                                                 uint32_t cap_ms) {
    if (!opts) return NO_OPTS("retry_backoff_ms");
    if (base_ms < 1 || base_ms > cap_ms || cap_ms > 600000)
        return REFUSE(SEGOPS_E_INVALID_ARG, "retry_backoff_ms",
                      "base %u ms and cap %u ms break 1 <= base <= cap <= 600000", base_ms, cap_ms);
    opts->retry_base_ms = base_ms;
    opts->retry_cap_ms = cap_ms;
    return SEGOPS_OK;
}

segops_err_t segops_options_set_overflow(segops_options_t *opts, segops_overflow_t policy) {
    if (!opts) return NO_OPTS("overflow");
    if (policy != SEGOPS_OVERFLOW_DROP_NEWEST && policy != SEGOPS_OVERFLOW_DROP_OLDEST &&
        policy != SEGOPS_OVERFLOW_BLOCK)
        return REFUSE(SEGOPS_E_INVALID_ARG, "overflow", "%d is not a segops_overflow_t",
                      (int)policy);
    opts->overflow = policy;
    return SEGOPS_OK;
}

segops_err_t segops_options_set_get_user(segops_options_t *opts, segops_get_user_fn fn,
                                         void *userdata) {
    if (!opts) return NO_OPTS("get_user");
    opts->get_user = fn;
    opts->get_user_data = fn ? userdata : NULL;
    return SEGOPS_OK;
}

segops_err_t segops_options_set_on_error(segops_options_t *opts, segops_error_fn fn,
                                         void *userdata) {
    if (!opts) return NO_OPTS("on_error");
    opts->on_error = fn;
    opts->on_error_data = fn ? userdata : NULL;
    return SEGOPS_OK;
}

segops_err_t segops_options_set_logger(segops_options_t *opts, segops_log_fn fn,
                                       segops_log_level_t min_level, void *userdata) {
    if (!opts) return NO_OPTS("logger");
    if (min_level < SEGOPS_LOG_DEBUG || min_level > SEGOPS_LOG_ERROR)
        return REFUSE(SEGOPS_E_INVALID_ARG, "logger", "min_level %d is not a segops_log_level_t",
                      (int)min_level);
    opts->logger = fn;
    opts->log_level = min_level;
    opts->logger_data = fn ? userdata : NULL;
    return SEGOPS_OK;
}

static segops_err_t set_path(char **slot, const char *path, const char *setter) {
    if (path && !*path)
        return segops__fail(SEGOPS_E_INVALID_ARG,
                            "segops_options_set_%s: the path is empty (NULL turns it off)", setter);
    if (path && strlen(path) > 4096)
        return segops__fail(SEGOPS_E_INVALID_ARG,
                            "segops_options_set_%s: the path is longer than 4096 bytes", setter);
    return set_string(slot, path, false, setter);
}

segops_err_t segops_options_set_ca_file(segops_options_t *opts, const char *path) {
    return opts ? set_path(&opts->ca_file, path, "ca_file") : NO_OPTS("ca_file");
}

segops_err_t segops_options_set_ca_path(segops_options_t *opts, const char *path) {
    return opts ? set_path(&opts->ca_path, path, "ca_path") : NO_OPTS("ca_path");
}

segops_err_t segops_options_set_spool_dir(segops_options_t *opts, const char *path) {
    return opts ? set_path(&opts->spool_dir, path, "spool_dir") : NO_OPTS("spool_dir");
}

segops_err_t segops_options_set_proxy(segops_options_t *opts, const char *proxy_url) {
    if (!opts) return NO_OPTS("proxy");
    const char *why = proxy_url ? not_printable_ascii(proxy_url, 2048) : NULL;
    if (why) /* not quoted: a proxy URL may carry credentials */
        return REFUSE(SEGOPS_E_INVALID_ARG, "proxy", "the proxy url %s", why);
    return set_string(&opts->proxy, proxy_url, true, "proxy");
}

segops_err_t segops_options_set_allow_insecure_http(segops_options_t *opts, bool allow) {
    if (!opts) return NO_OPTS("allow_insecure_http");
    opts->allow_insecure_http = allow;
    return SEGOPS_OK;
}

segops_err_t segops_options_set_user_agent_suffix(segops_options_t *opts, const char *suffix) {
    if (!opts) return NO_OPTS("user_agent_suffix");
    if (suffix) { /* printable ASCII, spaces allowed inside */
        size_t n = strlen(suffix);
        if (n == 0 || n > 128)
            return REFUSE(SEGOPS_E_INVALID_ARG, "user_agent_suffix",
                          "the suffix is %s (1..128 bytes)", n ? "longer than 128 bytes" : "empty");
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)suffix[i] < 0x20 || (unsigned char)suffix[i] >= 0x7f)
                return REFUSE(SEGOPS_E_INVALID_ARG, "user_agent_suffix",
                              "byte %zu is not printable ASCII", i);
    }
    return set_string(&opts->user_agent_suffix, suffix, false, "user_agent_suffix");
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
    char scratch[1];
    if (!why || !why_len) { /* callers that only want the verdict */
        why = scratch;
        why_len = sizeof scratch;
    }
    const char *host;
    size_t host_len;
    if (!opts->api_url && opts->api_url_refused[0])
        snprintf(why, why_len, "api_url was refused by its setter: %s", opts->api_url_refused);
    else if (!opts->api_url)
        snprintf(why, why_len, "api_url is not set (segops_options_set_api_url)");
    else if (!opts->api_key && opts->api_key_refused[0])
        snprintf(why, why_len, "api_key was refused by its setter: %s", opts->api_key_refused);
    else if (!opts->api_key)
        snprintf(why, why_len, "api_key is not set (segops_options_set_api_key)");
    else if (segops__config_is_public_key(opts) && !opts->get_user)
        snprintf(why, why_len, "a pk_ key needs a get_user callback for the session handshake");
    else if (has_prefix_ci(opts->api_url, "http://") && !opts->allow_insecure_http &&
             url_host(opts->api_url, &host, &host_len) && !host_is_loopback(host, host_len))
        snprintf(why, why_len,
                 "plain http:// to a non-loopback host would send the key in clear text "
                 "(use https:// or allow_insecure_http)");
    else if (opts->batch_size > opts->max_queue_events)
        snprintf(why, why_len, "batch_size %zu is larger than max_queue_events %zu",
                 opts->batch_size, opts->max_queue_events);
    else if (opts->max_event_bytes > opts->max_queue_bytes)
        snprintf(why, why_len, "max_event_bytes %zu is larger than max_queue_bytes %zu",
                 opts->max_event_bytes, opts->max_queue_bytes);
    else if (opts->spool_dir &&
             opts->spool_max_bytes < opts->max_event_bytes + SEGOPS__SPOOL_RECORD_HEADER)
        snprintf(why, why_len, "spool_max_bytes %llu cannot hold one event of max_event_bytes %zu",
                 (unsigned long long)opts->spool_max_bytes, opts->max_event_bytes);
    else if (opts->spool_dir && !opts->batch)
        snprintf(why, why_len,
                 "spool_dir needs batch mode (with batch = false each event is sent on the "
                 "caller's thread and nothing is spooled)");
    else
        return SEGOPS_OK;
    return SEGOPS_E_CONFIG;
}
