/* A thread the test waits for only so long: a call that should return within a
 * bound runs on one, so a call that hangs fails the test instead of stalling it
 * until ctest's timeout. */
#ifndef SEGOPS_BOUNDED_THREAD_H
#define SEGOPS_BOUNDED_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct bounded_thread {
    pthread_t thread;
    bool running; /* started and neither joined nor given up on */
} bounded_thread_t;

/* Starts fn(arg); asserts the thread was created. */
void bounded_start(bounded_thread_t *t, void *(*fn)(void *), void *arg);

/* Joins the thread if it ends before `until` (monotonic ms, see now_ms) and
 * returns true. Otherwise returns false and leaves the thread running: call
 * again with a later bound, or bounded_abandon. */
bool bounded_join(bounded_thread_t *t, int64_t until);

/* Detaches a thread that did not end: the test failed and leaves it behind,
 * with everything it uses, until the process exits. */
void bounded_abandon(bounded_thread_t *t);

/* The calling thread's kernel id (for wait_thread_asleep). */
pid_t thread_id(void);

/* Waits until thread tid of this process blocks in a futex (a condition or
 * mutex wait): a thread seen entering a blocking call (a flush, a shutdown)
 * has reached its wait. Fails when it does not within 10 s (a hang detector). */
void wait_thread_asleep(pid_t tid);

#endif
