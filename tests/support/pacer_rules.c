/* Pacers for the pacer's unit tests (test_pacer_*.c), on a clock the test sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pacer_rules.h"

segops__pacer_config_t pacer_config(uint32_t max_per_minute) {
    return (segops__pacer_config_t){.max_per_minute = max_per_minute,
                                    .partial_interval_ms = SEGOPS__PACER_PARTIAL_INTERVAL_MS,
                                    .backoff_base_ms = 500,
                                    .backoff_cap_ms = 30000,
                                    .retry_after_max_ms = 300000,
                                    .seed = 42};
}

segops__pacer_t *make_pacer(uint32_t max_per_minute) {
    segops__pacer_config_t cfg = pacer_config(max_per_minute);
    segops__pacer_t *p = NULL;
    assert_int_equal(segops__pacer_new(&cfg, &p), SEGOPS_OK);
    assert_non_null(p);
    return p;
}

void request_ok(segops__pacer_t *p, int64_t at, int64_t took) {
    int64_t next;
    assert_true(segops__pacer_try_begin(p, at, true, true, &next));
    assert_int_equal(next, at);
    segops__pacer_note_done(p, at, at + took, true);
}
