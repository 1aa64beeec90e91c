/* Synchronous sends (batch = false): track sends on the calling thread and
 * returns the outcome. Each concurrent call gets its own transport (its own
 * connection) from a small pool, so calls from different threads never wait
 * for each other, and each call ends by its own deadline
 * (sync_timeout_ms) or the shutdown deadline, whichever comes first. */
#ifndef SEGOPS_SYNC_SEND_H
#define SEGOPS_SYNC_SEND_H

#include "common.h"

#include "deliver.h"
#include "event.h"
#include "fork.h"

typedef struct segops__sync segops__sync_t;

segops_err_t segops__sync_new(const segops__deliver_ctx_t *ctx, segops__sync_t **out);
/* Frees the idle transports. No send may be in progress. NULL-safe. */
void segops__sync_free(segops__sync_t *sync);
/* fork: the child abandons the parent's transports (closing only its copies of
 * their descriptors) and makes its own. */
segops__fork_hook_t *segops__sync_fork_hook(segops__sync_t *sync);

/* Sends one planned event and returns the delivery outcome (SEGOPS_OK or the
 * code of its drop). The ledger accepts and settles it; no report is raised. */
segops_err_t segops__sync_send(segops__sync_t *sync, const segops__event_plan_t *plan);
/* Shutdown: refuses later sends (SEGOPS_E_STATE); those in progress end by
 * `deadline` or their own, whichever comes first. */
void segops__sync_stop(segops__sync_t *sync, segops__deadline_t deadline);

#endif
