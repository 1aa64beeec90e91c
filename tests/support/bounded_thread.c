#define _GNU_SOURCE 1 /* pthread_timedjoin_np */
/* Threads joined within a bound (see bounded_thread.h). */
#include "bounded_thread.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

pid_t thread_id(void) { return (pid_t)syscall(SYS_gettid); }

/* The system call thread tid is blocked in (/proc/self/task/TID/syscall:
 * its number first, "running" when it runs), or -1. */
static long blocked_syscall(pid_t tid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long nr = -1;
    if (fgets(line, sizeof line, f) && line[0] >= '0' && line[0] <= '9')
        nr = strtol(line, NULL, 10);
    fclose(f);
    return nr;
}

/* A futex, not any sleep: under valgrind a thread waiting for its turn to run
 * blocks in read(2) on the scheduler's pipe, before reaching its real wait. */
void wait_thread_asleep(pid_t tid) {
    int64_t until = now_ms() + 10000;
    while (blocked_syscall(tid) != SYS_futex) {
        if (now_ms() > until) fail_msg("thread %d never blocked in a wait", (int)tid);
        sleep_ms(1);
    }
}
