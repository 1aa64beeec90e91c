/* Logger dispatch, drop reports and the callback guard. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local int callback_depth;

static _Thread_local bool worker_thread;

bool segops__in_callback(void) { return callback_depth > 0; }

void segops__mark_worker_thread(void) { worker_thread = true; }

bool segops__on_worker_thread(void) { return worker_thread; }

void segops__log(const segops_options_t *cfg, segops_log_level_t level, const char *fmt, ...) {
    if (!cfg->logger || level < cfg->log_level) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    callback_depth++;
    cfg->logger(level, line, cfg->logger_data);
    callback_depth--;
}

/* The documented default of every SegOps SDK: one line on stderr per report. */
static void report_to_stderr(const segops_error_info_t *info) {
    fprintf(stderr, "segops: dropped %zu event%s (%s): %s: %s\n", info->event_count,
            info->event_count == 1 ? "" : "s", segops__drop_reason_name(info->reason),
            segops_strerror(info->code), info->message ? info->message : "");
}

void segops__report(const segops_options_t *cfg, const segops_error_info_t *info) {
    callback_depth++;
    if (cfg->on_error)
        cfg->on_error(info, cfg->on_error_data);
    else
        report_to_stderr(info);
    callback_depth--;
}

segops_err_t segops__call_get_user(const segops_options_t *cfg, segops_user_t *user) {
    callback_depth++;
    segops_err_t err = cfg->get_user(user, cfg->get_user_data);
    callback_depth--;
    return err;
}
