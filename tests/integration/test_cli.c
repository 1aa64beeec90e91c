/*
 * The segops CLI end to end: the built binary runs as a child process against
 * an in-process dev server; the test checks exit codes, messages, what the
 * server received (byte-exact) and that no secret ever reaches the output.
 */
#define _POSIX_C_SOURCE 200809L

#include "cli_child.h"
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

#define SK_KEY "sk_test_cli_9f8e7d6c5b4a3921"
#define PK_KEY "pk_test_cli_1a2b3c4d5e6f7a8b"
#define WRONG_KEY "sk_wrong_cli_0000deadbeef1111"
#define HMAC_SECRET "00112233445566778899aabbccddeeff0123456789abcdef0123456789abcdef"

/* Longest a child may run before the test kills it and fails. */
#define CHILD_DEADLINE_MS 60000

typedef struct run {
    int exit_code; /* -1 when the child did not exit normally */
    char *out;
    char *err;
} run_t;

typedef struct fixture {
    devsrv_t *srv;
} fixture_t;

static const char *const sk_keys[] = {SK_KEY};
static const devsrv_pk_key_t pk_keys[] = {{PK_KEY, HMAC_SECRET, true}};

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return -1;
    }
    devsrv_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.sk_keys = sk_keys;
    cfg.sk_key_count = 1;
    cfg.pk_keys = pk_keys;
    cfg.pk_key_count = 1;
    cfg.keep_events = true;
    if (devsrv_start(&cfg, &f->srv) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    devsrv_stop(f->srv);
    free(f);
    return 0;
}

/* ---- running the binary ------------------------------------------------- */

static int temp_file(char *path, size_t size) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, size, "%s/segops-cli-test-XXXXXX", dir != NULL && dir[0] != '\0' ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    return fd;
}

static void assert_no_secret(const char *text, const char *secret) {
    if (secret != NULL && strstr(text, secret) != NULL) {
        fail_msg("a secret leaked into the CLI output: %s", text);
    }
}

/*
 * Runs `segops ARGS...` (NULL-terminated) with only the given environment:
 * SEGOPS_API_URL=url (omitted when NULL), SEGOPS_API_KEY=key (omitted when NULL),
 * SEGOPS_HMAC_SECRET, and extra "NAME=value" entries (NULL-terminated, or NULL).
 * stdin is stdin_text, or /dev/null. Every run checks the key and secret never
 * appear in stdout or stderr.
 */
static void run_cli(run_t *r, const char *url, const char *key, const char *const *extra,
                    const char *stdin_text, ...) {
    char *argv[32];
    size_t argc = 0;
    argv[argc++] = (char *)"segops";
    va_list ap;
    va_start(ap, stdin_text);
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *)) {
        assert_true(argc < sizeof argv / sizeof argv[0] - 1);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;

    char url_env[256], key_env[256];
    char *envp[16];
    size_t envc = 0;
    if (url != NULL) {
        snprintf(url_env, sizeof url_env, "SEGOPS_API_URL=%s", url);
        envp[envc++] = url_env;
    }
    if (key != NULL) {
        snprintf(key_env, sizeof key_env, "SEGOPS_API_KEY=%s", key);
        envp[envc++] = key_env;
    }
    envp[envc++] = (char *)"SEGOPS_HMAC_SECRET=" HMAC_SECRET;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        assert_true(envc < sizeof envp / sizeof envp[0] - 1);
        envp[envc++] = (char *)extra[i];
    }
    envp[envc] = NULL;

    cli_child_t child;
    cli_child_start(&child, SEGOPS_CLI_PATH, argv, envp, stdin_text);
    cli_child_wait(&child, CHILD_DEADLINE_MS);
    r->exit_code = child.exit_code;
    r->out = child.out;
    r->err = child.err;

    const char *secrets[] = {key, HMAC_SECRET, SK_KEY, PK_KEY, WRONG_KEY};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        assert_no_secret(r->out, secrets[i]);
        assert_no_secret(r->err, secrets[i]);
    }
}

