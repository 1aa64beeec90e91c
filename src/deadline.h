/* The one deadline every wait takes: when it must end, or never. In the manner
 * of nng's aio (an absolute expiry, NNI_TIME_NEVER the latest time of all), a
 * deadline is an absolute CLOCK_MONOTONIC time in ms and "none" is INT64_MAX,
 * so two deadlines combine by taking the earlier (a shutdown's with a call's
 * own) and a check is one comparison; no "0 means none" special case anywhere.
 * A timeout (the public ones in int ms, < 0 = none; the options' in ms)
 * becomes a deadline once, where its wait begins (segops__deadline_after).
 * Pure: every function takes `now` from the caller (segops__clock_monotonic_ms). */
#ifndef SEGOPS_DEADLINE_H
#define SEGOPS_DEADLINE_H

#include "common.h"

#include <time.h>

typedef struct segops__deadline {
    int64_t at; /* monotonic ms; INT64_MAX: none */
} segops__deadline_t;

/* No deadline: a wait ends only when what it waits for happens. */
segops__deadline_t segops__deadline_none(void);
/* At the absolute monotonic time `monotonic_ms`. */
segops__deadline_t segops__deadline_at(int64_t monotonic_ms);
/* timeout_ms after now; none when timeout_ms < 0 (the public "wait forever"). */
segops__deadline_t segops__deadline_after(int64_t now_ms, int64_t timeout_ms);
bool segops__deadline_is_none(segops__deadline_t d);
/* The one that comes first (none only when both are none). */
segops__deadline_t segops__deadline_earliest(segops__deadline_t a, segops__deadline_t b);
bool segops__deadline_expired(segops__deadline_t d, int64_t now_ms);
/* Milliseconds left, in [0, cap_ms]: cap_ms when none or further off, 0 once
 * expired. For a poll or curl timeout, which must be a bounded int. */
int segops__deadline_remaining_ms(segops__deadline_t d, int64_t now_ms, int cap_ms);
/* The absolute CLOCK_MONOTONIC timespec for pthread_cond_timedwait (see
 * segops__clock_cond_init). Not for none: the caller waits without a limit. */
struct timespec segops__deadline_timespec(segops__deadline_t d);

#endif
