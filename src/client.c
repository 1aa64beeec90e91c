/* The public client: it assembles the modules and is the only file that knows
 * them all. Each module owns its state and lock; dependencies run one way:
 *
 *   client ─┬─ worker ──┬─ admission ─┬─ ledger
 *           │           │             └─ gate
 *           ├─ sync_send┴─ deliver ───┬─ ledger, gate
 *           │                         ├─ auth ── token
 *           │                         ├─ pacer
 *           │                         └─ transport
 *           └─ fork (hooks each module registers, in lock order)
 */
#include <pthread.h>

#include "admission.h"
#include "auth.h"
#include "clock.h"
#include "deliver.h"
#include "exit_watch.h"
#include "fork.h"
#include "gate.h"
#include "last_error.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "pacer.h"
#include "probe.h"
#include "spooler.h"
#include "sync_send.h"
#include "track.h"
#include "transport.h"
#include "worker.h"

#define BATCH_PATH "/api/ingestion/track/batch/"
#define MAX_FORK_HOOKS 12 /* every module's, and the NULL after them */

struct segops_client {
    segops_options_t *cfg; /* frozen copy */
    char *batch_url;
    segops__deliver_ctx_t ctx; /* what every sender shares */
    segops__gate_t *gate;
    segops__ledger_t *ledger;
    segops__auth_t *auth;
    segops__pacer_t *pacer;
    segops__admission_t *admission;  /* batch mode */
    segops__spooler_t *spooler;      /* batch mode with a spool_dir */
    segops__worker_t *worker;        /* batch mode */
    segops__sync_t *sync;            /* batch = false */
    segops__exit_watch_t exit_watch; /* says so at exit when events were never sent */
    segops__metrics_t *metrics;
    segops__probe_t *probe; /* batch mode */
};

/* The lock order, the one place it is stated: a lock may be taken while
 * holding only locks to its left.
 *
 *   worker -> admission -> lane -> spooler -> ledger, gate
 *
 * sync, auth and pacer take no other lock while holding theirs. The spool's
 * own lock (spool.h) comes last and no lock is taken while it is held;
 * outside fork() it is taken with none of the others held, so file I/O never
 * runs under the admission lock. No logger or on_error call runs while the
 * admission, a lane, the spooler or the ledger lock is held. The fork hooks
 * below take them all in this order. */
static segops__fork_hook_t *fork_hooks(segops_client_t *c, segops__fork_hook_t **out) {
    size_t n = 0;
    if (c->worker) out[n++] = segops__worker_fork_hook(c->worker);
    if (c->sync) out[n++] = segops__sync_fork_hook(c->sync);
    if (c->admission) out[n++] = segops__admission_fork_hook(c->admission);
    if (c->spooler) out[n++] = segops__spooler_fork_hook(c->spooler);
    out[n++] = segops__ledger_fork_hook(c->ledger);
    out[n++] = segops__gate_fork_hook(c->gate);
    out[n++] = segops__auth_fork_hook(c->auth);
    out[n++] = segops__pacer_fork_hook(c->pacer);
    out[n++] = segops__metrics_fork_hook(c->metrics);
    if (c->probe) out[n++] = segops__probe_fork_hook(c->probe);
    out[n] = NULL;
    return out[0];
}

static void client_destroy(segops_client_t *c) {
    if (!c) return;
    segops__fork_hook_t *hooks[MAX_FORK_HOOKS];
    if (c->ledger && c->gate && c->auth && c->pacer && c->metrics) {
        fork_hooks(c, hooks);
        for (size_t i = 0; hooks[i]; i++) segops__fork_unregister(hooks[i]);
    }
    segops__worker_free(c->worker);
    segops__admission_free(c->admission);
    segops__spooler_free(c->spooler);
    segops__sync_free(c->sync);
    segops__auth_free(c->auth);
    segops__pacer_free(c->pacer);
    segops__probe_free(c->probe);
    segops__metrics_free(c->metrics);
    segops__ledger_free(c->ledger);
    segops__gate_free(c->gate);
    segops__free(c->batch_url);
    segops_options_free(c->cfg);
    segops__free(c);
}

