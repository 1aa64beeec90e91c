/* sk_ delivery failures reported: a wrong key, a server down, skipped events, the default on_error.
 */
#include "testutil.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "latency.h"

static void test_wrong_key_reported(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(srv, "sk_live_wrong_secret_value", &rec);
    assert_int_equal(segops_options_set_batch_size(opts, 1000), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    for (int i = 0; i < 7; i++) assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(rec.reports, 1);
    assert_int_equal(rec.info[0].code, SEGOPS_E_AUTH);
    assert_int_equal(rec.info[0].http_status, 401);
    assert_int_equal(rec.info[0].event_count, 7);
    assert_int_equal(rec.info[0].reason, SEGOPS_DROP_REJECTED);
    assert_null(strstr(rec.messages[0], "sk_live"));
    segops_stats_t st;
    segops_client_stats(client, &st);
    assert_int_equal(st.dropped_rejected, 7);
    assert_int_equal(st.delivered, 0);
    assert_conservation(client);
    segops_client_free(client);
    assert_int_equal(devsrv_event_count(srv), 0);
    recorder_destroy(&rec);
    devsrv_stop(srv);
}

static void test_server_down_reported(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    char url[64];
    snprintf(url, sizeof url, "%s", devsrv_url(srv));
    devsrv_stop(srv); /* nothing listens on that port now */
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(NULL, TEST_SK, &rec);
    assert_int_equal(segops_options_set_api_url(opts, url), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_retries(opts, 2), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 10, 20), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    for (int i = 0; i < 5; i++) assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(rec.reports, 1);
    assert_int_equal(rec.info[0].code, SEGOPS_E_NETWORK);
    assert_int_equal(rec.info[0].http_status, 0);
    assert_int_equal(rec.info[0].event_count, 5);
    assert_int_equal(rec.info[0].reason, SEGOPS_DROP_RETRIES_EXHAUSTED);
    assert_null(strstr(rec.messages[0], TEST_SK));
    segops_stats_t st;
    segops_client_stats(client, &st);
    assert_int_equal(st.requests, 3);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.dropped_retries_exhausted, 5);
    assert_conservation(client);
    segops_client_free(client);
    recorder_destroy(&rec);
}

static void test_skipped_events_reported(void **state) {
    (void)state;
    devsrv_config_t cfg = {.skip_event_type = "bad_event"};
    devsrv_t *srv = start_server(&cfg);
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(srv, TEST_SK, &rec);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops_track(client, "u", "good_event", NULL), SEGOPS_OK);
    assert_int_equal(segops_track(client, "u", "bad_event", NULL), SEGOPS_OK);
    assert_int_equal(segops_track(client, "u", "bad_event", NULL), SEGOPS_OK);
    assert_int_equal(segops_flush(client, 10000), SEGOPS_OK);
    assert_int_equal(rec.reports, 1);
    assert_int_equal(rec.info[0].code, SEGOPS_E_SKIPPED);
    assert_int_equal(rec.info[0].event_count, 2);
    assert_int_equal(rec.info[0].reason, SEGOPS_DROP_SKIPPED);
    segops_stats_t st;
    segops_client_stats(client, &st);
    assert_int_equal(st.delivered, 1);
    assert_int_equal(st.dropped_skipped, 2);
    assert_conservation(client);
    segops_client_free(client);
    recorder_destroy(&rec);
    devsrv_stop(srv);
}

/* Without on_error, each drop is one line on stderr, with no key in it. */
static void test_default_on_error_writes_one_line(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_options_t *opts = make_options(srv, "sk_live_do_not_print_me", NULL);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    char path[] = "/tmp/segops-stderr-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    for (int i = 0; i < 3; i++) segops_track(client, "u", "e", NULL);
    segops_flush(client, 10000);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char out[1024] = {0};
    ssize_t n = pread(fd, out, sizeof out - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    assert_non_null(strstr(out, "segops: dropped 3 events"));
    assert_non_null(strstr(out, "HTTP 401"));
    assert_null(strstr(out, "sk_live"));
    assert_non_null(strchr(out, '\n'));
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1); /* exactly one line */
    segops_client_free(client);
    devsrv_stop(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_key_reported),
        cmocka_unit_test(test_server_down_reported),
        cmocka_unit_test(test_skipped_events_reported),
        cmocka_unit_test(test_default_on_error_writes_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
