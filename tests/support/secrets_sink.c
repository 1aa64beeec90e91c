/* For test_secrets_*.c: recognisable keys, an HMAC secret and minted session tokens,
 * and every on_error message, logger line and stderr byte collected to be searched for them. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "secrets_sink.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

sink_t sink;
char tokens[16][256]; /* session tokens minted so far */
size_t token_count;
tls_fixture_t tls;
bool have_tls;

void sink_append(const char *prefix, const char *line) {
    pthread_mutex_lock(&sink.lock);
    size_t need = strlen(prefix) + strlen(line) + 2;
    if (sink.len + need + 1 > sink.cap) {
        size_t cap = (sink.cap + need) * 2;
        char *grown = realloc(sink.text, cap);
        if (grown) sink.text = grown, sink.cap = cap;
    }
    if (sink.len + need + 1 <= sink.cap)
        sink.len +=
            (size_t)snprintf(sink.text + sink.len, sink.cap - sink.len, "%s%s\n", prefix, line);
    pthread_mutex_unlock(&sink.lock);
}

void on_error(const segops_error_info_t *error, void *userdata) {
    (void)userdata;
    sink_append("on_error: ", error->message ? error->message : "(null)");
    pthread_mutex_lock(&sink.lock);
    sink.reports++;
    sink.last_code = error->code;
    sink.last_reason = error->reason;
    sink.dropped += error->event_count;
    pthread_mutex_unlock(&sink.lock);
}

void on_log(segops_log_level_t level, const char *message, void *userdata) {
    (void)userdata;
    (void)level;
    sink_append("log: ", message);
    pthread_mutex_lock(&sink.lock);
    sink.log_lines++;
    pthread_mutex_unlock(&sink.lock);
}

void remember_token(devsrv_t *srv) {
    char tok[256];
    if (devsrv_last_token(srv, tok, sizeof tok) == 0) return;
    for (size_t i = 0; i < token_count; i++)
        if (strcmp(tokens[i], tok) == 0) return;
    if (token_count < 16) snprintf(tokens[token_count++], sizeof tokens[0], "%s", tok);
}

void assert_no_secret_in(const char *text, const char *where) {
    if (!text) return;
    static const char *const fixed[] = {CANARY, HMAC_HEX, "5ec2e7ca4a2e7"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strstr(text, fixed[i])) fail_msg("%s holds a secret (%s):\n%s", where, fixed[i], text);
    for (size_t i = 0; i < token_count; i++) {
        if (strstr(text, tokens[i])) fail_msg("%s holds session token %zu:\n%s", where, i, text);
        /* Half a token is as good as a whole one to nobody, but it still leaked. */
        char half[129];
        snprintf(half, sizeof half, "%.*s", (int)(strlen(tokens[i]) / 2),
                 tokens[i] + strlen(tokens[i]) / 4);
        if (strlen(half) >= 16 && strstr(text, half))
            fail_msg("%s holds part of session token %zu:\n%s", where, i, text);
    }
}

void sink_check(size_t min_reports) {
    pthread_mutex_lock(&sink.lock);
    size_t reports = sink.reports;
    pthread_mutex_unlock(&sink.lock);
    if (reports < min_reports)
        fail_msg("expected at least %zu reports, got %zu:\n%s", min_reports, reports,
                 sink.text ? sink.text : "");
    assert_no_secret_in(sink.text, "the on_error/logger output");
    if (getenv("SEGOPS_TEST_VERBOSE")) print_message("%s", sink.text ? sink.text : "");
}

void sink_reset(void) {
    pthread_mutex_lock(&sink.lock);
    sink.len = sink.reports = sink.log_lines = 0;
    sink.dropped = 0;
    if (sink.text) sink.text[0] = '\0';
    pthread_mutex_unlock(&sink.lock);
}

capture_t *active_capture; /* restored by the teardown if a test failed inside */

void capture_begin(capture_t *c) {
    snprintf(c->path, sizeof c->path, "/tmp/segops-stderr-XXXXXX");
    int fd = mkstemp(c->path);
    assert_true(fd >= 0);
    fflush(stderr);
    c->saved_fd = dup(2);
    assert_true(c->saved_fd >= 0);
    assert_true(dup2(fd, 2) >= 0);
    close(fd);
    active_capture = c;
}

