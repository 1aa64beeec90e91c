/* The pacing scenario of segops-bench (see pacing.c). */
#ifndef SEGOPS_BENCH_PACING_H
#define SEGOPS_BENCH_PACING_H

/* Tracks `rate` events/s from one thread for `seconds` with default options
 * against the dev server at url, then prints key=value lines: requests per
 * minute, events per request and the delay of each event from its track call to
 * its request's arrival at the server (p50/p99/max). Returns 0, or 1 when the
 * server's request log does not account for every event. */
int bench_pacing_run(const char *url, const char *key, long rate, double seconds);

#endif
