/* Clocks: CLOCK_MONOTONIC for everything that waits, CLOCK_REALTIME for stamps. */
#include "clock.h"

static int64_t read_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t segops__clock_monotonic_ms(void) { return read_ms(CLOCK_MONOTONIC); }

int64_t segops__clock_realtime_ms(void) { return read_ms(CLOCK_REALTIME); }

void segops__clock_cond_init(pthread_cond_t *cv) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
}

bool segops__clock_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mutex, segops__deadline_t until) {
    if (segops__deadline_is_none(until)) {
        pthread_cond_wait(cv, mutex);
        return true;
    }
    if (segops__deadline_expired(until, segops__clock_monotonic_ms())) return false;
    struct timespec ts = segops__deadline_timespec(until);
    pthread_cond_timedwait(cv, mutex, &ts);
    return !segops__deadline_expired(until, segops__clock_monotonic_ms());
}