/* At exit: events accepted and not yet settled, unless segops_shutdown was
 * called (it settles or reports them itself). With exit_flush_ms the client is
 * first shut down with that deadline (what it drops is reported as any
 * shutdown's is), except on a worker thread or inside a callback, where
 * waiting for a worker could never end. */
static uint64_t unsent_at_exit(void *arg, bool *in_spool) {
    segops_client_t *c = arg;
    if (segops__gate_stopping(c->gate)) return 0;
    if (c->admission) segops__admission_collect(c->admission); /* every accepted event counts */
    segops_stats_t st;
    segops__ledger_snapshot(c->ledger, &st);
    *in_spool = c->spooler != NULL;
    if (!st.pending || !c->cfg->exit_flush_ms || segops__on_worker_thread() ||
        segops__in_callback())
        return st.pending;
    segops_shutdown(c, (int)c->cfg->exit_flush_ms);
    return c->spooler ? segops__ledger_left_in_spool(c->ledger) : 0;
}

static segops_err_t assemble(segops_client_t *c, const segops_options_t *opts, char *why,
                             size_t why_len) {
    segops_err_t err;
    if ((err = segops__config_copy(opts, &c->cfg)) != SEGOPS_OK) return err;
    const segops_options_t *cfg = c->cfg;
    size_t url_len = strlen(cfg->api_url);
    if (!(c->batch_url = segops__malloc(url_len + sizeof BATCH_PATH))) return SEGOPS_E_NOMEM;
    memcpy(c->batch_url, cfg->api_url, url_len);
    memcpy(c->batch_url + url_len, BATCH_PATH, sizeof BATCH_PATH);
    if ((err = segops__gate_new(&c->gate)) != SEGOPS_OK) return err;
    if ((err = segops__ledger_new(cfg, &c->ledger)) != SEGOPS_OK) return err;
    if ((err = segops__auth_new(cfg, &c->auth)) != SEGOPS_OK) return err;
    segops__pacer_config_t pacing;
    uint64_t seed = (uint64_t)segops__clock_monotonic_ms() ^ (uint64_t)(uintptr_t)c;
    segops__pacer_config_from_options(cfg, seed, &pacing);
    if ((err = segops__pacer_new(&pacing, &c->pacer)) != SEGOPS_OK) return err;
    if ((err = segops__metrics_new(&c->metrics)) != SEGOPS_OK) return err;
    c->ctx = (segops__deliver_ctx_t){.cfg = cfg,
                                     .batch_url = c->batch_url,
                                     .ledger = c->ledger,
                                     .gate = c->gate,
                                     .auth = c->auth,
                                     .pacer = c->pacer,
                                     .metrics = c->metrics};
    if (!cfg->batch) return segops__sync_new(&c->ctx, &c->sync);
    if ((err = segops__probe_new(&c->probe)) != SEGOPS_OK) return err;
    c->ctx.probe = c->probe;
    if ((err = segops__admission_new(cfg, c->ledger, c->gate, &c->admission)) != SEGOPS_OK)
        return err;
    if (cfg->spool_dir) {
        err = segops__spooler_new(cfg, c->ledger, c->gate, &c->spooler, why, why_len);
        if (err != SEGOPS_OK) return err;
        segops__admission_set_store(c->admission, segops__spooler_store(c->spooler));
        c->ctx.spool_keeps = segops__spooler_keeps;
        c->ctx.spool_settled = segops__spooler_settled;
        c->ctx.spool_arg = c->spooler;
    }
    if ((err = segops__worker_new(&c->ctx, c->admission, c->spooler, &c->worker)) != SEGOPS_OK)
        return err;
    if ((err = segops__worker_ensure(c->worker)) != SEGOPS_OK) return err;
    return c->spooler ? segops__spooler_start(c->spooler, c->admission) : SEGOPS_OK;
}

