/* The deadline type (see deadline.h). */
#include "deadline.h"

segops__deadline_t segops__deadline_none(void) { return (segops__deadline_t){INT64_MAX}; }

segops__deadline_t segops__deadline_at(int64_t monotonic_ms) {
    return (segops__deadline_t){monotonic_ms};
}

segops__deadline_t segops__deadline_after(int64_t now_ms, int64_t timeout_ms) {
    if (timeout_ms < 0 || timeout_ms >= INT64_MAX - now_ms) return segops__deadline_none();
    return segops__deadline_at(now_ms + timeout_ms);
}

bool segops__deadline_is_none(segops__deadline_t d) { return d.at == INT64_MAX; }

segops__deadline_t segops__deadline_earliest(segops__deadline_t a, segops__deadline_t b) {
    return a.at <= b.at ? a : b;
}

bool segops__deadline_expired(segops__deadline_t d, int64_t now_ms) { return now_ms >= d.at; }

int segops__deadline_remaining_ms(segops__deadline_t d, int64_t now_ms, int cap_ms) {
    if (segops__deadline_is_none(d)) return cap_ms;
    if (now_ms >= d.at) return 0;
    /* d.at - now_ms cannot overflow: now_ms < d.at, both monotonic ms (>= 0). */
    int64_t left = d.at - now_ms;
    return left < cap_ms ? (int)left : cap_ms;
}

struct timespec segops__deadline_timespec(segops__deadline_t d) {
    struct timespec ts;
    ts.tv_sec = (time_t)(d.at / 1000);
    ts.tv_nsec = (long)(d.at % 1000) * 1000000L;
    return ts;
}
