/* The background thread of a batching client: waits until a batch is due,
 * takes it from admission and hands it to the delivery pipeline, until the
 * stop; then drops what the stop deadline left, reported before counted.
 *
 * A batch is due when batch_size events are queued, when the flush interval
 * ticks, on a flush, while stopping, and while a track call waits for room
 * (SEGOPS_OVERFLOW_BLOCK); a due batch takes up to 500 events (and
 * max_request_bytes) at once, so a backlog drains in few requests. */
#ifndef SEGOPS_WORKER_H
#define SEGOPS_WORKER_H

#include "common.h"

#include "admission.h"
#include "deliver.h"
#include "fork.h"

typedef struct segops__worker segops__worker_t;

segops_err_t segops__worker_new(const segops__deliver_ctx_t *ctx, segops__admission_t *adm,
                                segops__worker_t **out);
/* The thread must have been stopped (or never started). NULL-safe. */
void segops__worker_free(segops__worker_t *w);
/* fork: the child has no worker; it starts its own on first use. */
segops__fork_hook_t *segops__worker_fork_hook(segops__worker_t *w);

/* Starts the thread (with every signal blocked in it) unless it runs or ran,
 * or admission is closed; then opens admission's lanes. SEGOPS_OK,
 * SEGOPS_E_NOMEM or SEGOPS_E_INTERNAL. */
segops_err_t segops__worker_ensure(segops__worker_t *w);
/* After the gate's stop: aborts a request in flight at `deadline` (0 = none)
 * and joins the thread. */
void segops__worker_join(segops__worker_t *w, int64_t deadline);

#endif
