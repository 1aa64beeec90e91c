/* The option setters and the client-time check, driven by a byte program.
 *
 * Input: a sequence of ops. Each op is one byte (which setter), then its
 * argument: a NUL-terminated string for string setters, 4 or 8 raw bytes for
 * numbers. Properties: setters copy and range-check (a stored URL has no
 * trailing '/', credentials, query or fragment; a stored key is sk_/pk_); the
 * check's reason never contains the key; copy + free balance every allocation. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

typedef struct reader {
    const uint8_t *p, *end;
} reader_t;

/* The next NUL-terminated string (or the rest), copied to an exact-size buffer. */
static char *take_string(reader_t *r) {
    const uint8_t *nul = memchr(r->p, '\0', (size_t)(r->end - r->p));
    size_t len = nul ? (size_t)(nul - r->p) : (size_t)(r->end - r->p);
    char *s = malloc(len + 1);
    memcpy(s, r->p, len);
    s[len] = '\0';
    r->p += nul ? len + 1 : len;
    return s;
}

static uint64_t take_number(reader_t *r, size_t bytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes && r->p < r->end; i++) v |= (uint64_t)*r->p++ << (8 * i);
    return v;
}

static void on_error(const segops_error_info_t *e, void *u) { (void)e, (void)u; }

static segops_err_t get_user(segops_user_t *user, void *u) {
    (void)user, (void)u;
    return SEGOPS_OK;
}

static void logger(segops_log_level_t l, const char *m, void *u) { (void)l, (void)m, (void)u; }

static void check_stored(const segops_options_t *o) {
    if (o->api_url) {
        size_t n = strlen(o->api_url);
        CHECK(n > 0 && o->api_url[n - 1] != '/' && !strpbrk(o->api_url, "@?#"));
    }
    if (o->api_key) CHECK(strncmp(o->api_key, "sk_", 3) == 0 || strncmp(o->api_key, "pk_", 3) == 0);
    CHECK(o->max_requests_per_minute <= SEGOPS__MAX_REQUESTS_PER_MINUTE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    segops_options_t *opts;
    CHECK(segops_options_new(&opts) == SEGOPS_OK);
    reader_t r = {data, data + size};
    while (r.p < r.end) {
        const uint8_t op = *r.p++;
        char *s = NULL;
        switch (op % 26) {
        case 0:
            s = take_string(&r);
            segops_options_set_api_url(opts, s);
            break;
        case 1:
            s = take_string(&r);
            segops_options_set_api_key(opts, s);
            break;
        case 2:
            s = take_string(&r);
            segops_options_set_ca_file(opts, s);
            break;
        case 3:
            s = take_string(&r);
            segops_options_set_ca_path(opts, s);
            break;
        case 4:
            s = take_string(&r);
            segops_options_set_proxy(opts, s);
            break;
        case 5:
            s = take_string(&r);
            segops_options_set_user_agent_suffix(opts, s);
            break;
        case 6: segops_options_set_batch(opts, op & 0x80); break;
        case 7: segops_options_set_batch_size(opts, (size_t)take_number(&r, 8)); break;
        case 8: segops_options_set_flush_interval_ms(opts, (uint32_t)take_number(&r, 4)); break;
        case 9: segops_options_set_max_queue_events(opts, (size_t)take_number(&r, 8)); break;
        case 10: segops_options_set_max_queue_bytes(opts, (size_t)take_number(&r, 8)); break;
        case 11: segops_options_set_block_timeout_ms(opts, (uint32_t)take_number(&r, 4)); break;
        case 12: segops_options_set_max_event_bytes(opts, (size_t)take_number(&r, 8)); break;
        case 13: segops_options_set_max_request_bytes(opts, (size_t)take_number(&r, 8)); break;
        case 14: segops_options_set_max_retries(opts, (uint32_t)take_number(&r, 4)); break;
        case 15: {
            uint32_t base = (uint32_t)take_number(&r, 4);
            segops_options_set_retry_backoff_ms(opts, base, (uint32_t)take_number(&r, 4));
            break;
        }
        case 16: segops_options_set_retry_budget_ms(opts, (uint32_t)take_number(&r, 4)); break;
        case 17: segops_options_set_retry_after_max_ms(opts, (uint32_t)take_number(&r, 4)); break;
        case 18: segops_options_set_connect_timeout_ms(opts, (uint32_t)take_number(&r, 4)); break;
        case 19: segops_options_set_request_timeout_ms(opts, (uint32_t)take_number(&r, 4)); break;
        case 20:
            segops_options_set_overflow(opts, (segops_overflow_t)(int)take_number(&r, 1) - 1);
            break;
        case 21: segops_options_set_allow_insecure_http(opts, op & 0x80); break;
        case 22:
            segops_options_set_get_user(opts, op & 0x80 ? get_user : NULL, NULL);
            segops_options_set_on_error(opts, op & 0x40 ? on_error : NULL, NULL);
            break;
        case 23:
            segops_options_set_logger(opts, op & 0x80 ? logger : NULL,
                                      (segops_log_level_t)((int)take_number(&r, 1) - 1), NULL);
            break;
        case 24:
            segops_options_set_max_requests_per_minute(opts, (uint32_t)take_number(&r, 4));
            break;
        case 25: segops_options_set_sync_timeout_ms(opts, (uint32_t)take_number(&r, 4)); break;
        }
        free(s);
        check_stored(opts);
    }

    char why[128];
    if (segops__config_check(opts, why, sizeof why) != SEGOPS_OK) {
        CHECK(memchr(why, '\0', sizeof why) != NULL);
        if (opts->api_key) CHECK(strstr(why, opts->api_key) == NULL);
    }
    segops_options_t *copy = NULL;
    if (segops__config_copy(opts, &copy) == SEGOPS_OK) {
        char why2[128];
        CHECK(segops__config_check(copy, why2, sizeof why2) ==
              segops__config_check(opts, why, sizeof why));
        segops_options_free(copy);
    }
    segops_options_free(opts);
    CHECK(segops__alloc_test_live() == 0);
    return 0;
}
