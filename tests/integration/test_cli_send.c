/* segops send end to end: files and stdin delivered, malformed lines reported, network and auth
 * errors. */
#define _POSIX_C_SOURCE 200809L

#include "cli_run.h"
#include "skip.h"
#include "tlsutil.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SEGOPS_CLI_PATH
#error "SEGOPS_CLI_PATH must name the built segops binary (see tests/CMakeLists.txt)"
#endif
const char *const cli_binary = SEGOPS_CLI_PATH;

#include "cli_run.h"

static const char ndjson_mixed[] =
    "{\"user_id\":\"u1\",\"event_type\":\"page_viewed\",\"payload\":{\"path\":\"/a\"}}\n"
    "{not json\n"
    "\n"
    "{\"user_id\":\"u2\",\"event_type\":\"order_placed\",\"payload\":{\"total\":12.5,"
    "\"items\":[1,2]},\"occurred_at\":\"2026-03-04T05:06:07.890Z\",\"anonymous_id\":\"anon-2\"}\n"
    "[\"array\"]\n"
    "{\"user_id\":\"u3\",\"event_type\":\"x\",\"payload\":[1]}\n"
    "{\"user_id\":\"\",\"event_type\":\"x\"}\r\n"
    "{\"user_id\":\"u4\",\"event_type\":\"signed_up\",\"anonymous_id\":null}\n";

static void test_send_file_reports_malformed_lines(void **state) {
    cli_fixture_t *f = *state;
    char path[512];
    int fd = temp_file(path, sizeof path);
    size_t len = strlen(ndjson_mixed);
    assert_int_equal(write(fd, ndjson_mixed, len), (ssize_t)len);
    close(fd);

    run_t r;
    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, NULL, "send", "--timeout-ms", "20000", path,
            NULL);
    unlink(path);
    assert_int_equal(r.exit_code, 3);
    assert_string_equal(r.out, "");
    assert_messages_well_formed(r.err);
    assert_contains(r.err, "line 2:");
    assert_contains(r.err, "line 5:");
    assert_contains(r.err, "line 6:");
    assert_contains(r.err, "line 7:");
    assert_null(strstr(r.err, "line 1:"));
    assert_null(strstr(r.err, "line 3:"));
    assert_null(strstr(r.err, "line 4:"));
    assert_null(strstr(r.err, "line 8:"));
    assert_contains(r.err, "read 7, accepted 3, delivered 3, dropped 0, malformed 4");
    run_free(&r);

    assert_int_equal(devsrv_event_count(f->srv), 3);
    assert_event(f->srv, 0, "u1", "page_viewed", "{\"path\":\"/a\"}", NULL);
    assert_event(f->srv, 1, "u2", "order_placed", "{\"total\":12.5,\"items\":[1,2]}", "anon-2");
    assert_event(f->srv, 2, "u4", "signed_up", "{}", NULL);
}

static void test_send_stdin_delivers_everything(void **state) {
    cli_fixture_t *f = *state;
    enum { N = 120 };
    size_t cap = N * 128, used = 0;
    char *input = malloc(cap);
    assert_non_null(input);
    for (int i = 0; i < N; i++) {
        used += (size_t)snprintf(input + used, cap - used,
                                 "{\"user_id\":\"user-%d\",\"event_type\":\"item_viewed\","
                                 "\"payload\":{\"i\":%d}}\n",
                                 i, i);
    }
    run_t r;
    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, input, "send", "--batch-size", "50", NULL);
    free(input);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out, "");
    assert_messages_well_formed(r.err);
    assert_contains(r.err, "read 120, accepted 120, delivered 120, dropped 0, malformed 0");
    run_free(&r);

    /* Several requests may be in flight (max_in_flight): each event arrives
     * once, in input order within its request; requests arrive in any order. */
    assert_int_equal(devsrv_event_count(f->srv), N);
    bool seen[N] = {false};
    int last_in_request[N + 1];
    for (int i = 0; i <= N; i++) last_in_request[i] = -1;
    for (int i = 0; i < N; i++) {
        devsrv_event_t ev;
        memset(&ev, 0, sizeof ev);
        assert_int_equal(devsrv_event_at(f->srv, (size_t)i, &ev), 0);
        int k = -1;
        assert_int_equal(sscanf(ev.user_id, "user-%d", &k), 1);
        assert_true(k >= 0 && k < N && !seen[k]);
        seen[k] = true;
        size_t req = ev.request_no <= N ? (size_t)ev.request_no : N;
        assert_true(k > last_in_request[req]);
        last_in_request[req] = k;
        devsrv_event_free(&ev);
        char user[32], payload[32];
        snprintf(user, sizeof user, "user-%d", k);
        snprintf(payload, sizeof payload, "{\"i\":%d}", k);
        assert_event(f->srv, (size_t)i, user, "item_viewed", payload, NULL);
    }
}

static void test_send_server_down_is_network(void **state) {
    (void)state;
    char url[128];
    dead_server_url(url, sizeof url);

    run_t r;
    run_cli(&r, url, SK_KEY, NULL,
            "{\"user_id\":\"u1\",\"event_type\":\"a\"}\n"
            "{\"user_id\":\"u2\",\"event_type\":\"b\"}\n",
            "send", "--timeout-ms", "2000", "--retries", "1", NULL);
    assert_int_equal(r.exit_code, 4);
    assert_messages_well_formed(r.err);
    assert_contains(r.err, "read 2, accepted 2, delivered 0, dropped 2");
    run_free(&r);
}

static void test_send_wrong_key_is_auth(void **state) {
    cli_fixture_t *f = *state;
    run_t r;
    run_cli(&r, devsrv_url(f->srv), WRONG_KEY, NULL, "{\"user_id\":\"u1\",\"event_type\":\"a\"}\n",
            "send", "--timeout-ms", "10000", NULL);
    assert_int_equal(r.exit_code, 5);
    assert_messages_well_formed(r.err);
    assert_contains(r.err, "dropped 1");
    run_free(&r);
    assert_int_equal(devsrv_event_count(f->srv), 0);
}

int main(void) {
    /* A child that dies early must not kill the test through a broken pipe. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_send_file_reports_malformed_lines, cli_setup,
                                        cli_teardown),
        cmocka_unit_test_setup_teardown(test_send_stdin_delivers_everything, cli_setup,
                                        cli_teardown),
        cmocka_unit_test_setup_teardown(test_send_server_down_is_network, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_send_wrong_key_is_auth, cli_setup, cli_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
