/* Clocks. Monotonic time for deadlines and waits, wall time for timestamps. */
#ifndef SEGOPS_CLOCK_H
#define SEGOPS_CLOCK_H

#include "common.h"

#include <pthread.h>
#include <time.h>

int64_t segops__clock_monotonic_ms(void);
int64_t segops__clock_realtime_ms(void);
/* The timespec of an absolute CLOCK_MONOTONIC time in ms, for
 * pthread_cond_timedwait on condition variables set to CLOCK_MONOTONIC. */
struct timespec segops__clock_deadline_ts(int64_t abs_monotonic_ms);
/* Initialises a condition variable whose timed waits use CLOCK_MONOTONIC, so a
 * wall clock step never stretches or cuts a wait. */
void segops__clock_cond_init(pthread_cond_t *cv);
/* Waits on cv (mutex held) until signalled or the absolute monotonic time
 * `until_ms` (0 = no limit). Returns false once that time has passed. */
bool segops__clock_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mutex, int64_t until_ms);
/* The absolute monotonic deadline timeout_ms from now; 0 (none) when it is < 0. */
int64_t segops__clock_deadline_after(int timeout_ms);

#endif
