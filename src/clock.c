/* Clocks: CLOCK_MONOTONIC for everything that waits, CLOCK_REALTIME for stamps. */
#include "clock.h"

static int64_t read_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t segops__clock_monotonic_ms(void) { return read_ms(CLOCK_MONOTONIC); }

int64_t segops__clock_realtime_ms(void) { return read_ms(CLOCK_REALTIME); }

struct timespec segops__clock_deadline_ts(int64_t abs_monotonic_ms) {
    struct timespec ts;
    ts.tv_sec = (time_t)(abs_monotonic_ms / 1000);
    ts.tv_nsec = (long)(abs_monotonic_ms % 1000) * 1000000L;
    return ts;
}
