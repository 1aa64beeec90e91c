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

void segops__clock_cond_init(pthread_cond_t *cv) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
}

bool segops__clock_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mutex, int64_t until_ms) {
    if (!until_ms) {
        pthread_cond_wait(cv, mutex);
        return true;
    }
    if (segops__clock_monotonic_ms() >= until_ms) return false;
    struct timespec ts = segops__clock_deadline_ts(until_ms);
    pthread_cond_timedwait(cv, mutex, &ts);
    return segops__clock_monotonic_ms() < until_ms;
}

int64_t segops__clock_deadline_after(int timeout_ms) {
    return timeout_ms < 0 ? 0 : segops__clock_monotonic_ms() + timeout_ms;
}
