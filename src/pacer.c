/* Request pacing: the limit (hard and learned), the spreading, the partial
 * interval, the server's waits and what a 429 teaches. See pacer.h. */
#include "pacer.h"

#include <pthread.h>

#include "clock.h"
#include "pacer_log.h"
#include "retry.h"

/* A request counts until this long after its answer: a server counting it at any
 * moment up to its answer and a later request at or after its start sees them
 * more than 60 s apart, so no closed 60 s window holds both. */
#define COUNTED_MS (SEGOPS__PACER_WINDOW_MS + 1)
/* The log's first size without a hard limit; it doubles as traffic needs. */
#define LOG_INITIAL_CAP 64
/* The log never grows past this (a minute of requests at the highest limit and
 * then some); beyond it a learned limit would be above the maximum anyway. */
#define LOG_MAX_CAP                                                                                \
    ((size_t)SEGOPS__MAX_REQUESTS_PER_MINUTE + (SEGOPS__MAX_REQUESTS_PER_MINUTE / 4))

struct segops__pacer {
    pthread_mutex_t lock;
    segops__pacer_config_t cfg;
    segops__pacer_log_t log; /* answered requests of the last minute */
    uint32_t in_flight;      /* begun, not yet ended */
    int64_t latest_ms;       /* latest time noted: keeps the log's answers in order */
    int64_t last_start_ms;   /* INT64_MIN before the first request */
    int64_t first_start_ms;  /* INT64_MIN before the first request */
    int64_t blocked_until_ms;
    int64_t backlog_ms;  /* last time a full request of new events waited (note_backlog) */
    int64_t held_ms;     /* last time the limit held such a backlog back */
    int64_t accepted_ms; /* last 2xx answer */
    int64_t run_ms;      /* the first 429 of the current run */

    uint32_t learned;         /* limit learned from 429s; 0 = none */
    uint32_t confirmed;       /* what the last 429 taught (learned - confirmed = probe raises) */
    bool measured;            /* the lesson measured the plan; false: a momentary bound */
    uint32_t quiet_ms;        /* the stretch without a 429 before the next raise */
    int64_t last_change_ms;   /* last learning or raise */
    int64_t last_rate_429_ms; /* last 429 that speaks of a rate (window or unknown) */
    uint32_t streak;          /* consecutive 429s */
    uint32_t reported;        /* the limit last handed out by on_429 / take_change */
    uint64_t rate_limited;
    uint64_t rng;
    segops__fork_hook_t fork_hook;
};

void segops__pacer_config_from_options(const segops_options_t *opts, uint64_t seed,
                                       segops__pacer_config_t *out) {
    *out = (segops__pacer_config_t){
        .max_per_minute = opts->max_requests_per_minute,
        .partial_interval_ms =
            SEGOPS__MIN((uint32_t)SEGOPS__PACER_PARTIAL_INTERVAL_MS, opts->flush_interval_ms),
        .backoff_base_ms = opts->retry_base_ms,
        .backoff_cap_ms = opts->retry_cap_ms,
        .retry_after_max_ms = opts->retry_after_max_ms,
        .seed = seed,
    };
}

