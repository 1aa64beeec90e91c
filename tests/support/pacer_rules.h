/* Pacers for the pacer's unit tests (test_pacer_*.c), on a clock the test sets. */
#ifndef SEGOPS_TEST_PACER_RULES_H
#define SEGOPS_TEST_PACER_RULES_H

#include <stdint.h>

#include "pacer.h"

#define T0 1000000 /* an arbitrary monotonic start */

/* The default configuration with max_per_minute (0: none) and seed 42. */
segops__pacer_config_t pacer_config(uint32_t max_per_minute);

/* A new pacer of pacer_config(max_per_minute). */
segops__pacer_t *make_pacer(uint32_t max_per_minute);

/* One request that starts at `at` (it must be allowed) and is answered 2xx. */
void request_ok(segops__pacer_t *p, int64_t at, int64_t took);

#endif
