/* The client's entry points for events that are already validated and planned
 * (event.h): segops_track_event uses them after segops__event_prepare, and so
 * can any other front end that builds events (the payload builder). */
#ifndef SEGOPS_TRACK_H
#define SEGOPS_TRACK_H

#include "common.h"

#include "event.h"

/* Queues (or, with batching off, sends) a planned event: the returns of
 * segops_track. A refusal is counted. */
segops_err_t segops__track_plan(segops_client_t *c, const segops__event_plan_t *plan);
/* The largest encoded event the client accepts (max_event_bytes), for planning. */
size_t segops__track_max_event_bytes(const segops_client_t *c);
/* Counts a call refused before planning (rejected_* counters); returns err. */
segops_err_t segops__track_reject(segops_client_t *c, segops_err_t err);

#endif