segops_err_t segops__pacer_new(const segops__pacer_config_t *cfg, segops__pacer_t **out) {
    if (!out) return SEGOPS_E_INVALID_ARG;
    *out = NULL;
    if (!cfg || cfg->max_per_minute > SEGOPS__MAX_REQUESTS_PER_MINUTE) return SEGOPS_E_INVALID_ARG;
    segops__pacer_t *p = segops__calloc(1, sizeof *p);
    if (!p) return SEGOPS_E_NOMEM;
    /* With a hard limit n the window check needs the last n answers: never fewer. */
    size_t cap = cfg->max_per_minute ? cfg->max_per_minute : LOG_INITIAL_CAP;
    if (segops__pacer_log_init(&p->log, cap, LOG_MAX_CAP) != SEGOPS_OK) {
        segops__free(p);
        return SEGOPS_E_NOMEM;
    }
    pthread_mutex_init(&p->lock, NULL);
    p->cfg = *cfg;
    p->latest_ms = INT64_MIN;
    p->last_start_ms = INT64_MIN;
    p->first_start_ms = INT64_MIN;
    p->blocked_until_ms = INT64_MIN;
    p->backlog_ms = INT64_MIN;
    p->held_ms = INT64_MIN;
    p->accepted_ms = INT64_MIN;
    p->run_ms = INT64_MIN;
    p->last_change_ms = INT64_MIN;
    p->last_rate_429_ms = INT64_MIN;
    p->quiet_ms = SEGOPS__PACER_PROBE_QUIET_MS;
    p->reported = cfg->max_per_minute;
    p->rng = cfg->seed ^ UINT64_C(0x9E3779B97F4A7C15);
    *out = p;
    return SEGOPS_OK;
}

void segops__pacer_free(segops__pacer_t *p) {
    if (!p) return;
    pthread_mutex_destroy(&p->lock);
    segops__pacer_log_free(&p->log);
    segops__free(p);
}

/* ---- the rules (called with the lock held) ---- */

static uint32_t limit(const segops__pacer_t *p) {
    uint32_t hard = p->cfg.max_per_minute, learned = p->learned;
    if (!hard) return learned;
    return learned ? SEGOPS__MIN(hard, learned) : hard;
}

/* Raises the learned limit by `by`; past the maximum it is dropped. */
static void raise_by(segops__pacer_t *p, uint32_t by) {
    uint64_t raised = (uint64_t)p->learned + by;
    p->learned = raised > SEGOPS__MAX_REQUESTS_PER_MINUTE ? 0 : (uint32_t)raised;
    if (!p->learned) p->confirmed = 0;
}

/* Raises a learned limit after a quiet stretch: +10% (at least 1) per stretch
 * without a 429, until it passes the maximum and is dropped. Lazily, from now. */
static void probe_slowly(segops__pacer_t *p, int64_t now) {
    for (;;) {
        if (!p->learned) return;
        int64_t since = SEGOPS__MAX(p->last_change_ms, p->last_rate_429_ms);
        if (now - since < (int64_t)p->quiet_ms) return;
        p->last_change_ms = since + p->quiet_ms; /* catch up one stretch at a time */
        /* The previous raise held for a whole stretch: raise sooner next time. */
        if (p->learned > p->confirmed)
            p->quiet_ms = SEGOPS__MAX(p->quiet_ms / 2, (uint32_t)SEGOPS__PACER_PROBE_QUIET_MS);
        raise_by(p, SEGOPS__MAX(p->learned / 10, 1u));
    }
}

/* A momentary bound (a 429 that did not measure the plan) holds only while it
 * must: when it held a backlog back during a fast stretch in which the server
 * accepted requests and sent no 429 that speaks of a rate, it doubles. A raise
 * any 429 follows is undone and makes the bound before it a measured one (see
 * learn). */
static void probe_fast(segops__pacer_t *p, int64_t now) {
    if (!p->learned || p->measured) return;
    int64_t since = SEGOPS__MAX(p->last_change_ms, p->last_rate_429_ms);
    if (now - since < SEGOPS__PACER_PROBE_FAST_MS) return;
    if (p->held_ms <= since || p->accepted_ms <= since) return;
    p->last_change_ms = now;
    raise_by(p, p->learned);
}

static void probe(segops__pacer_t *p, int64_t now) {
    probe_fast(p, now);
    probe_slowly(p, now);
}

/* The earliest start the limit allows: fewer than `limit` requests may be
 * counted at that moment, requests in flight included (they count until 60 s
 * after an answer still to come, so they count for at least 60 s from now). */
