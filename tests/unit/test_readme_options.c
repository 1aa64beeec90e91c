/* README.md's options table says what the code does: each default matches the
 * one table in src/config.c, and each numeric range is exactly what the setter
 * accepts (both ends in, one past each end out). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

typedef struct row {
    char name[64];
    char def[128];
    char range[128];
} row_t;

static row_t rows[64];
static size_t row_count;

/* Reads the "| `name` | default | range | meaning |" rows of the Options section. */
static void load_table(void) {
    FILE *f = fopen(SEGOPS_README_PATH, "r");
    assert_non_null(f);
    char line[1024];
    bool in_section = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "## ", 3) == 0) in_section = strcmp(line, "## Options\n") == 0;
        if (!in_section || strncmp(line, "| `", 3) != 0) continue;
        row_t *r = &rows[row_count++];
        char *cells[4] = {0};
        char *save = NULL, *p = line + 1;
        for (int i = 0; i < 4; i++) {
            cells[i] = strtok_r(i ? NULL : p, "|", &save);
            assert_non_null(cells[i]);
        }
        /* trim and drop the backticks around the name */
        for (int i = 0; i < 3; i++) {
            while (*cells[i] == ' ') cells[i]++;
            size_t n = strlen(cells[i]);
            while (n && cells[i][n - 1] == ' ') cells[i][--n] = '\0';
        }
        snprintf(r->name, sizeof r->name, "%.*s", (int)strlen(cells[0]) - 2, cells[0] + 1);
        snprintf(r->def, sizeof r->def, "%s", cells[1]);
        snprintf(r->range, sizeof r->range, "%s", cells[2]);
    }
    fclose(f);
}

static const row_t *find(const char *name) {
    for (size_t i = 0; i < row_count; i++)
        if (strcmp(rows[i].name, name) == 0) return &rows[i];
    fail_msg("README options table has no row for %s", name);
    return NULL;
}

static void expect_default(const char *name, uint64_t value) {
    char text[32];
    snprintf(text, sizeof text, "%" PRIu64, value);
    if (strcmp(find(name)->def, text) != 0)
        fail_msg("README says %s defaults to %s, the code says %s", name, find(name)->def, text);
}

typedef segops_err_t (*set_u64_fn)(segops_options_t *, uint64_t);

