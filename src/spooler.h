/* The spooler: what a client with a spool_dir does with its spool (spool.h).
 *
 * - Every accepted event is written by the spool thread, which takes what
 *   admission accepted every SEGOPS__SPOOL_FLUSH_MS (sooner when many wait),
 *   writes it holding no admission lock, then hands it to the worker; so the
 *   crash window does not depend on the worker, which may be blocked in a
 *   request or a backoff, and track never does file I/O. At most
 *   SEGOPS__SPOOL_MAX_UNWRITTEN accepted events are not yet written at any
 *   moment (admission.h): past that, track waits for this thread.
 * - While memory has room, events stay queued in memory too and the worker
 *   sends them from there; once the memory queue is full, events go to disk
 *   only (spill), and so does everything after them until the worker has read
 *   the backlog back, oldest first. Memory stays within the queue's bounds
 *   while the backlog on disk may be much larger.
 * - Events whose end is final (delivered, or dropped for their own reason) are
 *   acknowledged as they settle, in any order (spool_ack.h keeps a cursor and
 *   the settled ranges above it on disk), so a crash resends at most the
 *   events of the requests in flight (up to max_in_flight) and never skips one.
 * - The spool's own losses (damaged records, events past spool_max_age_ms,
 *   overflow at spool_max_bytes) are reported once each through on_error.
 * - A disk that fails (full, I/O error) never loses events silently: they stay
 *   in memory only, counted in spool_write_failures, with one WARN log line per
 *   streak of failures (logged by the spool thread). An event only in memory
 *   is never left for the next client: at the shutdown deadline it is dropped
 *   and reported (SEGOPS_DROP_SHUTDOWN).
 * - An evicted event's record is acknowledged (by the spool thread), so it has
 *   one outcome, and its room in the spool is freed.
 * A forked child never touches the parent's spool: its client runs memory-only. */
#ifndef SEGOPS_SPOOLER_H
#define SEGOPS_SPOOLER_H

#include "common.h"

#include "admission.h"
#include "event.h"
#include "fork.h"
#include "gate.h"
#include "ledger.h"

/* The longest an accepted event waits in memory before it is in the spool files
 * (the page cache): the period of the spool thread. The documented crash window
 * is at most 50 ms, leaving room for scheduling. */
#define SEGOPS__SPOOL_FLUSH_MS 20

typedef struct segops__spooler segops__spooler_t;

/* Opens cfg->spool_dir. SEGOPS_OK, SEGOPS_E_CONFIG with a one-line reason in
 * why (an unusable directory), or SEGOPS_E_NOMEM. */
segops_err_t segops__spooler_new(const segops_options_t *cfg, segops__ledger_t *ledger,
                                 segops__gate_t *gate, segops__spooler_t **out, char *why,
                                 size_t why_len);
/* Writes the acknowledgements and closes the spool: what is not settled stays
 * for the next client. The thread must have been stopped. NULL-safe. */
void segops__spooler_free(segops__spooler_t *sp);
segops__fork_hook_t *segops__spooler_fork_hook(segops__spooler_t *sp);

/* What admission calls (wake). */
const segops__admission_store_t *segops__spooler_store(segops__spooler_t *sp);
/* Waits until a write round that begins after this call is done (everything
 * tracked before it is then in the queue or on disk), or until deadline
 * or a stop. Returns at once when the thread does not run. */
void segops__spooler_write_now(segops__spooler_t *sp, segops__deadline_t deadline);
/* The delivery hooks (segops__deliver_ctx_t): arg is the spooler. keeps: the
 * spool holds undelivered events (false in a forked child, memory-only). */
bool segops__spooler_keeps(void *arg);
/* settled: the records (packed positions, 0 = none) of events whose end is
 * final are forgotten on disk. */
void segops__spooler_settled(void *arg, const uint64_t *records, size_t n);

/* Starts the spool thread, which writes what adm accepted every
 * SEGOPS__SPOOL_FLUSH_MS.
 * SEGOPS_OK or SEGOPS_E_INTERNAL. */
segops_err_t segops__spooler_start(segops__spooler_t *sp, segops__admission_t *adm);
/* Stops and joins the thread after a last round (losses reported, synced). */
void segops__spooler_stop(segops__spooler_t *sp);

/* At the stop, once the thread was stopped: one more write round on the
 * calling thread, for what was accepted after the thread's last round. */
void segops__spooler_write_rest(segops__spooler_t *sp);
/* True while records wait on disk only (spilled, or left by earlier runs). */
bool segops__spooler_backlog(segops__spooler_t *sp);
/* The worker's read of the backlog: up to max_events records, within max_bytes
 * (a comma each counted; at least one), oldest first, as events it owns (held
 * by the disk in the ledger; records of earlier runs are counted recovered).
 * Returns how many; *bytes receives their encoded size. */
size_t segops__spooler_read(segops__spooler_t *sp, segops__event_t **events, size_t max_events,
                            size_t max_bytes, size_t *bytes);
/* spooled, spool_bytes and spool_write_failures. */
void segops__spooler_stats(segops__spooler_t *sp, segops_stats_t *out);

#endif
