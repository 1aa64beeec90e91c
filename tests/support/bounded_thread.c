#define _GNU_SOURCE 1 /* pthread_timedjoin_np */
/* Threads joined within a bound (see bounded_thread.h). */
#include "bounded_thread.h"

#include <time.h>

#include "testutil.h"

void bounded_start(bounded_thread_t *t, void *(*fn)(void *), void *arg) {
    assert_int_equal(pthread_create(&t->thread, NULL, fn, arg), 0);
    t->running = true;
}

bool bounded_join(bounded_thread_t *t, int64_t until) {
    if (!t->running) return true;
    /* pthread_timedjoin_np takes CLOCK_REALTIME: translate the monotonic bound. */
    int64_t left = until - now_ms();
    if (left < 0) left = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(left / 1000);
    ts.tv_nsec += (long)(left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    if (pthread_timedjoin_np(t->thread, NULL, &ts) != 0) return false;
    t->running = false;
    return true;
}

void bounded_abandon(bounded_thread_t *t) {
    if (!t->running) return;
    pthread_detach(t->thread);
    t->running = false;
}
