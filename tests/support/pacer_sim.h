/* The pacer under simulated traffic on a simulated clock, for test_pacer_sim_*.c: events
 * arrive at a steady rate (or two, one after the other), a tiny worker sends what is queued
 * (up to 500 events) once it fills a request or has waited the pacing interval (the worker's
 * own bookkeeping, waiting.h) and the pacer allows, telling the pacer when a full request
 * waits; a simulated SegOps server enforces a plan (API calls per rolling minute, 429 with
 * the Retry-After a sliding log gives), a burst limiter, a monthly quota or a block of 429s. */
#ifndef SEGOPS_TEST_PACER_SIM_H
#define SEGOPS_TEST_PACER_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pacer.h"

#define BATCH_MAX 500
#define DELAY_BUCKETS 700000 /* ms; longer delays land in the last bucket */
#define BUDGET_MS 600000     /* retry_budget_ms: a batch refused this long is dropped */

typedef struct server {
    uint32_t per_minute;       /* calls per rolling (closed) 60 s; 0 = none */
    uint32_t later_per_minute; /* the plan from change_at_ms on */
    int64_t change_at_ms;      /* 0 = the plan never changes */
    bool count_refused;        /* refused calls count against the window too */
    uint32_t refuse_every;     /* burst limiter: every k-th call gets 429 ... */
    uint32_t burst_ra_s;       /* ... with this Retry-After */
    uint64_t quota_calls;      /* after this many accepted calls, 429 for a day; 0 = none */
    int64_t block_from_ms;     /* every call in [block_from_ms, block_until_ms) gets 429 ... */
    int64_t block_until_ms;
    int64_t block_ra_s; /* ... with this Retry-After (-1: none) */
    int64_t *counted;   /* times of the calls in the window's log, ascending */
    size_t counted_n, counted_cap;
    uint64_t seen, accepted;
} server_t;

typedef struct call {
    int64_t start, at_server, answer;
    bool accepted;
} call_t;

typedef struct sim {
    /* the run */
    uint64_t rate;       /* events per second ... */
    uint64_t later_rate; /* ... and from rate_change_ms on (0: the rate never changes) */
    int64_t rate_change_ms;
    int64_t watch_from_ms; /* min_pace: the lowest pace in force at a call from then on */
    int64_t arrive_ms;     /* events arrive during [0, arrive_ms) */
    int64_t shutdown_ms;   /* then a shutdown with this deadline (0: none, drain all) */
    uint32_t max_per_min;  /* the option */
    bool far;              /* latency 20..200 ms (default: 10..60 ms) */
    int64_t latency_ms;    /* every request takes this long (0: as above) */
    server_t server;
    /* what happened */
    uint64_t events, delivered, dropped;
    call_t *calls;
    size_t ncalls, refused;
    int64_t finished_ms;
    uint32_t pace_changes, pace;
    uint32_t min_pace; /* UINT32_MAX: no limit at any call since watch_from_ms */
    uint64_t *delays;  /* histogram of (server arrival - track) in ms */
    int64_t max_delay;
    int64_t max_delay_watched; /* of the events that arrived from watch_from_ms on */
} sim_t;

void sim_run(sim_t *s);

void sim_free(sim_t *s);

/* The most calls the server saw in any closed 60 s window. */
size_t busiest_at_server(const sim_t *s, bool accepted_only);

/* The most calls any server could have counted in one closed 60 s window,
 * whatever moment between start and answer it counts each at (calls are
 * sequential here, so starts and answers both ascend). */
size_t busiest_for_any_server(const sim_t *s);

/* The longest way to the server: half the longest latency. */
int64_t max_up(const sim_t *s);

int64_t delay_percentile(const sim_t *s, double q);

void sim_report(const char *label, const sim_t *s);

#endif