segops_err_t segops_client_new(const segops_options_t *opts, segops_client_t **out) {
    if (!out) return segops__fail(SEGOPS_E_INVALID_ARG, "segops_client_new: out is NULL");
    *out = NULL;
    if (!opts) return segops__fail(SEGOPS_E_INVALID_ARG, "segops_client_new: opts is NULL");
    char why[SEGOPS__DETAIL_LEN + 64];
    segops_err_t err = segops__config_check(opts, why, sizeof why);
    if (err != SEGOPS_OK) {
        segops__log(opts, SEGOPS_LOG_ERROR, "segops_client_new: %s", why);
        return segops__fail(err, "segops_client_new: %s", why);
    }
    if (segops__transport_init_process() != SEGOPS_OK) {
        segops__log(opts, SEGOPS_LOG_ERROR, "segops_client_new: libcurl could not start");
        return segops__fail(SEGOPS_E_INTERNAL, "segops_client_new: libcurl could not start");
    }
    segops_client_t *c = segops__calloc(1, sizeof *c);
    if (!c) return segops__fail(SEGOPS_E_NOMEM, "segops_client_new: out of memory");
    why[0] = '\0';
    if ((err = assemble(c, opts, why, sizeof why)) != SEGOPS_OK) {
        if (why[0]) segops__log(opts, SEGOPS_LOG_ERROR, "segops_client_new: %s", why);
        if (c->worker) { /* started: stop it before freeing what it uses */
            segops__gate_stop(c->gate, segops__deadline_none());
            segops__admission_close(c->admission);
            segops__worker_join(c->worker, segops__deadline_none());
        }
        client_destroy(c);
        return segops__fail(err, "segops_client_new: %s",
                            why[0] ? why
                            : err == SEGOPS_E_INTERNAL
                                ? "could not start the worker thread or set up libcurl"
                                : segops_strerror(err));
    }
    segops__fork_hook_t *hooks[MAX_FORK_HOOKS];
    fork_hooks(c, hooks);
    for (size_t i = 0; hooks[i]; i++) segops__fork_register(hooks[i]);
    c->exit_watch = (segops__exit_watch_t){unsent_at_exit, c, NULL, NULL};
    segops__exit_watch_add(&c->exit_watch);
    *out = c;
    return SEGOPS_OK;
}

size_t segops__track_max_event_bytes(const segops_client_t *c) { return c->cfg->max_event_bytes; }

segops_err_t segops__track_reject(segops_client_t *c, segops_err_t err) {
    return segops__ledger_reject(c->ledger, err);
}

/* Why the client refuses calls in its state: shut down, or inside a callback. */
static const char *state_reason(const segops_client_t *c) {
    return segops__in_callback()            ? "called from inside a segops callback"
           : segops__gate_stopping(c->gate) ? "the client is shut down (segops_shutdown was called)"
                                            : "the client cannot take it now";
}

/* A track refused after planning: counted, with its reason. */
static segops_err_t refuse_planned(segops_client_t *c, segops_err_t err) {
    const segops_options_t *cfg = c->cfg;
    if (err == SEGOPS_E_STATE)
        segops__fail(err, "segops_track: %s", state_reason(c));
    else if (err == SEGOPS_E_QUEUE_FULL)
        segops__fail(
            err, "segops_track: the queue is full (max_queue_events %zu, max_queue_bytes %zu%s)",
            cfg->max_queue_events, cfg->max_queue_bytes,
            cfg->overflow == SEGOPS_OVERFLOW_BLOCK ? ", after waiting block_timeout_ms" : "");
    else
        segops__failed(err, "segops_track");
    return segops__ledger_reject(c->ledger, err);
}

segops_err_t segops__track_plan(segops_client_t *c, const segops__event_plan_t *plan) {
    if (!c->cfg->batch) {
        /* A logger or get_user runs inside a send: a track from there would
         * nest sends without bound. */
        if (segops__gate_stopping(c->gate) || segops__in_callback())
            return refuse_planned(c, SEGOPS_E_STATE);
        return segops__sync_send(c->sync, plan);
    }
    if (segops__admission_try_lane(c->admission, plan)) return SEGOPS_OK;
    /* The slow path: a full queue, closed lanes (shutdown, or a forked child
     * whose worker has not started yet) or no memory in the lane. */
    segops_err_t err = segops__worker_ensure(c->worker);
    if (err == SEGOPS_OK) err = segops__admission_track(c->admission, plan);
    return err == SEGOPS_OK ? SEGOPS_OK : refuse_planned(c, err);
}