/* Checks that "lo–hi" in the README is exactly the setter's accepted range. */
#define EXPECT_RANGE(name, type)                                                                   \
    do {                                                                                           \
        uint64_t lo, hi;                                                                           \
        if (sscanf(find(#name)->range, "%" SCNu64 "\xe2\x80\x93%" SCNu64, &lo, &hi) != 2)          \
            fail_msg("no range for %s", #name);                                                    \
        segops_options_t *o;                                                                       \
        segops_options_new(&o);                                                                    \
        assert_int_equal(segops_options_set_##name(o, (type)lo), SEGOPS_OK);                       \
        assert_int_equal(segops_options_set_##name(o, (type)hi), SEGOPS_OK);                       \
        if (lo > 0)                                                                                \
            assert_int_equal(segops_options_set_##name(o, (type)(lo - 1)), SEGOPS_E_INVALID_ARG);  \
        assert_int_equal(segops_options_set_##name(o, (type)(hi + 1)), SEGOPS_E_INVALID_ARG);      \
        segops_options_free(o);                                                                    \
    } while (0)

static void test_defaults_match_code(void **state) {
    (void)state;
    load_table();
    const segops_options_t *d = segops__config_defaults();
    assert_string_equal(find("batch")->def, d->batch ? "true" : "false");
    assert_string_equal(find("allow_insecure_http")->def,
                        d->allow_insecure_http ? "true" : "false");
    assert_int_equal(d->overflow, SEGOPS_OVERFLOW_DROP_NEWEST);
    assert_string_equal(find("overflow")->def, "`SEGOPS_OVERFLOW_DROP_NEWEST`");
    expect_default("batch_size", d->batch_size);
    expect_default("flush_interval_ms", d->flush_interval_ms);
    expect_default("max_queue_events", d->max_queue_events);
    expect_default("max_queue_bytes", d->max_queue_bytes);
    expect_default("block_timeout_ms", d->block_timeout_ms);
    expect_default("max_event_bytes", d->max_event_bytes);
    expect_default("max_request_bytes", d->max_request_bytes);
    expect_default("max_retries", d->max_retries);
    expect_default("retry_budget_ms", d->retry_budget_ms);
    expect_default("retry_after_max_ms", d->retry_after_max_ms);
    expect_default("connect_timeout_ms", d->connect_timeout_ms);
    expect_default("request_timeout_ms", d->request_timeout_ms);
    expect_default("sync_timeout_ms", d->sync_timeout_ms);
    expect_default("max_requests_per_minute", d->max_requests_per_minute);
    char backoff[64];
    snprintf(backoff, sizeof backoff, "%u, %u", d->retry_base_ms, d->retry_cap_ms);
    assert_string_equal(find("retry_backoff_ms")->def, backoff);
    expect_default("spool_max_bytes", d->spool_max_bytes);
    expect_default("spool_max_age_ms", d->spool_max_age_ms);
    expect_default("spool_fsync_ms", d->spool_fsync_ms);
    expect_default("exit_flush_ms", d->exit_flush_ms);
    expect_default("max_in_flight", d->max_in_flight);
    assert_null(d->spool_dir);
    assert_string_equal(find("spool_dir")->def, "none");
    assert_null(d->ca_file);
    assert_null(d->proxy);
    assert_null(d->on_error);
    assert_null(d->logger);
}

static void test_ranges_match_setters(void **state) {
    (void)state;
    EXPECT_RANGE(batch_size, size_t);
    EXPECT_RANGE(flush_interval_ms, uint32_t);
    EXPECT_RANGE(max_queue_events, size_t);
    EXPECT_RANGE(max_queue_bytes, size_t);
    EXPECT_RANGE(block_timeout_ms, uint32_t);
    EXPECT_RANGE(max_event_bytes, size_t);
    EXPECT_RANGE(max_request_bytes, size_t);
    EXPECT_RANGE(max_retries, uint32_t);
    EXPECT_RANGE(retry_budget_ms, uint32_t);
    EXPECT_RANGE(retry_after_max_ms, uint32_t);
    EXPECT_RANGE(connect_timeout_ms, uint32_t);
    EXPECT_RANGE(request_timeout_ms, uint32_t);
    EXPECT_RANGE(sync_timeout_ms, uint32_t);
    EXPECT_RANGE(max_requests_per_minute, uint32_t);
    EXPECT_RANGE(spool_max_bytes, uint64_t);
    EXPECT_RANGE(spool_max_age_ms, uint64_t);
    EXPECT_RANGE(spool_fsync_ms, uint32_t);
    EXPECT_RANGE(exit_flush_ms, uint32_t);
    EXPECT_RANGE(max_in_flight, uint32_t);
    /* Every documented option has a row, and every row is a documented option. */
    const char *all[] = {"api_url",
                         "api_key",
                         "get_user",
                         "on_error",
                         "logger",
                         "batch",
                         "batch_size",
                         "flush_interval_ms",
                         "max_queue_events",
                         "max_queue_bytes",
                         "overflow",
                         "block_timeout_ms",
                         "max_event_bytes",
                         "max_request_bytes",
                         "max_retries",
                         "retry_backoff_ms",
                         "retry_budget_ms",
                         "retry_after_max_ms",
                         "connect_timeout_ms",
                         "request_timeout_ms",
                         "sync_timeout_ms",
                         "ca_file",
                         "ca_path",
                         "proxy",
                         "allow_insecure_http",
                         "user_agent_suffix",
                         "max_requests_per_minute",
                         "spool_dir",
                         "spool_max_bytes",
                         "spool_max_age_ms",
                         "spool_fsync_ms",
                         "exit_flush_ms",
                         "max_in_flight"};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) find(all[i]);
    assert_int_equal(row_count, sizeof all / sizeof *all);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_match_code),
        cmocka_unit_test(test_ranges_match_setters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