static int64_t window_slot(const segops__pacer_t *p, int64_t now) {
    uint32_t n = limit(p);
    if (!n) return INT64_MIN;
    if (p->in_flight >= n) return now + COUNTED_MS;
    int64_t answered = segops__pacer_log_nth_newest(&p->log, n - p->in_flight);
    return answered == INT64_MIN ? INT64_MIN : answered + COUNTED_MS;
}

/* The earliest start the limit allows: the window and (not for urgent
 * requests) the spreading, ceil(60 s / limit) between starts. */
static int64_t limit_slot(const segops__pacer_t *p, int64_t now, bool urgent) {
    int64_t at = window_slot(p, now);
    uint32_t n = limit(p);
    if (n && !urgent && p->last_start_ms != INT64_MIN)
        at = SEGOPS__MAX(at, p->last_start_ms + (SEGOPS__PACER_WINDOW_MS + n - 1) / n);
    return at;
}

static int64_t slot(segops__pacer_t *p, int64_t now, bool full, bool urgent) {
    probe(p, now);
    int64_t at = SEGOPS__MAX(now, p->blocked_until_ms);
    at = SEGOPS__MAX(at, limit_slot(p, now, urgent));
    /* The partial interval counts from the previous request's start. */
    if (!urgent && !full && p->last_start_ms != INT64_MIN && p->cfg.partial_interval_ms)
        at = SEGOPS__MAX(at, p->last_start_ms + (int64_t)p->cfg.partial_interval_ms);
    return at;
}

static void begin(segops__pacer_t *p, int64_t now) {
    p->in_flight++;
    if (p->first_start_ms == INT64_MIN) p->first_start_ms = now;
    p->last_start_ms = SEGOPS__MAX(p->last_start_ms, now);
}

/* Ends a begun request in the log; returns the (ordered) time it was noted at. */
static int64_t end(segops__pacer_t *p, int64_t started, int64_t now, bool accepted) {
    if (p->in_flight) p->in_flight--;
    int64_t t = SEGOPS__MAX(now, p->latest_ms);
    p->latest_ms = t;
    segops__pacer_log_add(&p->log, SEGOPS__MIN(started, t), t, accepted, t - COUNTED_MS);
    if (accepted) p->accepted_ms = t;
    return t;
}

/* A raise that a 429 followed was one too many: double the stretch before the
 * next one. Otherwise (the plan or the traffic changed) start probing afresh. */
static void after_raise_refused(segops__pacer_t *p, bool raised, int64_t now) {
    p->quiet_ms = raised ? SEGOPS__MIN(p->quiet_ms * 2, (uint32_t)SEGOPS__PACER_PROBE_QUIET_MAX_MS)
                         : (uint32_t)SEGOPS__PACER_PROBE_QUIET_MS;
    p->last_change_ms = now;
}

/* What a 429 at `now` teaches. `lesson`: the accepted requests the server's full
 * window held (a lower bound of its count), 0 when this 429 says nothing about a
 * count; `measured`: that count measures the plan (see lesson_of). A lesson
 * becomes the limit; without one, a 429 still undoes the raises made since the
 * last lesson (against a small limit a raise of 10% overshoots by so little that
 * the server's Retry-After is short and reads as a burst), which never goes
 * below what the server taught, so repeated 429s cannot ratchet the limit down.
 * A momentary bound that draws a second lesson, or whose raise is refused, is
 * measured from then on: the server keeps refusing at about that rate. */
static void learn(segops__pacer_t *p, int64_t now, size_t lesson, bool measured) {
    bool raised = p->learned > p->confirmed;
    bool momentary = p->learned && !p->measured;
    if (lesson) {
        p->learned = p->confirmed =
            (uint32_t)SEGOPS__MIN(lesson, (size_t)SEGOPS__MAX_REQUESTS_PER_MINUTE);
        p->measured = measured || momentary || raised;
        after_raise_refused(p, raised, now);
    } else if (raised) {
        p->learned = p->confirmed;
        p->measured = true;
        after_raise_refused(p, true, now);
    }
}

