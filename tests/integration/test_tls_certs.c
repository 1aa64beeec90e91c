/* HTTPS against the local server with throwaway certificates (CA file and path, wrong host), and
 * plain http. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "tls_clients.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "tls_clients.h"

static void test_unknown_ca_is_refused(void **state) {
    (void)state;
    REQUIRE_TLS();
    devsrv_t *srv = start_https(tls_certs.server_cert, tls_certs.server_key);
    expect_tls_refused(srv, &(client_spec_t){0}, 3);
    expect_tls_refused(srv, &(client_spec_t){.key = TEST_PK}, 2);
    devsrv_stop(srv);
}

static void test_ca_file_delivers(void **state) {
    (void)state;
    REQUIRE_TLS();
    devsrv_t *srv = start_https(tls_certs.server_cert, tls_certs.server_key);
    expect_delivered(srv, &(client_spec_t){.ca_file = tls_certs.ca_file}, 5);
    expect_delivered(srv, &(client_spec_t){.ca_file = tls_certs.ca_file, .key = TEST_PK}, 2);
    devsrv_stats_t ss;
    devsrv_get_stats(srv, &ss);
    assert_int_equal(ss.mints, 1); /* the pk_ handshake went over TLS too */
    /* The certificate names localhost as well. */
    char url[64];
    snprintf(url, sizeof url, "https://localhost:%u", (unsigned)devsrv_port(srv));
    expect_delivered(srv, &(client_spec_t){.ca_file = tls_certs.ca_file, .url = url}, 1);
    devsrv_stop(srv);
}

static void test_ca_path_delivers(void **state) {
    (void)state;
    REQUIRE_TLS();
    devsrv_t *srv = start_https(tls_certs.server_cert, tls_certs.server_key);
    expect_delivered(srv, &(client_spec_t){.ca_path = tls_certs.ca_dir}, 4);
    devsrv_stop(srv);
}

static void test_certificate_for_another_host_is_refused(void **state) {
    (void)state;
    REQUIRE_TLS();
    devsrv_t *srv = start_https(tls_certs.other_cert, tls_certs.other_key);
    /* Trusted CA, wrong name: by IP and by host name. */
    expect_tls_refused(srv, &(client_spec_t){.ca_file = tls_certs.ca_file}, 2);
    char url[64];
    snprintf(url, sizeof url, "https://localhost:%u", (unsigned)devsrv_port(srv));
    expect_tls_refused(srv, &(client_spec_t){.ca_file = tls_certs.ca_file, .url = url}, 1);
    expect_tls_refused(srv, &(client_spec_t){.ca_path = tls_certs.ca_dir, .key = TEST_PK}, 1);
    devsrv_stop(srv);
}

static void test_plain_http_to_tls_server_delivers_nothing(void **state) {
    (void)state;
    REQUIRE_TLS();
    devsrv_t *srv = start_https(tls_certs.server_cert, tls_certs.server_key);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)devsrv_port(srv));
    recorder_t rec;
    recorder_init(&rec);
    segops_client_t *client = tls_test_client(srv, &rec, &(client_spec_t){.url = url});
    track_tls_events(client, 1);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(rec.reports, 1);
    assert_int_equal(devsrv_event_count(srv), 0);
    segops_client_free(client);
    recorder_destroy(&rec);
    devsrv_stop(srv);
}

static segops_err_t client_new_for(const char *url, bool allow_insecure) {
    segops_options_t *opts = make_options(NULL, TEST_SK, NULL);
    assert_int_equal(segops_options_set_api_url(opts, url), SEGOPS_OK);
    if (allow_insecure)
        assert_int_equal(segops_options_set_allow_insecure_http(opts, true), SEGOPS_OK);
    segops_client_t *client = (segops_client_t *)&client; /* must come back NULL on failure */
    segops_err_t err = segops_client_new(opts, &client);
    segops_options_free(opts);
    if (err != SEGOPS_OK) assert_null(client);
    segops_client_free(err == SEGOPS_OK ? client : NULL); /* no I/O happened: frees at once */
    return err;
}

static void test_plain_http_only_to_loopback(void **state) {
    (void)state;
    static const char *const refused[] = {
        "http://example.com", "http://example.com:8080/",      "HTTP://EXAMPLE.COM",
        "http://10.0.0.1:80", "http://localhost.evil.example", "http://127.0.0.1.evil.example",
        "http://[::2]:80",    "http://[2001:db8::1]",          "http://192.168.1.10/segops/",
    };
    static const char *const allowed[] = {
        "http://localhost",       "http://localhost:8080/",
        "http://LOCALHOST:1",     "http://127.0.0.1",
        "http://127.0.0.1:5000/", "http://127.1.2.3:9",
        "http://[::1]",           "http://[::1]:8080/base/",
        "https://example.com",    "https://segops.example:8443/api/",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (client_new_for(refused[i], false) != SEGOPS_E_CONFIG)
            fail_msg("accepted %s", refused[i]);
        if (client_new_for(refused[i], true) != SEGOPS_OK) fail_msg("refused %s", refused[i]);
    }
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (client_new_for(allowed[i], false) != SEGOPS_OK) fail_msg("refused %s", allowed[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_ca_is_refused),
        cmocka_unit_test(test_ca_file_delivers),
        cmocka_unit_test(test_ca_path_delivers),
        cmocka_unit_test(test_certificate_for_another_host_is_refused),
        cmocka_unit_test(test_plain_http_to_tls_server_delivers_nothing),
        cmocka_unit_test(test_plain_http_only_to_loopback),
    };
    return cmocka_run_group_tests(tests, tls_group_setup, tls_group_teardown);
}