char *capture_end(capture_t *c) {
    fflush(stderr);
    dup2(c->saved_fd, 2);
    close(c->saved_fd);
    active_capture = NULL;
    FILE *f = fopen(c->path, "rb");
    assert_non_null(f);
    char *text = calloc(1, 1 << 20);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(c->path);
    return text;
}

devsrv_t *start_secret_server(const devsrv_config_t *given) {
    static const char *const sk[] = {SK};
    static const devsrv_pk_key_t pk[] = {{PK, HMAC_HEX, true}};
    devsrv_config_t cfg = {0};
    if (given) cfg = *given;
    cfg.sk_keys = sk;
    cfg.sk_key_count = 1;
    cfg.pk_keys = pk;
    cfg.pk_key_count = 1;
    return start_server(&cfg);
}

segops_err_t signed_user(segops_user_t *user, void *userdata) {
    const char *secret = userdata ? userdata : HMAC_HEX;
    segops_signed_user_t su;
    segops_err_t err = segops_sign_user_id(secret, "user-signed", 0, &su);
    if (err == SEGOPS_OK) err = segops_user_set_id(user, "user-signed");
    if (err == SEGOPS_OK) err = segops_user_set_signature(user, su.user_id_sig, su.user_id_ts);
    return err;
}

segops_client_t *new_client(devsrv_t *srv, const spec_t *s) {
    segops_options_t *opts = NULL;
    assert_int_equal(segops_options_new(&opts), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_url(opts, s->url ? s->url : devsrv_url(srv)),
                     SEGOPS_OK);
    assert_int_equal(segops_options_set_api_key(opts, s->key), SEGOPS_OK);
    if (!s->default_on_error)
        assert_int_equal(segops_options_set_on_error(opts, on_error, NULL), SEGOPS_OK);
    assert_int_equal(segops_options_set_logger(opts, on_log, SEGOPS_LOG_DEBUG, NULL), SEGOPS_OK);
    assert_int_equal(segops_options_set_get_user(opts, signed_user, (void *)s->sign_with),
                     SEGOPS_OK);
    assert_int_equal(segops_options_set_batch(opts, !s->sync), SEGOPS_OK);
    assert_int_equal(segops_options_set_batch_size(opts, 1000), SEGOPS_OK);
    assert_int_equal(segops_options_set_flush_interval_ms(opts, 3600000), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_retries(opts, 2), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 1, 5), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_budget_ms(opts, 2000), SEGOPS_OK);
    if (s->ca_file) assert_int_equal(segops_options_set_ca_file(opts, s->ca_file), SEGOPS_OK);
    if (s->proxy) assert_int_equal(segops_options_set_proxy(opts, s->proxy), SEGOPS_OK);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    return client;
}

segops_stats_t send_n(segops_client_t *client, int n) {
    for (int i = 0; i < n; i++)
        assert_int_equal(segops_track(client, "user-signed", "secret_checked", "{\"k\":1}"),
                         SEGOPS_OK);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    segops_stats_t st;
    assert_int_equal(segops_client_stats(client, &st), SEGOPS_OK);
    return st;
}

void expect_last(segops_err_t code) {
    pthread_mutex_lock(&sink.lock);
    segops_err_t got = sink.last_code;
    pthread_mutex_unlock(&sink.lock);
    if (got != code)
        fail_msg("expected %s, last report was %s:\n%s", segops_strerror(code),
                 segops_strerror(got), sink.text ? sink.text : "");
}

int secrets_setup(void **state) {
    (void)state;
    sink_reset();
    return 0;
}

int secrets_teardown(void **state) {
    (void)state;
    if (active_capture) {
        char *text = capture_end(active_capture);
        fprintf(stderr, "captured stderr:\n%s", text);
        free(text);
    }
    return 0;
}

int secrets_group_setup(void **state) {
    (void)state;
    pthread_mutex_init(&sink.lock, NULL);
    unsetenv("http_proxy");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    have_tls = tls_openssl_available() && tls_fixture_create(&tls) == 0;
    return 0;
}

int secrets_group_teardown(void **state) {
    (void)state;
    if (have_tls) tls_fixture_destroy(&tls);
    free(sink.text);
    pthread_mutex_destroy(&sink.lock);
    return 0;
}

void script_status(devsrv_t *srv, int status, const char *retry_after, const char *body) {
    devsrv_fault_t f = {
        .kind = DEVSRV_STATUS, .status = status, .retry_after = retry_after, .body = body};
    devsrv_script(srv, &f, 1);
}