segops_err_t segops_track_event(segops_client_t *c, const segops_event_t *ev) {
    if (!c) return segops__fail(SEGOPS_E_INVALID_ARG, "segops_track: client is NULL");
    segops__event_plan_t plan;
    segops_err_t err =
        segops__event_prepare(ev, c->cfg->max_event_bytes, segops__clock_realtime_ms(), &plan);
    if (err != SEGOPS_OK) return segops__ledger_reject(c->ledger, err);
    return segops__track_plan(c, &plan);
}

segops_err_t segops_track(segops_client_t *c, const char *user_id, const char *event_type,
                          const char *payload_json) {
    segops_event_t ev = {user_id, event_type, payload_json, NULL, NULL};
    return segops_track_event(c, &ev);
}

segops_err_t segops_identify(segops_client_t *c, const char *user_id, const char *traits_json) {
    return segops_track(c, user_id, "context_identified", traits_json);
}

/* With a spool, a shutdown that began during a flush decides what becomes of
 * the events the flush waits for: those it leaves on disk for the next client
 * (and a backlog nobody read) look settled to the ledger but were neither
 * delivered nor dropped, so the flush timed out, as the shutdown did. */
static segops_err_t flush_during_shutdown(segops_client_t *c, segops__deadline_t deadline) {
    segops_err_t shutdown_err;
    if (!segops__gate_await_finish(c->gate, deadline, &shutdown_err)) return SEGOPS_E_TIMEOUT;
    bool left = segops__ledger_left_in_spool(c->ledger) > 0 || segops__spooler_backlog(c->spooler);
    return left ? SEGOPS_E_TIMEOUT : SEGOPS_OK;
}

segops_err_t segops_flush(segops_client_t *c, int timeout_ms) {
    if (!c) return segops__fail(SEGOPS_E_INVALID_ARG, "segops_flush: client is NULL");
    if (segops__in_callback())
        return segops__fail(SEGOPS_E_STATE, "segops_flush: called from inside a segops callback");
    segops__deadline_t deadline = segops__deadline_after(segops__clock_monotonic_ms(), timeout_ms);
    if (segops__gate_stopping(c->gate))
        return segops__fail(SEGOPS_E_STATE, "segops_flush: %s", state_reason(c));
    if (!c->cfg->batch) return SEGOPS_OK; /* every send already returned its outcome */
    segops_err_t err = segops__worker_ensure(c->worker);
    if (err != SEGOPS_OK)
        return segops__fail(err, "segops_flush: could not start the worker in this process");
    /* Everything tracked before this call is written first (with a spool,
     * events reach the queue through the spool thread). */
    if (c->spooler) segops__spooler_write_now(c->spooler, deadline);
    uint64_t target = segops__admission_collect(c->admission);
    segops__gate_request_drain(c->gate, target);
    for (;;) {
        /* With a spool, what waits on disk (left by earlier runs too) is older
         * than this call: read before the wait, a backlog seen empty was handed
         * to the worker already, and the ledger holds it. */
        bool backlog = c->spooler && segops__spooler_backlog(c->spooler);
        err = segops__ledger_wait_settled(c->ledger, target, deadline);
        if (err != SEGOPS_OK) break;
        if (c->spooler && segops__gate_stopping(c->gate)) {
            err = flush_during_shutdown(c, deadline);
            break;
        }
        if (!backlog) break;
        if (segops__deadline_expired(deadline, segops__clock_monotonic_ms())) {
            err = SEGOPS_E_TIMEOUT;
            break;
        }
        segops__gate_kick(c->gate);
        /* Returns at once when a stop deadline passed: the check above ends the loop. */
        segops__gate_sleep(
            c->gate, segops__deadline_after(segops__clock_monotonic_ms(), SEGOPS__SPOOL_FLUSH_MS),
            false, 0);
    }
    if (err == SEGOPS_E_TIMEOUT)
        segops__fail(err, "segops_flush: events were still pending after %d ms; they stay queued",
                     timeout_ms);
    else
        segops__failed(err, "segops_flush");
    return err;
}

/* A shutdown's reason, when it is not SEGOPS_OK. */
static segops_err_t shutdown_result(segops_err_t err, const segops_client_t *c) {
    if (err == SEGOPS_E_TIMEOUT)
        segops__fail(err, "segops_shutdown: %s",
                     c->spooler ? "events were left in the spool for the next client"
                                : "events were dropped at the deadline (see on_error)");
    else
        segops__failed(err, "segops_shutdown");
    return err;
}

