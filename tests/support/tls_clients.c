/* Throwaway certificates, HTTPS servers and clients for test_tls_*.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "tls_clients.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tls_fixture_t tls_certs;
bool have_tls_certs;

int tls_group_setup(void **state) {
    (void)state;
    /* The proxy tests decide the environment themselves. */
    static const char *const vars[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                       "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
    have_tls_certs = tls_openssl_available() && tls_fixture_create(&tls_certs) == 0;
    if (!have_tls_certs) fprintf(stderr, "test_tls_*: no openssl tool: TLS tests are skipped\n");
    return 0;
}

int tls_group_teardown(void **state) {
    (void)state;
    if (have_tls_certs) tls_fixture_destroy(&tls_certs);
    return 0;
}

devsrv_t *start_https(const char *cert, const char *key) {
    devsrv_config_t cfg = {0};
    cfg.tls_cert_file = cert;
    cfg.tls_key_file = key;
    devsrv_t *srv = start_server(&cfg);
    assert_true(strncmp(devsrv_url(srv), "https://127.0.0.1:", 18) == 0);
    return srv;
}

segops_get_user_fn no_user; /* NULL: only pk_ clients set one */

segops_err_t get_user(segops_user_t *user, void *userdata) {
    (void)userdata;
    return segops_user_set_id(user, "tls-user");
}

segops_client_t *tls_test_client(devsrv_t *srv, recorder_t *rec, const client_spec_t *spec) {
    segops_options_t *opts = make_options(NULL, spec->key ? spec->key : TEST_SK, rec);
    assert_int_equal(segops_options_set_api_url(opts, spec->url ? spec->url : devsrv_url(srv)),
                     SEGOPS_OK);
    assert_int_equal(segops_options_set_batch_size(opts, 1000), SEGOPS_OK);
    assert_int_equal(segops_options_set_flush_interval_ms(opts, 3600000), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_retries(opts, 2), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 1, 10), SEGOPS_OK);
    if (spec->key && strncmp(spec->key, "pk_", 3) == 0)
        assert_int_equal(segops_options_set_get_user(opts, get_user, NULL), SEGOPS_OK);
    else
        assert_int_equal(segops_options_set_get_user(opts, no_user, NULL), SEGOPS_OK);
    if (spec->ca_file) assert_int_equal(segops_options_set_ca_file(opts, spec->ca_file), SEGOPS_OK);
    if (spec->ca_path) assert_int_equal(segops_options_set_ca_path(opts, spec->ca_path), SEGOPS_OK);
    if (spec->proxy) assert_int_equal(segops_options_set_proxy(opts, spec->proxy), SEGOPS_OK);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    return client;
}

void track_tls_events(segops_client_t *client, int n) {
    for (int i = 0; i < n; i++)
        assert_int_equal(segops_track(client, "u-tls", "tls_checked", "{\"i\":1}"), SEGOPS_OK);
}

void expect_delivered(devsrv_t *srv, const client_spec_t *spec, int n) {
    recorder_t rec;
    recorder_init(&rec);
    segops_client_t *client = tls_test_client(srv, &rec, spec);
    uint64_t before = devsrv_event_count(srv);
    track_tls_events(client, n);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    segops_stats_t st = stats_of(client);
    if (rec.reports) fail_msg("unexpected report: %s", rec.messages[0]);
    assert_int_equal(st.delivered, n);
    assert_int_equal(devsrv_event_count(srv), before + (uint64_t)n);
    assert_conservation(client);
    segops_client_free(client);
    recorder_destroy(&rec);
}

void expect_tls_refused(devsrv_t *srv, const client_spec_t *spec, int n) {
    recorder_t rec;
    recorder_init(&rec);
    segops_client_t *client = tls_test_client(srv, &rec, spec);
    devsrv_stats_t ss_before;
    devsrv_get_stats(srv, &ss_before);
    for (int round = 1; round <= 2; round++) {
        track_tls_events(client, n);
        assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
        size_t reports;
        recorder_snapshot(&rec, &reports, NULL);
        assert_int_equal(reports, round);
        const segops_error_info_t *info = &rec.info[round - 1];
        if (info->code != SEGOPS_E_TLS)
            fail_msg("expected SEGOPS_E_TLS, got %s: %s", segops_strerror(info->code),
                     rec.messages[round - 1]);
        assert_int_equal(info->reason, SEGOPS_DROP_REJECTED); /* not retries exhausted */
        assert_int_equal(info->event_count, n);
        assert_int_equal(info->http_status, 0);
        assert_true(strlen(rec.messages[round - 1]) > 0);
    }
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.dropped_rejected, 2 * n);
    assert_int_equal(st.retries, 0); /* a bad certificate is not retried */
    assert_int_equal(st.pending, 0);
    bool pk = spec->key && strncmp(spec->key, "pk_", 3) == 0;
    /* sk_: one attempt per batch; pk_: the mint fails first, so no batch POST. */
    assert_int_equal(st.requests, pk ? 0 : 2);
    if (pk) assert_int_equal(st.token_mints, 2);
    assert_conservation(client);
    devsrv_stats_t ss;
    devsrv_get_stats(srv, &ss);
    assert_int_equal(ss.batch_requests, ss_before.batch_requests);
    assert_int_equal(ss.mint_requests, ss_before.mint_requests);
    assert_int_equal(devsrv_event_count(srv), 0);
    segops_client_free(client);
    recorder_destroy(&rec);
}
