/* Clocks. Monotonic time for deadlines and waits, wall time for timestamps. */
#ifndef SEGOPS_CLOCK_H
#define SEGOPS_CLOCK_H

#include "common.h"

#include <time.h>

int64_t segops__clock_monotonic_ms(void);
int64_t segops__clock_realtime_ms(void);
/* An absolute CLOCK_MONOTONIC timespec `ms` from now, for pthread_cond_timedwait
 * on condition variables created with segops__cond_init_monotonic. */
struct timespec segops__clock_deadline_ts(int64_t abs_monotonic_ms);

#endif