segops_err_t segops_shutdown(segops_client_t *c, int timeout_ms) {
    if (!c) return segops__fail(SEGOPS_E_INVALID_ARG, "segops_shutdown: client is NULL");
    if (segops__in_callback())
        return segops__fail(SEGOPS_E_STATE,
                            "segops_shutdown: called from inside a segops callback");
    segops__deadline_t deadline = segops__deadline_after(segops__clock_monotonic_ms(), timeout_ms);
    /* Read before the stop: once the gate says stop, the worker may drop what
     * the deadline leaves before this thread looks again. */
    uint64_t dropped_before = segops__ledger_dropped_shutdown(c->ledger);
    /* Only the first caller drives the shutdown; every other one waits for it
     * with its own deadline and returns its result. */
    if (!segops__gate_stop(c->gate, deadline)) {
        segops_err_t result;
        bool finished = segops__gate_await_finish(c->gate, deadline, &result);
        return shutdown_result(finished ? result : SEGOPS_E_TIMEOUT, c);
    }
    if (c->cfg->batch) {
        segops__admission_close(c->admission);
        segops__worker_join(c->worker, deadline);
        if (c->spooler) {
            segops__spooler_stop(c->spooler);
            segops__spooler_write_rest(c->spooler); /* whatever came after its last round */
        }
        /* What the deadline left: parked when it has a spool record (on disk
         * for the next client), otherwise reported, then counted. */
        const segops__drop_t leftovers = {.code = SEGOPS_E_TIMEOUT,
                                          .reason = SEGOPS_DROP_SHUTDOWN,
                                          .message = "not delivered by the shutdown deadline"};
        segops__admission_drop_all(c->admission, &leftovers);
    } else {
        segops__sync_stop(c->sync, deadline);
    }
    /* Synchronous sends (bounded by the deadline) and evictions being reported
     * settle before shutdown returns. */
    segops__ledger_wait_quiet(c->ledger);
    /* With a spool nothing is dropped at the deadline: what is left stays on
     * disk for the next client, which is still a timeout for this one. */
    bool dropped = segops__ledger_dropped_shutdown(c->ledger) > dropped_before;
    bool left = c->spooler && segops__ledger_left_in_spool(c->ledger) > 0;
    segops_err_t result = dropped || left ? SEGOPS_E_TIMEOUT : SEGOPS_OK;
    segops__gate_finish(c->gate, result);
    return shutdown_result(result, c);
}

void segops_client_free(segops_client_t *c) {
    if (!c || segops__in_callback()) return;
    segops__exit_watch_remove(&c->exit_watch); /* the shutdown is asked for: nothing to say */
    segops_shutdown(c, -1);
    client_destroy(c);
}

segops_err_t segops_client_stats(segops_client_t *c, segops_stats_t *out) {
    if (!c || !out)
        return segops__fail(SEGOPS_E_INVALID_ARG, "segops_client_stats: %s is NULL",
                            c ? "out" : "client");
    if (c->admission) segops__admission_collect(c->admission); /* every accepted event counts */
    segops__ledger_snapshot(c->ledger, out);
    out->token_mints = segops__auth_mints(c->auth);
    out->rate_limited = segops__pacer_rate_limited(c->pacer);
    out->pace_per_minute = segops__pacer_current_per_minute(c->pacer, segops__clock_monotonic_ms());
    if (c->spooler) segops__spooler_stats(c->spooler, out);
    segops__metrics_snapshot(c->metrics, out);
    int64_t oldest = 0;
    if (c->admission) {
        int64_t queued = segops__admission_oldest_tracked_ms(c->admission);
        int64_t sending = segops__worker_oldest_in_flight_ms(c->worker);
        oldest = queued && sending ? SEGOPS__MIN(queued, sending) : queued ? queued : sending;
    }
    int64_t now = segops__clock_realtime_ms();
    out->oldest_pending_age_ms = oldest && now > oldest ? (uint64_t)(now - oldest) : 0;
    return SEGOPS_OK;
}