static void run_free(run_t *r) {
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Every stderr line is one "segops: " message. */
static void assert_messages_well_formed(const char *err) {
    for (const char *line = err; *line != '\0';) {
        assert_int_equal(strncmp(line, "segops: ", 8), 0);
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        line = nl + 1;
    }
}

static void assert_contains(const char *text, const char *needle) {
    if (strstr(text, needle) == NULL) {
        fail_msg("expected \"%s\" in:\n%s", needle, text);
    }
}

static void assert_event(devsrv_t *srv, size_t index, const char *user_id, const char *event_type,
                         const char *payload_json, const char *anonymous_id) {
    devsrv_event_t ev;
    memset(&ev, 0, sizeof ev);
    assert_int_equal(devsrv_event_at(srv, index, &ev), 0);
    assert_string_equal(ev.user_id, user_id);
    assert_string_equal(ev.event_type, event_type);
    assert_string_equal(ev.payload_json, payload_json);
    if (anonymous_id == NULL) {
        assert_null(ev.anonymous_id);
    } else {
        assert_non_null(ev.anonymous_id);
        assert_string_equal(ev.anonymous_id, anonymous_id);
    }
    devsrv_event_free(&ev);
}

/* The URL of a server that has stopped: a port nobody listens on. */
static void dead_server_url(char *url, size_t size) {
    devsrv_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.sk_keys = sk_keys;
    cfg.sk_key_count = 1;
    devsrv_t *gone = NULL;
    assert_int_equal(devsrv_start(&cfg, &gone), 0);
    snprintf(url, size, "%s", devsrv_url(gone));
    devsrv_stop(gone);
}

/* ---- track -------------------------------------------------------------- */

/* Already in cJSON's compact form, so the server's re-serialisation is byte-equal. */
#define TRACK_PAYLOAD                                                                              \
    "{\"sku\":\"A-1\",\"qty\":2,\"price\":9.5,\"tags\":[\"x\",\"y\"],\"note\":\"caf\xc3\xa9\","    \
    "\"nested\":{\"ok\":true,\"none\":null}}"

static void test_track_delivers_one_event(void **state) {
    fixture_t *f = *state;
    run_t r;
    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, NULL, "track", "--user", "us\xc3\xa9r-1",
            "--event", "order_placed", "--payload", TRACK_PAYLOAD, "--occurred-at",
            "2026-01-02T03:04:05.678Z", "--anonymous-id", "anon-7", NULL);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "");
    run_free(&r);

    assert_int_equal(devsrv_event_count(f->srv), 1);
    assert_event(f->srv, 0, "us\xc3\xa9r-1", "order_placed", TRACK_PAYLOAD, "anon-7");
    devsrv_event_t ev;
    memset(&ev, 0, sizeof ev);
    assert_int_equal(devsrv_event_at(f->srv, 0, &ev), 0);
    assert_string_equal(ev.occurred_at, "2026-01-02T03:04:05.678Z");
    devsrv_event_free(&ev);
    devsrv_last_headers_t h;
    devsrv_get_last_headers(f->srv, &h);
    assert_contains(h.user_agent, "segops-cli/" SEGOPS_VERSION_STRING);
}

static void test_track_url_flag_overrides_env(void **state) {
    fixture_t *f = *state;
    run_t r;
    /* The environment points nowhere useful; --url wins. */
    run_cli(&r, "http://127.0.0.1:1", SK_KEY, NULL, NULL, "track", "-u", "u1", "-e", "page_viewed",
            "--url", devsrv_url(f->srv), NULL);
    assert_int_equal(r.exit_code, 0);
    run_free(&r);
    assert_int_equal(devsrv_event_count(f->srv), 1);
    assert_event(f->srv, 0, "u1", "page_viewed", "{}", NULL);
}

static void test_track_wrong_key_is_auth(void **state) {
    fixture_t *f = *state;
    run_t r;
    run_cli(&r, devsrv_url(f->srv), WRONG_KEY, NULL, NULL, "track", "--user", "u1", "--event",
            "order_placed", NULL);
    assert_int_equal(r.exit_code, 5);
    assert_string_equal(r.out, "");
    assert_messages_well_formed(r.err);
    run_free(&r);
    assert_int_equal(devsrv_event_count(f->srv), 0);
}

static void test_track_server_down_is_network(void **state) {
    (void)state;
    char url[128];
    dead_server_url(url, sizeof url);

    run_t r;
    run_cli(&r, url, SK_KEY, NULL, NULL, "track", "--user", "u1", "--event", "order_placed",
            "--retries", "1", "--timeout-ms", "3000", NULL);
    assert_int_equal(r.exit_code, 4);
    assert_messages_well_formed(r.err);
    run_free(&r);
}

