/* The dev server's scripted faults: statuses, delays, closes, no answer, pause and resume. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <segops/segops.h>

#include "devserver.h"
#include "testutil.h"

#include "cJSON.h"
#include "rawhttp.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "devserver_raw.h"

static void test_fault_statuses(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    assert_int_equal(devsrv_script_text(srv, "503:ra=7, 429:ra=\"Wed, 21 Oct 2015 07:28:00 GMT\":"
                                             "body={\"detail\":\"slow, down: now\"},500"),
                     0);
    devsrv_fault_t f = {.kind = DEVSRV_STATUS, .status = 413};
    devsrv_script(srv, &f, 1);
    assert_int_equal(devsrv_script_pending(srv), 4);

    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.retry_after, "7");
    assert_non_null(strstr(r.body, "\"detail\""));
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.retry_after, "Wed, 21 Oct 2015 07:28:00 GMT");
    assert_string_equal(r.body, "{\"detail\":\"slow, down: now\"}");
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.retry_after, "");
    post_batch(srv, "ApiKey sk_wrong", one_event, &r); /* faults come before auth */
    assert_int_equal(r.status, 413);
    assert_int_equal(devsrv_script_pending(srv), 0);
    assert_int_equal(server_stats(srv).events_received, 0);

    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 200);
    devsrv_stats_t st = server_stats(srv);
    assert_int_equal(st.faults_applied, 4);
    assert_int_equal(st.batch_requests, 5);
    assert_int_equal(st.batch_accepted, 1);
    assert_int_equal(st.events_received, 1);

    /* Malformed scripts append nothing. */
    static const char *const bad[] = {"abc",      "503:xx=1",  "99",       "5030",
                                      "503,,500", "delay=",    "delay=-1", "500:body={",
                                      "503:ra=",  "noanswer2", "close mid"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(devsrv_script_text(srv, bad[i]), -1);
    assert_int_equal(devsrv_script_text(srv, ""), 0);
    assert_int_equal(devsrv_script_pending(srv), 0);
}

static void test_fault_delay_and_answer_delay(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    assert_int_equal(devsrv_script_text(srv, "delay=300"), 0);
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.elapsed_ms >= 290);
    assert_int_equal(server_stats(srv).events_received, 1);

    /* A delay of 1 s, then none: the undelayed request takes well under half
     * of the delayed one (compared in one run, so a slow machine slows both). */
    devsrv_set_answer_delay(srv, 1000);
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.elapsed_ms >= 990);
    int64_t delayed = r.elapsed_ms;
    devsrv_set_answer_delay(srv, 0);
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 200);
    if (r.elapsed_ms * 2 >= delayed)
        fail_msg("with the delay set back to 0 a request took %lld ms, with 1 s %lld ms",
                 (long long)r.elapsed_ms, (long long)delayed);
}

static void test_fault_close_before_and_mid(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    assert_int_equal(devsrv_script_text(srv, "close,closemid"), 0);

    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.rc, CURLE_GOT_NOTHING);
    assert_int_equal(server_stats(srv).events_received, 0);

    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.rc, CURLE_PARTIAL_FILE);
    assert_int_equal(r.status, 200);
    assert_true(r.len > 0 && r.len < strlen("{\"queued\":1,\"skipped\":0}"));
    assert_int_equal(server_stats(srv).events_received, 1); /* recorded before the cut */

    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(devsrv_wait_events(srv, 2, 1000), 2);
}

static void test_noanswer_client_timeout(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    assert_int_equal(devsrv_script_text(srv, "noanswer"), 0);
    raw_request(devsrv_url(srv), BATCH, "ApiKey " SK, one_event, 300, &r);
    assert_int_equal(r.rc, CURLE_OPERATION_TIMEDOUT);
    assert_int_equal(server_stats(srv).events_received, 0);
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.status, 200);
}

static void test_noanswer_does_not_hang_stop(void **state) {
    (void)state;
    devsrv_t *srv = start_with(NULL);
    assert_int_equal(devsrv_script_text(srv, "noanswer"), 0);
    bg_t bg = {.url = devsrv_url(srv)};
    assert_int_equal(pthread_create(&bg.thread, NULL, bg_post, &bg), 0);
    assert_true(wait_batch_requests(srv, 1));

    /* Stopping cuts the held request: the client sees it end, not time out
     * (after its 20 s), which is what a stop waiting for it would give. */
    devsrv_stop(srv);
    pthread_join(bg.thread, NULL);
    assert_int_not_equal(bg.r.rc, CURLE_OK);
    assert_int_not_equal(bg.r.rc, CURLE_OPERATION_TIMEDOUT);
}

static void test_pause_resume_same_port(void **state) {
    devsrv_t *srv = *state;
    uint16_t port = devsrv_port(srv);
    raw_resp_t r;

    /* A request left hanging is cut off by the pause, which returns promptly. */
    assert_int_equal(devsrv_script_text(srv, "noanswer"), 0);
    bg_t bg = {.url = devsrv_url(srv)};
    assert_int_equal(pthread_create(&bg.thread, NULL, bg_post, &bg), 0);
    assert_true(wait_batch_requests(srv, 1));
    assert_int_equal(devsrv_pause(srv), 0);
    pthread_join(bg.thread, NULL);
    assert_int_not_equal(bg.r.rc, CURLE_OK);
    assert_int_not_equal(bg.r.rc, CURLE_OPERATION_TIMEDOUT); /* cut, not waited out */

    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.rc, CURLE_COULDNT_CONNECT);
    assert_int_equal(devsrv_pause(srv), 0); /* idempotent */

    assert_int_equal(devsrv_resume(srv), 0);
    assert_int_equal(devsrv_port(srv), port);
    post_batch(srv, "ApiKey " SK, one_event, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(devsrv_resume(srv), 0); /* already listening */
    assert_int_equal(server_stats(srv).events_received, 1);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fault_statuses, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_fault_delay_and_answer_delay, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_fault_close_before_and_mid, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_noanswer_client_timeout, server_setup,
                                        server_teardown),
        cmocka_unit_test(test_noanswer_does_not_hang_stop),
        cmocka_unit_test_setup_teardown(test_pause_resume_same_port, server_setup, server_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
