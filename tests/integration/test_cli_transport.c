/* The segops CLI's transport: CA file and TLS failure reasons, plain http allowed on request, HTTP
 * statuses. */
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

/* The reason of the first "[rejected]: " drop line in err (up to its newline). */
static char *drop_reason(const char *err) {
    const char *start = strstr(err, "[rejected]: ");
    if (start == NULL) {
        fail_msg("no rejected drop report in:\n%s", err);
    }
    start += strlen("[rejected]: ");
    size_t len = strcspn(start, "\n");
    char *reason = malloc(len + 1);
    assert_non_null(reason);
    memcpy(reason, start, len);
    reason[len] = '\0';
    return reason;
}

/* A server whose certificate comes from a private CA: without --ca-file track and
 * send fail with the same reason, the certificate's; with it both deliver. */
static void test_ca_file_and_tls_reasons(void **state) {
    (void)state;
    require_or_skip(tls_openssl_available(), "no openssl tool to make certificates",
                    SKIP_INSTALLABLE);
    tls_fixture_t tls;
    assert_int_equal(tls_fixture_create(&tls), 0);
    devsrv_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.sk_keys = sk_keys;
    cfg.sk_key_count = 1;
    cfg.keep_events = true;
    cfg.tls_cert_file = tls.server_cert;
    cfg.tls_key_file = tls.server_key;
    devsrv_t *srv = NULL;
    assert_int_equal(devsrv_start(&cfg, &srv), 0);
    const char *url = devsrv_url(srv);
    assert_int_equal(strncmp(url, "https://", 8), 0);
    const char *line = "{\"user_id\":\"u2\",\"event_type\":\"sent\"}\n";

    run_t r;
    run_cli(&r, url, SK_KEY, NULL, NULL, "track", "-u", "u1", "-e", "tracked", "--retries", "0",
            NULL);
    assert_int_equal(r.exit_code, 4);
    assert_messages_well_formed(r.err);
    char *track_reason = drop_reason(r.err);
    run_free(&r);
    run_cli(&r, url, SK_KEY, NULL, line, "send", "--retries", "0", NULL);
    assert_int_equal(r.exit_code, 4);
    char *send_reason = drop_reason(r.err);
    run_free(&r);
    /* More than the code's text: the certificate's own reason, in both commands. */
    assert_string_equal(track_reason, send_reason);
    assert_contains(track_reason, "TLS error: ");
    assert_contains(track_reason, "certificate");
    free(track_reason);
    free(send_reason);
    assert_int_equal(devsrv_event_count(srv), 0);

    run_cli(&r, url, SK_KEY, NULL, NULL, "track", "-u", "u1", "-e", "tracked", "--ca-file",
            tls.ca_file, NULL);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.err, "");
    run_free(&r);
    run_cli(&r, url, SK_KEY, NULL, line, "send", "--ca-file", tls.ca_file, NULL);
    assert_int_equal(r.exit_code, 0);
    run_free(&r);
    assert_int_equal(devsrv_event_count(srv), 2);
    assert_event(srv, 0, "u1", "tracked", "{}", NULL);
    assert_event(srv, 1, "u2", "sent", "{}", NULL);

    devsrv_stop(srv);
    tls_fixture_destroy(&tls);
}

/* Plain http:// to a host the library does not take for loopback: the server's
 * own address written as an IPv4-mapped IPv6 address. Refused with the reason
 * unless --allow-insecure-http, which both commands take. */
static void test_allow_insecure_http(void **state) {
    cli_fixture_t *f = *state;
    const char *local = devsrv_url(f->srv); /* http://127.0.0.1:PORT */
    const char *port = strrchr(local, ':');
    assert_non_null(port);
    char url[128];
    snprintf(url, sizeof url, "http://[::ffff:127.0.0.1]%s", port);
    const char *line = "{\"user_id\":\"u2\",\"event_type\":\"sent\"}\n";

    run_t r;
    run_cli(&r, url, SK_KEY, NULL, NULL, "track", "-u", "u1", "-e", "tracked", NULL);
    assert_int_equal(r.exit_code, 3);
    assert_messages_well_formed(r.err);
    assert_contains(r.err, "track: segops_client_new: plain http:// to a non-loopback host");
    run_free(&r);
    run_cli(&r, url, SK_KEY, NULL, line, "send", NULL);
    assert_int_equal(r.exit_code, 3);
    assert_contains(r.err, "send: segops_client_new: plain http:// to a non-loopback host");
    run_free(&r);
    assert_int_equal(devsrv_event_count(f->srv), 0);

    run_cli(&r, url, SK_KEY, NULL, NULL, "track", "-u", "u1", "-e", "tracked",
            "--allow-insecure-http", NULL);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.err, "");
    run_free(&r);
    run_cli(&r, url, SK_KEY, NULL, line, "send", "--allow-insecure-http", NULL);
    assert_int_equal(r.exit_code, 0);
    run_free(&r);
    assert_int_equal(devsrv_event_count(f->srv), 2);
    assert_event(f->srv, 0, "u1", "tracked", "{}", NULL);
    assert_event(f->srv, 1, "u2", "sent", "{}", NULL);
}

/* A refused request: track reports the HTTP status and the library's message, as
 * send does. */
static void test_track_reports_http_status_and_message(void **state) {
    cli_fixture_t *f = *state;
    assert_int_equal(devsrv_script_text(f->srv, "400:body={\"error\":\"plan suspended\"}"), 0);
    run_t r;
    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, NULL, "track", "-u", "u1", "-e", "e", NULL);
    assert_int_equal(r.exit_code, 4);
    assert_messages_well_formed(r.err);
    assert_contains(r.err, "track: dropped 1 event [rejected]: HTTP error (HTTP 400): ");
    run_free(&r);
    assert_int_equal(devsrv_event_count(f->srv), 0);
}

int main(void) {
    /* A child that dies early must not kill the test through a broken pipe. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ca_file_and_tls_reasons, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_allow_insecure_http, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_track_reports_http_status_and_message, cli_setup,
                                        cli_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