static void test_track_bad_values_are_input(void **state) {
    fixture_t *f = *state;
    run_t r;
    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, NULL, "track", "--user", "u1", "--event", "e",
            "--payload", "[1,2]", NULL);
    assert_int_equal(r.exit_code, 3);
    assert_messages_well_formed(r.err);
    assert_contains(r.err, "--payload");
    run_free(&r);

    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, NULL, "track", "--user", "u1", "--event", "e",
            "--payload", "{\"a\":", NULL);
    assert_int_equal(r.exit_code, 3);
    run_free(&r);

    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, NULL, "track", "--user", "u1", "--event", "e",
            "--occurred-at", "yesterday", NULL);
    assert_int_equal(r.exit_code, 3);
    run_free(&r);

    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, NULL, "track", "--user", "u1", "--event", "e",
            "--timeout-ms", "-5", NULL);
    assert_int_equal(r.exit_code, 3);
    assert_messages_well_formed(r.err);
    run_free(&r);

    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, NULL, "track", "--user", "u1", "--event", "e",
            "--ca-file", "/nonexistent/ca.pem", NULL);
    assert_int_equal(r.exit_code, 3);
    assert_messages_well_formed(r.err);
    assert_contains(r.err, "track: cannot read --ca-file '/nonexistent/ca.pem': ");
    run_free(&r);

    /* A key of neither kind is a bad setting, and is not echoed. */
    run_cli(&r, devsrv_url(f->srv), "xk_not_a_key_777", NULL, NULL, "track", "--user", "u1",
            "--event", "e", NULL);
    assert_int_equal(r.exit_code, 3);
    assert_no_secret(r.err, "xk_not_a_key_777");
    run_free(&r);

    assert_int_equal(devsrv_event_count(f->srv), 0);
}

static void test_track_pk_key_with_signed_identity(void **state) {
    fixture_t *f = *state;
    segops_signed_user_t su;
    assert_int_equal(segops_sign_user_id(HMAC_SECRET, "pk-user", 0, &su), SEGOPS_OK);
    char sig_env[128], ts_env[64];
    snprintf(sig_env, sizeof sig_env, "SEGOPS_USER_SIG=%s", su.user_id_sig);
    snprintf(ts_env, sizeof ts_env, "SEGOPS_USER_TS=%" PRId64, su.user_id_ts);
    const char *extra[] = {"SEGOPS_USER_ID=pk-user", sig_env, ts_env, NULL};

    run_t r;
    run_cli(&r, devsrv_url(f->srv), PK_KEY, extra, NULL, "track", "--user", "pk-user", "--event",
            "page_viewed", "--payload", "{\"path\":\"/home\"}", NULL);
    assert_int_equal(r.exit_code, 0);
    char token[1024];
    size_t token_len = devsrv_last_token(f->srv, token, sizeof token);
    assert_true(token_len > 0);
    assert_no_secret(r.out, token);
    assert_no_secret(r.err, token);
    run_free(&r);
    assert_int_equal(devsrv_event_count(f->srv), 1);
    assert_event(f->srv, 0, "pk-user", "page_viewed", "{\"path\":\"/home\"}", NULL);

    /* A signature for someone else: the mint is refused, an auth failure. */
    const char *forged[] = {"SEGOPS_USER_ID=other-user", sig_env, ts_env, NULL};
    run_cli(&r, devsrv_url(f->srv), PK_KEY, forged, NULL, "track", "--user", "other-user",
            "--event", "page_viewed", "--retries", "0", "--timeout-ms", "5000", NULL);
    assert_int_equal(r.exit_code, 5);
    assert_messages_well_formed(r.err);
    run_free(&r);
    assert_int_equal(devsrv_event_count(f->srv), 1);
}

/* ---- send --------------------------------------------------------------- */

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
    fixture_t *f = *state;
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
    fixture_t *f = *state;
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
    fixture_t *f = *state;
    run_t r;
    run_cli(&r, devsrv_url(f->srv), WRONG_KEY, NULL, "{\"user_id\":\"u1\",\"event_type\":\"a\"}\n",
            "send", "--timeout-ms", "10000", NULL);
    assert_int_equal(r.exit_code, 5);
    assert_messages_well_formed(r.err);
    assert_contains(r.err, "dropped 1");
    run_free(&r);
    assert_int_equal(devsrv_event_count(f->srv), 0);
}

