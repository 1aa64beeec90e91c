/* Clocks. Monotonic time for deadlines and waits, wall time for timestamps. */
#ifndef SEGOPS_CLOCK_H
#define SEGOPS_CLOCK_H

#include "common.h"

#include <pthread.h>
#include <time.h>

#include "deadline.h"

int64_t segops__clock_monotonic_ms(void);
int64_t segops__clock_realtime_ms(void);
/* Initialises a condition variable whose timed waits use CLOCK_MONOTONIC, so a
 * wall clock step never stretches or cuts a wait. */
void segops__clock_cond_init(pthread_cond_t *cv);
/* Waits on cv (mutex held) until signalled or `until` (none: no limit).
 * Returns false once `until` has passed. Every condition wait with a deadline
 * in the library goes through here. */
bool segops__clock_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mutex, segops__deadline_t until);

#endif
