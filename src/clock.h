/* Clocks. Monotonic time for deadlines and waits, wall time for timestamps. */
#ifndef SEGOPS_CLOCK_H
#define SEGOPS_CLOCK_H

#include "common.h"

#include <time.h>

int64_t segops__clock_monotonic_ms(void);
int64_t segops__clock_realtime_ms(void);
/* The timespec of an absolute CLOCK_MONOTONIC time in ms, for
 * pthread_cond_timedwait on condition variables set to CLOCK_MONOTONIC. */
struct timespec segops__clock_deadline_ts(int64_t abs_monotonic_ms);

#endif
