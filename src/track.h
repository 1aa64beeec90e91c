/* The two steps of a track call after its event is prepared (event.h), for the
 * callers that prepare events their own way: segops_track_event validates the
 * caller's payload text, the props builder (props.c) trusts its own. */
#ifndef SEGOPS_TRACK_H
#define SEGOPS_TRACK_H

#include "common.h"

#include "event.h"

/* Accepts a prepared event: enqueues it (or, with batching off, sends it on the
 * calling thread) exactly as segops_track_event does after its validation, and
 * returns what segops_track_event returns. Counts its own refusals (queue full,
 * state, memory). plan and what it borrows are only read during the call. */
segops_err_t segops__track_plan(segops_client_t *c, const segops__event_plan_t *plan);

/* Counts a track call refused before acceptance (segops_stats_t rejected_*, by
 * err) and returns err. */
segops_err_t segops__track_reject(segops_client_t *c, segops_err_t err);

#endif