/* ---- connection flags: --ca-file, --allow-insecure-http, TLS reasons ---- */

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
    fixture_t *f = *state;
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
    fixture_t *f = *state;
    assert_int_equal(devsrv_script_text(f->srv, "400:body={\"error\":\"plan suspended\"}"), 0);
    run_t r;
    run_cli(&r, devsrv_url(f->srv), SK_KEY, NULL, NULL, "track", "-u", "u1", "-e", "e", NULL);
    assert_int_equal(r.exit_code, 4);
    assert_messages_well_formed(r.err);
    assert_contains(r.err, "track: dropped 1 event [rejected]: HTTP error (HTTP 400): ");
    run_free(&r);
    assert_int_equal(devsrv_event_count(f->srv), 0);
}

/* ---- help, version, usage ----------------------------------------------- */

static void test_help_and_version(void **state) {
    (void)state;
    run_t r;
    run_cli(&r, NULL, NULL, NULL, NULL, "--help", NULL);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.out, "Usage: segops COMMAND");
    assert_contains(r.out, "Exit status");
    assert_string_equal(r.err, "");
    run_free(&r);

    const char *commands[] = {"track", "send", "sign", "verify"};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char expected[64];
        snprintf(expected, sizeof expected, "Usage: segops %s", commands[i]);
        run_cli(&r, NULL, NULL, NULL, NULL, commands[i], "--help", NULL);
        assert_int_equal(r.exit_code, 0);
        assert_contains(r.out, expected);
        assert_string_equal(r.err, "");
        run_free(&r);
        run_cli(&r, NULL, NULL, NULL, NULL, commands[i], "-h", NULL);
        assert_int_equal(r.exit_code, 0);
        assert_contains(r.out, expected);
        run_free(&r);
    }

    run_cli(&r, NULL, NULL, NULL, NULL, "--version", NULL);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.out, SEGOPS_VERSION_STRING);
    run_free(&r);
}

/* A usage error: exit 2, nothing on stdout, exactly one message line. */
static void assert_usage_error(const run_t *r) {
    assert_int_equal(r->exit_code, 2);
    assert_string_equal(r->out, "");
    assert_messages_well_formed(r->err);
    const char *nl = strchr(r->err, '\n');
    assert_non_null(nl);
    assert_string_equal(nl + 1, "");
}

static void test_usage_errors(void **state) {
    fixture_t *f = *state;
    const char *url = devsrv_url(f->srv);
    run_t r;

#define EXPECT_USAGE(...)                                                                          \
    do {                                                                                           \
        run_cli(&r, url, SK_KEY, NULL, NULL, __VA_ARGS__, NULL);                                   \
        assert_usage_error(&r);                                                                    \
        run_free(&r);                                                                              \
    } while (0)

    run_cli(&r, url, SK_KEY, NULL, NULL, NULL);
    assert_usage_error(&r);
    run_free(&r);

    EXPECT_USAGE("bogus");
    EXPECT_USAGE("--frobnicate");
    EXPECT_USAGE("track", "--event", "x");
    EXPECT_USAGE("track", "--user", "u1");
    EXPECT_USAGE("track", "--user");
    EXPECT_USAGE("track", "--user", "u1", "--event", "e", "--frobnicate");
    EXPECT_USAGE("track", "--user", "u1", "--event", "e", "stray");
    EXPECT_USAGE("send", "a.ndjson", "b.ndjson");
    EXPECT_USAGE("sign");
    EXPECT_USAGE("verify", "--user", "u1");
    EXPECT_USAGE("verify", "--user", "u1", "--sig", "00");
#undef EXPECT_USAGE

    /* A required setting missing from the environment is a usage error too. */
    run_cli(&r, NULL, SK_KEY, NULL, NULL, "track", "--user", "u1", "--event", "e", NULL);
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.err, "SEGOPS_API_URL");
    run_free(&r);
    run_cli(&r, url, NULL, NULL, NULL, "track", "--user", "u1", "--event", "e", NULL);
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.err, "SEGOPS_API_KEY");
    run_free(&r);

    /* An unreadable input file is an input error. */
    run_cli(&r, url, SK_KEY, NULL, NULL, "send", "/nonexistent/segops-cli-test.ndjson", NULL);
    assert_int_equal(r.exit_code, 3);
    assert_messages_well_formed(r.err);
    run_free(&r);

    assert_int_equal(devsrv_event_count(f->srv), 0);
}

