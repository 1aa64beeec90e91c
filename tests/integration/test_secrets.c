/* No secret in any output: every error path is driven with recognisable keys,
 * an HMAC secret and the session tokens the server minted, and every on_error
 * message, logger line (DEBUG and up) and byte written to stderr is searched
 * for them. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "testutil.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "tlsutil.h"

#define CANARY "SECRET_CANARY"
#define SK "sk_SECRET_CANARY_sk_5d1e0f"
#define SK_WRONG "sk_SECRET_CANARY_wrong_77ab"
#define PK "pk_SECRET_CANARY_pk_93c0aa"
#define PK_UNKNOWN "pk_SECRET_CANARY_unknown_1f"
#define HMAC_HEX "5ec2e7ca4a2e75ec2e7ca4a2e7c0ffee"
#define PROXY_PASS "SECRET_CANARY_proxy_pass"
#define URL_PASS "SECRET_CANARY_url_pass"

/* ---- what the library said, and the secrets it must not have said ---- */

typedef struct sink {
    pthread_mutex_t lock;
    char *text; /* every message and log line, one per line */
    size_t len, cap;
    size_t reports, log_lines;
    segops_err_t last_code;
    segops_drop_reason_t last_reason;
    uint64_t dropped;
} sink_t;

static sink_t sink;
static char tokens[16][256]; /* session tokens minted so far */
static size_t token_count;
static tls_fixture_t tls;
static bool have_tls;

