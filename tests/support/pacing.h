/* What the pacing tests share (issue 12): a local server enforcing a SegOps
 * plan, a producer that tracks at a steady rate, a logger that counts the lines
 * announcing a change of pace, and the checks on what the server received and
 * when. The server's arrival times are CLOCK_MONOTONIC, the clock now_ms()
 * reads, so tests compare them with track times directly. Assertions run on the
 * test's main thread only. */
#ifndef SEGOPS_TEST_PACING_H
#define SEGOPS_TEST_PACING_H

#include "fixture.h"

#include <stdbool.h>

/* The window SegOps plans count API calls in. */
#define MINUTE_MS 60000u

/* The documented longest wait of an event at low traffic: a partial request
 * goes out at most every 1,050 ms (README, threading model). */
#define PARTIAL_INTERVAL_MS 1050

/* Starts f with a server that admits calls_per_minute API calls in any rolling
 * minute (0: no plan) and refuses every k-th batch POST with Retry-After: 1
 * (refuse_every, 0: off). */
void pacing_start(fixture_t *f, uint32_t calls_per_minute, uint32_t refuse_every);

/* A logger (segops_log_fn; pass the sink as userdata) that keeps count of the
 * INFO lines mentioning "pacing" and of any line holding the secret key. */
typedef struct log_sink {
    pthread_mutex_t lock;
    unsigned pacing_info_lines;
    unsigned secret_lines;
    char last_pacing[256];
} log_sink_t;

void log_sink_init(log_sink_t *s);
void log_sink_destroy(log_sink_t *s);
void log_sink_fn(segops_log_level_t level, const char *message, void *userdata);
/* How many INFO lines mentioned pacing so far (asserting none held the key);
 * the last of them is copied to last (NULL: not copied). */
unsigned pacing_lines(log_sink_t *s, char *last, size_t last_len);

/* Options for a client of f with default pacing: only the URL, TEST_SK, the
 * recorder and (when sink is not NULL) the logger at INFO are set. */
segops_options_t *pacing_options(fixture_t *f, log_sink_t *sink);

/* Tracks events first..first+n-1 (user "u", payload {"i":k}) at per_second on a
 * fixed schedule: event k is due at start + (k - first) / per_second, and a late
 * producer catches up. tracked_at[k - first] (NULL: not kept) gets now_ms() read
 * just before each track call. Every call must be accepted. */
void track_at_rate(segops_client_t *client, int first, int n, int per_second, int64_t *tracked_at);

/* Asserts the server holds each of events 0..n-1 exactly once and nothing else;
 * arrival_ms[i] (NULL: not kept) gets the arrival time of the request that
 * carried event i. */
void assert_each_once(devsrv_t *srv, int n, int64_t *arrival_ms);

/* After a shutdown: asserts the client counts n events delivered, nothing dropped,
 * pending or reported, and as many 429s (rate_limited) as the server answered. */
void assert_all_delivered(fixture_t *f, uint64_t n);

/* Prints one line: requests, 429s, the most requests in a rolling minute, events
 * per request and the client's pace (figures for the report, not assertions). */
void print_pacing_summary(const char *name, fixture_t *f);

#endif
