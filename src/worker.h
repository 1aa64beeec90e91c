/* The background thread of a batching client: waits until a batch is due,
 * takes it from admission and hands it to one of max_in_flight sender
 * threads, each of which runs the delivery pipeline (deliver.h: retries, 413
 * splits, re-mints, backoff) for one request at a time on its own connection,
 * until the stop; then drops what the stop deadline left, reported before
 * counted. A thread per request in flight keeps that pipeline a plain blocking
 * state machine, the one synchronous sends use too (rather than libcurl's multi
 * interface, which would turn it inside out). Only this thread decides and
 * takes (admission's walk and the spool's read-back assume one taker); the
 * requests run outside its lock. While every sender is busy, one full batch
 * is taken ahead, so the first sender to finish goes on at once (no thread
 * hand-off on the path of a stream of full requests); memory then holds the
 * queue, the requests in flight and that one batch.
 *
 * More requests in flight must not mean more requests: each request start is
 * begun with the pacer (the plan's limit, a 429's wait), a second request goes
 * only when a full request's worth waits or a flush, stop or blocked track is
 * urgent, and while one is failing (probe.h) no other starts.
 *
 * A request is wanted when batch_size events are queued, when queued events have
 * waited the pacing interval (1.05 s, or flush_interval_ms if lower), when it is
 * full (500 events or max_request_bytes), and on a flush, a stop or a track
 * call waiting for room (SEGOPS_OVERFLOW_BLOCK). The
 * pacer (pacer.h) then says when it may go: a full or urgent one at once, a
 * partial one at most once per pacing interval (1.05 s), none over the plan's
 * limit. A request takes up to 500 events, so a stream fills its requests
 * instead of multiplying them, and a backlog drains in few requests. */
#ifndef SEGOPS_WORKER_H
#define SEGOPS_WORKER_H

#include "common.h"

#include "admission.h"
#include "deliver.h"
#include "fork.h"
#include "spooler.h"

typedef struct segops__worker segops__worker_t;

/* sp: the client's spool (NULL: memory only), whose backlog on disk the worker
 * reads back once the memory queue is empty (while stopping too, until the
 * deadline: what is left then stays for the next client). */
segops_err_t segops__worker_new(const segops__deliver_ctx_t *ctx, segops__admission_t *adm,
                                segops__spooler_t *sp, segops__worker_t **out);
/* The thread must have been stopped (or never started). NULL-safe. */
void segops__worker_free(segops__worker_t *w);
/* fork: the child has no worker; it starts its own on first use. */
segops__fork_hook_t *segops__worker_fork_hook(segops__worker_t *w);

/* Starts the thread (with every signal blocked in it) unless it runs or ran,
 * or admission is closed; then opens admission's lanes. SEGOPS_OK,
 * SEGOPS_E_NOMEM or SEGOPS_E_INTERNAL. */
segops_err_t segops__worker_ensure(segops__worker_t *w);
/* After the gate's stop: aborts every request in flight at `deadline` and
 * joins the threads. */
void segops__worker_join(segops__worker_t *w, segops__deadline_t deadline);
/* The oldest track time (wall clock, segops__event_track_ms) of the events
 * in requests now, 0: none. */
int64_t segops__worker_oldest_in_flight_ms(segops__worker_t *w);

#endif
