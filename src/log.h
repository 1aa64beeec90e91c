/* Diagnostics and drop reports: the logger option, the default stderr line for
 * on_error, and the thread-local marks (inside a callback, worker thread). */
#ifndef SEGOPS_LOG_H
#define SEGOPS_LOG_H

#include "common.h"

#include "config.h"

const char *segops__drop_reason_name(segops_drop_reason_t reason);

/* Formats one line and hands it to the configured logger (if any, at or above
 * its level). Never include secrets in fmt's arguments. */
void segops__log(const segops_options_t *cfg, segops_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Delivers one drop report to on_error (or the stderr default), marking the
 * thread as inside a callback. Call with no library lock held. */
void segops__report(const segops_options_t *cfg, const segops_error_info_t *info);

/* Runs get_user with the thread marked as inside a callback. */
segops_err_t segops__call_get_user(const segops_options_t *cfg, segops_user_t *user);

/* True while this thread runs a segops callback (flush/shutdown/free refuse). */
bool segops__in_callback(void);

/* Marks the calling thread as a client's worker, for the rest of its life. */
void segops__mark_worker_thread(void);
/* True on a worker thread: it must never wait for room only it can free. */
bool segops__on_worker_thread(void);

#endif
