/* Which trigger sent a request, told apart without a wall-clock threshold.
 * Whatever else happens, the pacing sends a waiting event within the partial
 * interval (about 1.05 s), so "the server got it" proves nothing about a
 * batch_size trigger, a flush interval or a blocked track's wake-up. A test
 * measures the latency of the trigger it checks and, in the same run, the
 * latency of a lone event that only the pacing sends, and asserts the first is
 * well under the second: a broken trigger leaves both equal. Slowness (a busy
 * machine, valgrind) stretches both alike. */
#ifndef SEGOPS_TEST_LATENCY_H
#define SEGOPS_TEST_LATENCY_H

#include "testutil.h"

/* Tracks one event (user "u", type "lone", payload {"lone":seq}) and returns the
 * ms until the server holds server_total events (a 10 s hang detector). */
int64_t track_and_time_arrival(segops_client_t *client, devsrv_t *srv, int seq,
                               uint64_t server_total);

/* Waits until the server holds server_total events; returns the ms since `since`
 * (now_ms). A 10 s hang detector. */
int64_t time_arrival(devsrv_t *srv, uint64_t server_total, int64_t since);

/* Fails unless trigger_ms is under half of pacing_ms, naming what triggered. */
void assert_sooner_than_pacing(int64_t trigger_ms, int64_t pacing_ms, const char *trigger);

#endif