/* The lesson of a 429 at t that says the server's window of span_ms is full:
 * the accepted requests that started in it. That count measures the plan only
 * when the client was using the plan fully: a full request's worth of events
 * waited in that span before this run of 429s, so it sent all it was allowed.
 * Otherwise the count says how little traffic the client had, not what the
 * plan allows (another process on the key, a block, an outage answered with
 * 429): a momentary bound, taken as the rate the client had over the part of
 * the span it has been running, and raised fast while it holds a backlog back
 * (probe_fast). */
static size_t lesson_of(const segops__pacer_t *p, int64_t t, int64_t span_ms, bool *measured) {
    int64_t from = t - span_ms;
    size_t count = segops__pacer_log_count_accepted(&p->log, from);
    *measured = p->backlog_ms > from && p->backlog_ms <= p->run_ms;
    int64_t ran = t - p->first_start_ms;
    if (*measured || p->first_start_ms == INT64_MIN || ran >= span_ms || ran <= 0) return count;
    return (size_t)(((uint64_t)count * (uint64_t)span_ms + (uint64_t)ran - 1) / (uint64_t)ran);
}

static segops__limit_kind_t classify(int64_t retry_after_ms) {
    if (retry_after_ms < 0) return SEGOPS__LIMIT_UNKNOWN;
    if (retry_after_ms <= SEGOPS__PACER_BURST_MAX_MS) return SEGOPS__LIMIT_BURST;
    if (retry_after_ms <= SEGOPS__PACER_WINDOW_MAX_MS) return SEGOPS__LIMIT_WINDOW;
    return SEGOPS__LIMIT_QUOTA;
}

/* True when the limit differs from the one last reported (and reports it). */
static bool take_change(segops__pacer_t *p, uint32_t *per_minute) {
    uint32_t now_limit = limit(p);
    if (per_minute) *per_minute = now_limit;
    if (now_limit == p->reported) return false;
    p->reported = now_limit;
    return true;
}

/* ---- the API ---- */

int64_t segops__pacer_next_slot(segops__pacer_t *p, int64_t now_ms, bool full, bool urgent) {
    pthread_mutex_lock(&p->lock);
    int64_t at = slot(p, now_ms, full, urgent);
    pthread_mutex_unlock(&p->lock);
    return at;
}

bool segops__pacer_try_begin(segops__pacer_t *p, int64_t now_ms, bool full, bool urgent,
                             int64_t *retry_at) {
    pthread_mutex_lock(&p->lock);
    int64_t at = slot(p, now_ms, full, urgent);
    bool go = at <= now_ms;
    if (go) begin(p, now_ms);
    pthread_mutex_unlock(&p->lock);
    if (retry_at) *retry_at = at;
    return go;
}

void segops__pacer_note_request(segops__pacer_t *p, int64_t now_ms) {
    pthread_mutex_lock(&p->lock);
    begin(p, now_ms);
    pthread_mutex_unlock(&p->lock);
}

void segops__pacer_note_backlog(segops__pacer_t *p, int64_t now_ms) {
    pthread_mutex_lock(&p->lock);
    p->backlog_ms = SEGOPS__MAX(p->backlog_ms, now_ms);
    if (limit_slot(p, now_ms, false) > SEGOPS__MAX(now_ms, p->blocked_until_ms))
        p->held_ms = now_ms;
    pthread_mutex_unlock(&p->lock);
}

void segops__pacer_note_done(segops__pacer_t *p, int64_t started_ms, int64_t now_ms,
                             bool accepted) {
    pthread_mutex_lock(&p->lock);
    end(p, started_ms, now_ms, accepted);
    if (accepted) p->streak = 0;
    pthread_mutex_unlock(&p->lock);
}