/* ---- sign / verify ------------------------------------------------------ */

static void test_sign_matches_library(void **state) {
    (void)state;
    segops_signed_user_t su;
    assert_int_equal(segops_sign_user_id(HMAC_SECRET, "u-42", 1700000000, &su), SEGOPS_OK);
    char json[256];
    assert_int_equal(segops_signed_user_json("u-42", &su, json, sizeof json, NULL), SEGOPS_OK);
    char expected[300];
    snprintf(expected, sizeof expected, "%s\n", json);

    run_t r;
    run_cli(&r, NULL, NULL, NULL, NULL, "sign", "--user", "u-42", "--ts", "1700000000", NULL);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out, expected);
    assert_string_equal(r.err, "");
    run_free(&r);

    run_cli(&r, NULL, NULL, NULL, NULL, "sign", "--user", "u-42", "--ts", "abc", NULL);
    assert_int_equal(r.exit_code, 3);
    assert_messages_well_formed(r.err);
    run_free(&r);
}

static void test_verify_ok_and_bad(void **state) {
    (void)state;
    segops_signed_user_t su;
    assert_int_equal(segops_sign_user_id(HMAC_SECRET, "u-42", 0, &su), SEGOPS_OK);
    char ts[32];
    snprintf(ts, sizeof ts, "%" PRId64, su.user_id_ts);

    run_t r;
    run_cli(&r, NULL, NULL, NULL, NULL, "verify", "--user", "u-42", "--sig", su.user_id_sig, "--ts",
            ts, NULL);
    assert_int_equal(r.exit_code, 0);
    run_free(&r);

    char bad[65];
    memcpy(bad, su.user_id_sig, sizeof bad);
    bad[63] = bad[63] == '0' ? '1' : '0';
    run_cli(&r, NULL, NULL, NULL, NULL, "verify", "--user", "u-42", "--sig", bad, "--ts", ts, NULL);
    assert_int_equal(r.exit_code, 5);
    assert_messages_well_formed(r.err);
    run_free(&r);

    run_cli(&r, NULL, NULL, NULL, NULL, "verify", "--user", "someone-else", "--sig", su.user_id_sig,
            "--ts", ts, NULL);
    assert_int_equal(r.exit_code, 5);
    run_free(&r);

    /* A valid signature from 2023 is outside the default window, inside a wide one. */
    segops_signed_user_t old;
    assert_int_equal(segops_sign_user_id(HMAC_SECRET, "u-42", 1700000000, &old), SEGOPS_OK);
    run_cli(&r, NULL, NULL, NULL, NULL, "verify", "--user", "u-42", "--sig", old.user_id_sig,
            "--ts", "1700000000", NULL);
    assert_int_equal(r.exit_code, 5);
    run_free(&r);
    run_cli(&r, NULL, NULL, NULL, NULL, "verify", "--user", "u-42", "--sig", old.user_id_sig,
            "--ts", "1700000000", "--tolerance", "2000000000", NULL);
    assert_int_equal(r.exit_code, 0);
    run_free(&r);

    run_cli(&r, NULL, NULL, NULL, NULL, "verify", "--user", "u-42", "--sig", "xyz", "--ts", ts,
            NULL);
    assert_int_equal(r.exit_code, 3);
    assert_messages_well_formed(r.err);
    run_free(&r);
}

int main(void) {
    /* A child that dies early must not kill the test through a broken pipe. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_track_delivers_one_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_track_url_flag_overrides_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_track_wrong_key_is_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_track_server_down_is_network, setup, teardown),
        cmocka_unit_test_setup_teardown(test_track_bad_values_are_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_track_pk_key_with_signed_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_file_reports_malformed_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_stdin_delivers_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_server_down_is_network, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_wrong_key_is_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_file_and_tls_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allow_insecure_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_track_reports_http_status_and_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_help_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_matches_library, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_ok_and_bad, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
