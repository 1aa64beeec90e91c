/* The retry policy: classify one attempt, compute a jittered backoff, and read
 * Retry-After. Pure functions; the worker owns the clock, budget and state. */
#include "common.h"

#include "retry.h"
#include "timefmt.h"

static segops__verdict_t verdict(segops__action_t action, segops_err_t code,
                                 segops_drop_reason_t reason) {
    segops__verdict_t v = {action, code, reason};
    return v;
}

segops__verdict_t segops__retry_classify(segops_err_t transport_err, int http_status,
                                         bool session_token) {
    if (transport_err != SEGOPS_OK) {
        switch (transport_err) {
        case SEGOPS_E_NETWORK:
        case SEGOPS_E_TIMEOUT:
            return verdict(SEGOPS__ACT_RETRY, transport_err, SEGOPS_DROP_RETRIES_EXHAUSTED);
        default:
            /* TLS included: a bad certificate does not fix itself. */
            return verdict(SEGOPS__ACT_DROP, transport_err, SEGOPS_DROP_REJECTED);
        }
    }

    if (http_status >= 200 && http_status <= 299) {
        return verdict(SEGOPS__ACT_DELIVERED, SEGOPS_OK, SEGOPS_DROP_NONE);
    }
    if (http_status >= 500 && http_status <= 599) {
        /* 501 Not Implemented and 505 HTTP Version Not Supported will not change. */
        if (http_status == 501 || http_status == 505) {
            return verdict(SEGOPS__ACT_DROP, SEGOPS_E_SERVER, SEGOPS_DROP_REJECTED);
        }
        return verdict(SEGOPS__ACT_RETRY, SEGOPS_E_SERVER, SEGOPS_DROP_RETRIES_EXHAUSTED);
    }
    switch (http_status) {
    case 408: return verdict(SEGOPS__ACT_RETRY, SEGOPS_E_TIMEOUT, SEGOPS_DROP_RETRIES_EXHAUSTED);
    case 429:
        return verdict(SEGOPS__ACT_RATE_LIMITED, SEGOPS_E_RATE_LIMITED,
                       SEGOPS_DROP_RETRIES_EXHAUSTED);
    case 413: return verdict(SEGOPS__ACT_SPLIT, SEGOPS_E_TOO_LARGE, SEGOPS_DROP_TOO_LARGE);
    case 401:
        if (session_token) {
            return verdict(SEGOPS__ACT_REAUTH, SEGOPS_E_AUTH, SEGOPS_DROP_REJECTED);
        }
        return verdict(SEGOPS__ACT_DROP, SEGOPS_E_AUTH, SEGOPS_DROP_REJECTED);
    case 403: return verdict(SEGOPS__ACT_DROP, SEGOPS_E_AUTH, SEGOPS_DROP_REJECTED);
    default:
        /* 400, 1xx, 3xx, other 4xx, >= 600 and nonsense: retrying will not help. */
        return verdict(SEGOPS__ACT_DROP, SEGOPS_E_HTTP, SEGOPS_DROP_REJECTED);
    }
}

/* xorshift64* (Vigna). Zero is its fixed point, so a zero state is reseeded
 * with a constant rather than returning zeros forever. */
static uint64_t next_random(uint64_t *state) {
    uint64_t x = *state;
    if (x == 0) {
        x = UINT64_C(0x9E3779B97F4A7C15);
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

uint32_t segops__retry_backoff_ms(uint32_t base_ms, uint32_t cap_ms, uint32_t attempt,
                                  uint64_t *rng_state) {
    /* attempt 0 is treated as the first retry. Shifting a 32-bit base by 32 or
     * more always exceeds any 32-bit cap, so large attempts skip the shift. */
    const uint32_t shift = attempt > 0 ? attempt - 1 : 0;
    uint64_t d;
    if (base_ms == 0) {
        d = 0;
    } else if (shift >= 32) {
        d = cap_ms;
    } else {
        d = SEGOPS__MIN((uint64_t)base_ms << shift, (uint64_t)cap_ms);
    }

    const uint64_t half = d / 2;
    const uint64_t span = d - half + 1; /* [half, d] holds d - half + 1 values */
    uint64_t r = 0;
    if (rng_state != NULL) {
        r = next_random(rng_state) % span;
    } else {
        r = span - 1; /* no generator: the full delay, never shorter */
    }
    return (uint32_t)(half + r);
}

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

bool segops__retry_after_parse(const char *value, size_t len, int64_t now_unix_s, uint32_t max_ms,
                               uint32_t *wait_ms) {
    if (value == NULL || wait_ms == NULL) {
        return false;
    }
    size_t start = 0;
    size_t end = len;
    while (start < end && is_ows(value[start])) {
        start++;
    }
    while (end > start && is_ows(value[end - 1])) {
        end--;
    }
    if (start == end) {
        return false;
    }
    const char *s = value + start;
    const size_t n = end - start;

    /* delta-seconds: 1*DIGIT. Saturate once past what max_ms can express so a
     * 40-digit value clamps instead of overflowing. */
    bool all_digits = true;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            all_digits = false;
            break;
        }
    }
    if (all_digits) {
        const uint64_t limit = (uint64_t)max_ms / 1000 + 1; /* seconds beyond any clamp */
        uint64_t secs = 0;
        for (size_t i = 0; i < n && secs <= limit; i++) {
            secs = secs * 10 + (uint64_t)(s[i] - '0');
        }
        const uint64_t ms = secs > limit ? (uint64_t)max_ms : secs * 1000;
        *wait_ms = (uint32_t)SEGOPS__MIN(ms, (uint64_t)max_ms);
        return true;
    }

    int64_t date_s;
    if (!segops__http_date_parse(s, n, &date_s)) {
        return false;
    }
    if (date_s <= now_unix_s) {
        *wait_ms = 0; /* already past: go now */
        return true;
    }
    /* date_s fits in years 0..9999, so date_s - now_unix_s can only overflow for
     * an absurdly negative clock; that is "very far away" and clamps. */
    const uint64_t limit_s = (uint64_t)max_ms / 1000 + 1;
    uint64_t diff_s;
    if (now_unix_s < -(INT64_MAX / 2)) {
        diff_s = limit_s + 1;
    } else {
        diff_s = (uint64_t)(date_s - now_unix_s);
    }
    const uint64_t ms = diff_s > limit_s ? (uint64_t)max_ms : diff_s * 1000;
    *wait_ms = (uint32_t)SEGOPS__MIN(ms, (uint64_t)max_ms);
    return true;
}