segops__pacer_429_t segops__pacer_on_429(segops__pacer_t *p, int64_t now_ms,
                                         int64_t retry_after_ms) {
    segops__pacer_429_t r = {.kind = classify(retry_after_ms)};
    pthread_mutex_lock(&p->lock);
    int64_t t = end(p, now_ms, now_ms, false);
    probe(p, t); /* a raise due before this 429 happened before it */
    p->rate_limited++;
    r.streak = ++p->streak;
    uint32_t cap = p->cfg.retry_after_max_ms;
    if (r.kind == SEGOPS__LIMIT_UNKNOWN)
        r.wait_ms = segops__retry_backoff_ms(p->cfg.backoff_base_ms, p->cfg.backoff_cap_ms,
                                             r.streak, &p->rng);
    else
        r.wait_ms = (uint32_t)SEGOPS__MIN(retry_after_ms, (int64_t)cap);
    if (r.kind != SEGOPS__LIMIT_QUOTA)
        p->blocked_until_ms = SEGOPS__MAX(p->blocked_until_ms, t + (int64_t)r.wait_ms);

    if (r.streak == 1) p->run_ms = t;
    if (r.kind == SEGOPS__LIMIT_WINDOW || r.kind == SEGOPS__LIMIT_UNKNOWN) p->last_rate_429_ms = t;
    /* A window: only the first 429 of a run, as later ones see a window that our
     * own refused requests may have filled. */
    int64_t span = 0;
    if (r.kind == SEGOPS__LIMIT_WINDOW && r.streak == 1 && retry_after_ms < SEGOPS__PACER_WINDOW_MS)
        span = SEGOPS__PACER_WINDOW_MS - retry_after_ms;
    if (r.kind == SEGOPS__LIMIT_UNKNOWN && r.streak == SEGOPS__PACER_UNKNOWN_LEARN_STREAK)
        span = SEGOPS__PACER_WINDOW_MS;
    bool measured = false;
    size_t lesson = span ? lesson_of(p, t, span, &measured) : 0;
    if (r.kind != SEGOPS__LIMIT_QUOTA) learn(p, t, lesson, measured);
    r.pace_changed = take_change(p, &r.per_minute);
    pthread_mutex_unlock(&p->lock);
    return r;
}

bool segops__pacer_take_change(segops__pacer_t *p, int64_t now_ms, uint32_t *per_minute) {
    pthread_mutex_lock(&p->lock);
    probe(p, now_ms);
    bool changed = take_change(p, per_minute);
    pthread_mutex_unlock(&p->lock);
    return changed;
}

uint32_t segops__pacer_current_per_minute(segops__pacer_t *p, int64_t now_ms) {
    pthread_mutex_lock(&p->lock);
    probe(p, now_ms);
    uint32_t n = limit(p);
    pthread_mutex_unlock(&p->lock);
    return n;
}

uint64_t segops__pacer_rate_limited(segops__pacer_t *p) {
    pthread_mutex_lock(&p->lock);
    uint64_t n = p->rate_limited;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void segops__pacer_fork_prepare(segops__pacer_t *p) { pthread_mutex_lock(&p->lock); }

void segops__pacer_fork_parent(segops__pacer_t *p) { pthread_mutex_unlock(&p->lock); }

void segops__pacer_fork_child(segops__pacer_t *p, int64_t now_ms) {
    while (p->in_flight) end(p, now_ms, now_ms, false);
    p->rate_limited = 0;
    p->streak = 0;
    pthread_mutex_unlock(&p->lock);
}

static void hook_prepare(void *arg) { segops__pacer_fork_prepare(arg); }
static void hook_parent(void *arg) { segops__pacer_fork_parent(arg); }
static void hook_child(void *arg) { segops__pacer_fork_child(arg, segops__clock_monotonic_ms()); }

segops__fork_hook_t *segops__pacer_fork_hook(segops__pacer_t *p) {
    if (!p->fork_hook.arg) /* first call: the registry owns the links after it */
        p->fork_hook = (segops__fork_hook_t){hook_prepare, hook_parent, hook_child, p, NULL, NULL};
    return &p->fork_hook;
}