static void sink_append(const char *prefix, const char *line) {
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

static void on_error(const segops_error_info_t *error, void *userdata) {
    (void)userdata;
    sink_append("on_error: ", error->message ? error->message : "(null)");
    pthread_mutex_lock(&sink.lock);
    sink.reports++;
    sink.last_code = error->code;
    sink.last_reason = error->reason;
    sink.dropped += error->event_count;
    pthread_mutex_unlock(&sink.lock);
}

static void on_log(segops_log_level_t level, const char *message, void *userdata) {
    (void)userdata;
    (void)level;
    sink_append("log: ", message);
    pthread_mutex_lock(&sink.lock);
    sink.log_lines++;
    pthread_mutex_unlock(&sink.lock);
}

static void remember_token(devsrv_t *srv) {
    char tok[256];
    if (devsrv_last_token(srv, tok, sizeof tok) == 0) return;
    for (size_t i = 0; i < token_count; i++)
        if (strcmp(tokens[i], tok) == 0) return;
    if (token_count < 16) snprintf(tokens[token_count++], sizeof tokens[0], "%s", tok);
}

/* Fails naming the first secret found in text. */
static void assert_no_secret(const char *text, const char *where) {
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

static void sink_check(size_t min_reports) {
    pthread_mutex_lock(&sink.lock);
    size_t reports = sink.reports;
    pthread_mutex_unlock(&sink.lock);
    if (reports < min_reports)
        fail_msg("expected at least %zu reports, got %zu:\n%s", min_reports, reports,
                 sink.text ? sink.text : "");
    assert_no_secret(sink.text, "the on_error/logger output");
    if (getenv("SEGOPS_TEST_VERBOSE")) print_message("%s", sink.text ? sink.text : "");
}

static void sink_reset(void) {
    pthread_mutex_lock(&sink.lock);
    sink.len = sink.reports = sink.log_lines = 0;
    sink.dropped = 0;
    if (sink.text) sink.text[0] = '\0';
    pthread_mutex_unlock(&sink.lock);
}

/* ---- stderr capture (fd 2, so writes from any thread are caught) ---- */

typedef struct capture {
    int saved_fd;
    char path[64];
} capture_t;

static capture_t *active_capture; /* restored by the teardown if a test failed inside */

static void capture_begin(capture_t *c) {
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

/* Restores stderr and returns what was written (malloc'd; the caller frees it). */
static char *capture_end(capture_t *c) {
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

/* ---- servers and clients ---- */

static devsrv_t *start_secret_server(const devsrv_config_t *given) {
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

/* The backend's half: sign the user id with the HMAC secret. */
static segops_err_t signed_user(segops_user_t *user, void *userdata) {
    const char *secret = userdata ? userdata : HMAC_HEX;
    segops_signed_user_t su;
    segops_err_t err = segops_sign_user_id(secret, "user-signed", 0, &su);
    if (err == SEGOPS_OK) err = segops_user_set_id(user, "user-signed");
    if (err == SEGOPS_OK) err = segops_user_set_signature(user, su.user_id_sig, su.user_id_ts);
    return err;
}

typedef struct spec {
    const char *url; /* NULL: the server's */
    const char *key;
    bool default_on_error; /* no on_error: the stderr default */
    bool sync;
    const char *ca_file;
    const char *proxy;
    const char *sign_with; /* HMAC secret get_user signs with; NULL: the right one */
} spec_t;

static segops_client_t *new_client(devsrv_t *srv, const spec_t *s) {
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

/* Tracks n events, flushes, and returns the client's counters. */
static segops_stats_t send_n(segops_client_t *client, int n) {
    for (int i = 0; i < n; i++)
        assert_int_equal(segops_track(client, "user-signed", "secret_checked", "{\"k\":1}"),
                         SEGOPS_OK);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    segops_stats_t st;
    assert_int_equal(segops_client_stats(client, &st), SEGOPS_OK);
    return st;
}

static void expect_last(segops_err_t code) {
    pthread_mutex_lock(&sink.lock);
    segops_err_t got = sink.last_code;
    pthread_mutex_unlock(&sink.lock);
    if (got != code)
        fail_msg("expected %s, last report was %s:\n%s", segops_strerror(code),
                 segops_strerror(got), sink.text ? sink.text : "");
}

static int setup(void **state) {
    (void)state;
    sink_reset();
    return 0;
}

/* After a failure inside a capture: give stderr back, with what it caught
 * (cmocka's own failure message among it). */
static int teardown(void **state) {
    (void)state;
    if (active_capture) {
        char *text = capture_end(active_capture);
        fprintf(stderr, "captured stderr:\n%s", text);
        free(text);
    }
    return 0;
}

static int group_setup(void **state) {
    (void)state;
    pthread_mutex_init(&sink.lock, NULL);
    unsetenv("http_proxy");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    have_tls = tls_openssl_available() && tls_fixture_create(&tls) == 0;
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    if (have_tls) tls_fixture_destroy(&tls);
    free(sink.text);
    pthread_mutex_destroy(&sink.lock);
    return 0;
}

/* ---- sk_ error paths ---- */

static void script_status(devsrv_t *srv, int status, const char *retry_after, const char *body) {
    devsrv_fault_t f = {
        .kind = DEVSRV_STATUS, .status = status, .retry_after = retry_after, .body = body};
    devsrv_script(srv, &f, 1);
}

static void test_batch_errors_sk(void **state) {
    (void)state;
    devsrv_t *srv = start_secret_server(NULL);
    segops_client_t *client = new_client(srv, &(spec_t){.key = SK});
    /* Error bodies that echo the credentials: never copied into a message. */
    static const char echo[] = "{\"detail\":\"bad key ApiKey " SK " / " HMAC_HEX "\"}";
    script_status(srv, 400, NULL, echo);
    send_n(client, 2);
    expect_last(SEGOPS_E_HTTP);
    script_status(srv, 401, NULL, echo);
    send_n(client, 1);
    expect_last(SEGOPS_E_AUTH);
    script_status(srv, 403, NULL, echo);
    send_n(client, 1);
    expect_last(SEGOPS_E_AUTH);
    script_status(srv, 413, NULL, echo);
    send_n(client, 1);
    expect_last(SEGOPS_E_TOO_LARGE);
    /* 429 whose Retry-After is past the retry budget: dropped at once. */
    script_status(srv, 429, "3600", echo);
    send_n(client, 1);
    expect_last(SEGOPS_E_RATE_LIMITED);
    /* 5xx past max_retries (the WARN lines say "retrying"). */
    for (int i = 0; i < 3; i++) script_status(srv, 503, NULL, echo);
    send_n(client, 1);
    expect_last(SEGOPS_E_SERVER);
    /* Connection closed mid-answer, then delivered. */
    assert_int_equal(devsrv_script_text(srv, "close,500"), 0);
    segops_stats_t st = send_n(client, 1);
    assert_int_equal(st.delivered, 1);
    segops_client_free(client);
    sink_check(6);
    assert_true(sink.log_lines > 0);
    devsrv_stop(srv);
}

static void test_wrong_key_and_server_down(void **state) {
    (void)state;
    devsrv_t *srv = start_secret_server(NULL);
    segops_client_t *client = new_client(srv, &(spec_t){.key = SK_WRONG});
    segops_stats_t st = send_n(client, 3);
    assert_int_equal(st.dropped_rejected, 3);
    expect_last(SEGOPS_E_AUTH);
    segops_client_free(client);

    /* batch = false: the outcome is returned, nothing is reported. */
    client = new_client(srv, &(spec_t){.key = SK_WRONG, .sync = true});
    assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_E_AUTH);
    assert_no_secret(segops_last_error(), "segops_last_error");
    segops_client_free(client);

    /* A server that is gone, directly and through a proxy with credentials. */
    char url[128];
    snprintf(url, sizeof url, "%s", devsrv_url(srv));
    devsrv_stop(srv);
    client = new_client(NULL, &(spec_t){.key = SK, .url = url});
    send_n(client, 1);
    expect_last(SEGOPS_E_NETWORK);
    segops_client_free(client);
    client = new_client(
        NULL,
        &(spec_t){.key = SK, .url = url, .proxy = "http://segops:" PROXY_PASS "@127.0.0.1:1"});
    send_n(client, 1);
    expect_last(SEGOPS_E_NETWORK);
    segops_client_free(client);
    client = new_client(NULL, &(spec_t){.key = PK, .url = url});
    send_n(client, 1);
    expect_last(SEGOPS_E_HANDSHAKE);
    segops_client_free(client);
    sink_check(4);
}

static void test_tls_failure(void **state) {
    (void)state;
    require_or_skip(have_tls, "no openssl tool to make certificates", SKIP_INSTALLABLE);
    devsrv_config_t cfg = {.tls_cert_file = tls.server_cert, .tls_key_file = tls.server_key};
    devsrv_t *srv = start_secret_server(&cfg);
    segops_client_t *client = new_client(srv, &(spec_t){.key = SK});
    send_n(client, 1);
    expect_last(SEGOPS_E_TLS);
    segops_client_free(client);
    client = new_client(srv, &(spec_t){.key = PK});
    send_n(client, 1);
    expect_last(SEGOPS_E_TLS);
    segops_client_free(client);
    /* Over working TLS, a token is minted; a revoked one and a failed mint then. */
    client = new_client(srv, &(spec_t){.key = PK, .ca_file = tls.ca_file});
    assert_int_equal(send_n(client, 1).delivered, 1);
    remember_token(srv);
    devsrv_revoke_tokens(srv);
    devsrv_fail_mints(srv, 401, 1);
    send_n(client, 1);
    expect_last(SEGOPS_E_HANDSHAKE); /* a refused mint is a handshake failure */
    segops_client_free(client);
    sink_check(3);
    devsrv_stop(srv);
}

/* ---- the pk_ handshake ---- */

static void test_handshake_errors(void **state) {
    (void)state;
    devsrv_t *srv = start_secret_server(NULL);
    size_t first = token_count;
    segops_client_t *client = new_client(srv, &(spec_t){.key = PK});
    assert_int_equal(send_n(client, 1).delivered, 1);
    remember_token(srv);
    assert_int_equal(token_count, first + 1);

    /* Revoked: a 401, a fresh mint, delivered (logged at INFO). */
    devsrv_revoke_tokens(srv);
    assert_int_equal(send_n(client, 1).delivered, 2);
    remember_token(srv);
    /* Revoked and the re-mint refused. */
    devsrv_revoke_tokens(srv);
    devsrv_fail_mints(srv, 403, 1);
    send_n(client, 1);
    expect_last(SEGOPS_E_HANDSHAKE);
    /* Revoked and the mint failing with 500 until retries run out. */
    devsrv_fail_mints(srv, 500, 10);
    send_n(client, 1);
    expect_last(SEGOPS_E_HANDSHAKE);
    devsrv_fail_mints(srv, 500, 0);
    /* An answer carrying a token but an expires_at that is no time. */
    devsrv_set_expires_style(srv, DEVSRV_EXPIRES_GARBAGE);
    send_n(client, 1);
    expect_last(SEGOPS_E_HANDSHAKE);
    remember_token(srv);
    devsrv_set_expires_style(srv, DEVSRV_EXPIRES_MS_Z);
    /* And a batch 401 after the re-mint too: refused twice. */
    assert_int_equal(send_n(client, 1).delivered, 3);
    remember_token(srv);
    static const char echo[] = "{\"detail\":\"token refused\"}";
    script_status(srv, 401, NULL, echo);
    script_status(srv, 401, NULL, echo);
    send_n(client, 1);
    expect_last(SEGOPS_E_AUTH);
    remember_token(srv);
    segops_client_free(client);
    assert_true(token_count >= first + 4);

    /* An unknown pk_ key, a wrong signature, and batch = false. */
    client = new_client(srv, &(spec_t){.key = PK_UNKNOWN});
    send_n(client, 1);
    expect_last(SEGOPS_E_HANDSHAKE);
    segops_client_free(client);
    client = new_client(srv, &(spec_t){.key = PK, .sign_with = "00112233445566778899aabbccddeeff"});
    send_n(client, 1);
    expect_last(SEGOPS_E_HANDSHAKE);
    segops_client_free(client);
    client = new_client(srv, &(spec_t){.key = PK, .sync = true});
    devsrv_fail_mints(srv, 401, 1);
    assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_E_HANDSHAKE);
    assert_no_secret(segops_last_error(), "segops_last_error");
    assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
    remember_token(srv);
    segops_client_free(client);

    /* The tokens were what they should be: the check above was not vacuous. */
    for (size_t i = 0; i < token_count; i++) assert_true(strlen(tokens[i]) >= 16);
    sink_check(6);
    devsrv_stop(srv);
}

/* ---- configuration errors ---- */

/* A refused call: its reason (segops_last_error) holds no secret either. */
#define expect_refused(call, code)                                                                 \
    do {                                                                                           \
        assert_int_equal((call), (code));                                                          \
        assert_no_secret(segops_last_error(), "segops_last_error after " #call);                   \
    } while (0)

static void test_config_errors(void **state) {
    (void)state;
    segops_options_t *opts = NULL;
    assert_int_equal(segops_options_new(&opts), SEGOPS_OK);
    assert_int_equal(segops_options_set_logger(opts, on_log, SEGOPS_LOG_DEBUG, NULL), SEGOPS_OK);
    assert_int_equal(segops_options_set_on_error(opts, on_error, NULL), SEGOPS_OK);
    expect_refused(segops_options_set_api_key(opts, "xk_" CANARY "_bad_prefix"), SEGOPS_E_CONFIG);
    expect_refused(segops_options_set_api_key(opts, "sk_" CANARY "\x01"), SEGOPS_E_INVALID_ARG);
    expect_refused(segops_options_set_api_key(opts, "sk_" CANARY " space"), SEGOPS_E_INVALID_ARG);
    expect_refused(segops_options_set_api_url(opts, "https://u:" URL_PASS "@segops.example"),
                   SEGOPS_E_INVALID_ARG);
    expect_refused(segops_options_set_api_url(opts, "https://segops.example/?key=" SK),
                   SEGOPS_E_INVALID_ARG);
    segops_client_t *client = NULL;
    /* No URL yet, then plain http to another host, then pk_ without get_user. */
    assert_int_equal(segops_options_set_api_key(opts, SK), SEGOPS_OK);
    expect_refused(segops_client_new(opts, &client), SEGOPS_E_CONFIG);
    assert_int_equal(segops_options_set_api_url(opts, "http://segops.example"), SEGOPS_OK);
    expect_refused(segops_client_new(opts, &client), SEGOPS_E_CONFIG);
    assert_int_equal(segops_options_set_api_url(opts, "https://segops.example"), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_key(opts, PK), SEGOPS_OK);
    expect_refused(segops_client_new(opts, &client), SEGOPS_E_CONFIG);
    assert_null(client);
    assert_int_equal(segops_options_set_api_key(opts, SK), SEGOPS_OK);
    assert_int_equal(segops_options_set_batch_size(opts, 50), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_queue_events(opts, 10), SEGOPS_OK);
    expect_refused(segops_client_new(opts, &client), SEGOPS_E_CONFIG);
    segops_options_free(opts);
    /* The refusals were logged (so the check below looks at real lines). */
    assert_true(sink.log_lines >= 3);
    sink_check(0);

    /* Signing helpers: failures are codes only. */
    segops_signed_user_t su;
    assert_int_equal(segops_sign_user_id(HMAC_HEX "0", "u", 0, &su), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_sign_user_id(HMAC_HEX, "u", 1700000000, &su), SEGOPS_OK);
    assert_int_equal(
        segops_verify_user_id(HMAC_HEX, "v", su.user_id_sig, su.user_id_ts, 1700000000, 300),
        SEGOPS_E_AUTH);
}

/* ---- the default on_error: stderr ---- */

static void test_default_stderr(void **state) {
    (void)state;
    capture_t cap;
    capture_begin(&cap);
    devsrv_t *srv = start_secret_server(NULL);
    segops_client_t *client = new_client(srv, &(spec_t){.key = SK_WRONG, .default_on_error = true});
    send_n(client, 2);
    segops_client_free(client);
    client = new_client(srv, &(spec_t){.key = PK, .default_on_error = true});
    send_n(client, 1);
    remember_token(srv);
    devsrv_revoke_tokens(srv);
    devsrv_fail_mints(srv, 401, 1);
    send_n(client, 1);
    devsrv_set_expires_style(srv, DEVSRV_EXPIRES_GARBAGE);
    send_n(client, 1);
    remember_token(srv);
    segops_client_free(client);
    client = new_client(srv, &(spec_t){.key = PK_UNKNOWN, .default_on_error = true});
    send_n(client, 1);
    segops_client_free(client);
    client = new_client(srv, &(spec_t){.key = SK, .default_on_error = true});
    script_status(srv, 400, NULL, "{\"detail\":\"" SK "\"}");
    send_n(client, 1);
    segops_client_free(client);
    if (have_tls) {
        devsrv_config_t cfg = {.tls_cert_file = tls.server_cert, .tls_key_file = tls.server_key};
        devsrv_t *https = start_secret_server(&cfg);
        client = new_client(https, &(spec_t){.key = SK, .default_on_error = true});
        send_n(client, 1);
        segops_client_free(client);
        devsrv_stop(https);
    }
    char url[128];
    snprintf(url, sizeof url, "%s", devsrv_url(srv));
    devsrv_stop(srv);
    client = new_client(NULL, &(spec_t){.key = SK, .url = url, .default_on_error = true});
    send_n(client, 1);
    segops_client_free(client);
    char *err = capture_end(&cap);

    size_t lines = 0;
    for (const char *p = err; (p = strstr(p, "segops: dropped")); p++) lines++;
    if (lines < 6) fail_msg("expected at least 6 stderr reports, got %zu:\n%s", lines, err);
    assert_no_secret(err, "stderr");
    if (getenv("SEGOPS_TEST_VERBOSE")) print_message("stderr:\n%s", err);
    free(err);
    sink_check(0); /* the logger lines of the same run */
}

/* ---- secrets are freed (and wiped) without leaks or bad accesses ---- */

/* Every free() libsegops makes comes here (test_secrets links with
 * -Wl,--wrap=free; only the static library's own calls are redirected). While
 * watching, a block still holding a canary secret as its text when it is
 * freed is counted: a secret must be wiped before its memory goes back. */
void __real_free(void *ptr);
void __wrap_free(void *ptr);
static atomic_bool watching_frees;
static atomic_ulong unwiped_frees;
static atomic_size_t unwiped_size; /* the last such block's size (never its text) */

void __wrap_free(void *ptr) {
    if (ptr && atomic_load(&watching_frees)) {
        size_t size = malloc_usable_size(ptr);
        size_t len = strnlen(ptr, size);
        if (len < size && memmem(ptr, len, CANARY, strlen(CANARY))) {
            atomic_fetch_add(&unwiped_frees, 1);
            atomic_store(&unwiped_size, size);
        }
    }
    __real_free(ptr);
}

static void watch_frees(bool on) {
    if (on) atomic_store(&unwiped_frees, 0);
    atomic_store(&watching_frees, on);
}

static void assert_every_secret_wiped(const char *when) {
    unsigned long unwiped = atomic_load(&unwiped_frees);
    if (unwiped)
        fail_msg("%s: %lu freed blocks (the last of %zu bytes) still held a secret", when, unwiped,
                 atomic_load(&unwiped_size));
}

static void test_free_wipes_without_leaks(void **state) {
    (void)state;
    watch_frees(true);
    long base = segops__alloc_test_live();
    segops_options_t *opts = NULL;
    assert_int_equal(segops_options_new(&opts), SEGOPS_OK);
    /* Replacing a key frees (and wipes) the old copy. */
    assert_int_equal(segops_options_set_api_key(opts, SK), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_key(opts, PK), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_key(opts, SK_WRONG), SEGOPS_OK);
    assert_int_equal(segops_options_set_proxy(opts, "http://u:" PROXY_PASS "@127.0.0.1:1"),
                     SEGOPS_OK);
    assert_int_equal(segops_options_set_proxy(opts, NULL), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops__alloc_test_live(), base);
    assert_every_secret_wiped("options replaced and freed");

    devsrv_t *srv = start_secret_server(NULL);
    static const char *const keys[] = {SK, PK};
    for (int sync = 0; sync < 2; sync++) {
        for (size_t k = 0; k < 2; k++) {
            segops_client_t *client = new_client(srv, &(spec_t){.key = keys[k], .sync = sync});
            if (sync)
                assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
            else
                assert_int_equal(send_n(client, 2).delivered, 2);
            remember_token(srv);
            segops_client_free(client);
            assert_int_equal(segops__alloc_test_live(), base);
        }
    }
    watch_frees(false);
    devsrv_stop(srv);
    assert_every_secret_wiped("clients used and freed");
    sink_check(0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_batch_errors_sk, setup),
        cmocka_unit_test_setup(test_wrong_key_and_server_down, setup),
        cmocka_unit_test_setup(test_tls_failure, setup),
        cmocka_unit_test_setup(test_handshake_errors, setup),
        cmocka_unit_test_setup(test_config_errors, setup),
        cmocka_unit_test_setup_teardown(test_default_stderr, setup, teardown),
        cmocka_unit_test_setup(test_free_wipes_without_leaks, setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
