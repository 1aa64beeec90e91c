/* Transport security end to end: HTTPS against the local server with throwaway
 * certificates, the plain-http rule, and proxies (the option and the
 * environment) through a tiny forwarding proxy run by the test. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "testutil.h"

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

#include "tlsutil.h"

static tls_fixture_t tls;
static bool have_tls;

static int group_setup(void **state) {
    (void)state;
    /* The proxy tests decide the environment themselves. */
    static const char *const vars[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                       "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
    have_tls = tls_openssl_available() && tls_fixture_create(&tls) == 0;
    if (!have_tls) fprintf(stderr, "test_tls: no openssl tool: TLS tests are skipped\n");
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    if (have_tls) tls_fixture_destroy(&tls);
    return 0;
}

#define REQUIRE_TLS()                                                                              \
    do {                                                                                           \
        require_or_skip(have_tls, "no openssl tool to make certificates", SKIP_INSTALLABLE);       \
    } while (0)

static devsrv_t *start_https(const char *cert, const char *key) {
    devsrv_config_t cfg = {0};
    cfg.tls_cert_file = cert;
    cfg.tls_key_file = key;
    devsrv_t *srv = start_server(&cfg);
    assert_true(strncmp(devsrv_url(srv), "https://127.0.0.1:", 18) == 0);
    return srv;
}

static segops_get_user_fn no_user; /* NULL: only pk_ clients set one */

static segops_err_t get_user(segops_user_t *user, void *userdata) {
    (void)userdata;
    return segops_user_set_id(user, "tls-user");
}

typedef struct client_spec {
    const char *url; /* NULL: the server's own URL */
    const char *key; /* NULL: TEST_SK */
    const char *ca_file;
    const char *ca_path;
    const char *proxy;
} client_spec_t;

/* A client that sends only when flushed and retries quickly (a retry loop
 * would show up as requests, not as time). */
static segops_client_t *new_client(devsrv_t *srv, recorder_t *rec, const client_spec_t *spec) {
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

static void track_n(segops_client_t *client, int n) {
    for (int i = 0; i < n; i++)
        assert_int_equal(segops_track(client, "u-tls", "tls_checked", "{\"i\":1}"), SEGOPS_OK);
}

/* Sends n events and expects every one delivered, with no report. */
static void expect_delivered(devsrv_t *srv, const client_spec_t *spec, int n) {
    recorder_t rec;
    recorder_init(&rec);
    segops_client_t *client = new_client(srv, &rec, spec);
    uint64_t before = devsrv_event_count(srv);
    track_n(client, n);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    segops_stats_t st = stats_of(client);
    if (rec.reports) fail_msg("unexpected report: %s", rec.messages[0]);
    assert_int_equal(st.delivered, n);
    assert_int_equal(devsrv_event_count(srv), before + (uint64_t)n);
    assert_conservation(client);
    segops_client_free(client);
    recorder_destroy(&rec);
}

/* Sends n events and expects them dropped as one SEGOPS_E_TLS report: no
 * retries, nothing reaching the server, and the same again on a second batch. */
static void expect_tls_refused(devsrv_t *srv, const client_spec_t *spec, int n) {
    recorder_t rec;
    recorder_init(&rec);
    segops_client_t *client = new_client(srv, &rec, spec);
    devsrv_stats_t ss_before;
    devsrv_get_stats(srv, &ss_before);
    for (int round = 1; round <= 2; round++) {
        track_n(client, n);
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

/* ---- certificates ---- */

static void test_unknown_ca_is_refused(void **state) {
    (void)state;
    REQUIRE_TLS();
    devsrv_t *srv = start_https(tls.server_cert, tls.server_key);
    expect_tls_refused(srv, &(client_spec_t){0}, 3);
    expect_tls_refused(srv, &(client_spec_t){.key = TEST_PK}, 2);
    devsrv_stop(srv);
}

static void test_ca_file_delivers(void **state) {
    (void)state;
    REQUIRE_TLS();
    devsrv_t *srv = start_https(tls.server_cert, tls.server_key);
    expect_delivered(srv, &(client_spec_t){.ca_file = tls.ca_file}, 5);
    expect_delivered(srv, &(client_spec_t){.ca_file = tls.ca_file, .key = TEST_PK}, 2);
    devsrv_stats_t ss;
    devsrv_get_stats(srv, &ss);
    assert_int_equal(ss.mints, 1); /* the pk_ handshake went over TLS too */
    /* The certificate names localhost as well. */
    char url[64];
    snprintf(url, sizeof url, "https://localhost:%u", (unsigned)devsrv_port(srv));
    expect_delivered(srv, &(client_spec_t){.ca_file = tls.ca_file, .url = url}, 1);
    devsrv_stop(srv);
}

static void test_ca_path_delivers(void **state) {
    (void)state;
    REQUIRE_TLS();
    devsrv_t *srv = start_https(tls.server_cert, tls.server_key);
    expect_delivered(srv, &(client_spec_t){.ca_path = tls.ca_dir}, 4);
    devsrv_stop(srv);
}

static void test_certificate_for_another_host_is_refused(void **state) {
    (void)state;
    REQUIRE_TLS();
    devsrv_t *srv = start_https(tls.other_cert, tls.other_key);
    /* Trusted CA, wrong name: by IP and by host name. */
    expect_tls_refused(srv, &(client_spec_t){.ca_file = tls.ca_file}, 2);
    char url[64];
    snprintf(url, sizeof url, "https://localhost:%u", (unsigned)devsrv_port(srv));
    expect_tls_refused(srv, &(client_spec_t){.ca_file = tls.ca_file, .url = url}, 1);
    expect_tls_refused(srv, &(client_spec_t){.ca_path = tls.ca_dir, .key = TEST_PK}, 1);
    devsrv_stop(srv);
}

static void test_plain_http_to_tls_server_delivers_nothing(void **state) {
    (void)state;
    REQUIRE_TLS();
    devsrv_t *srv = start_https(tls.server_cert, tls.server_key);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)devsrv_port(srv));
    recorder_t rec;
    recorder_init(&rec);
    segops_client_t *client = new_client(srv, &rec, &(client_spec_t){.url = url});
    track_n(client, 1);
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

/* ---- the plain-http rule ---- */

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

/* ---- a forwarding HTTP proxy ---- */

typedef struct proxy {
    int listen_fd;
    uint16_t port;
    char url[64];
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;
    unsigned requests; /* requests forwarded to the origin */
    unsigned failures; /* requests it could not parse or forward */
    char last_target[256];
} proxy_t;

static bool send_all(int fd, const char *data, size_t len) {
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

static void set_timeouts(int fd) {
    struct timeval tv = {10, 0}; /* a stuck peer ends the connection, not the test */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int connect_ipv4(const char *host, uint16_t port) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    set_timeouts(fd);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One request in absolute form ("POST http://host:port/path HTTP/1.1"): sent
 * on to the origin in origin form with "Connection: close", and the whole answer
 * relayed back. Returns false when the request made no sense. */
static bool proxy_one(proxy_t *p, int client) {
    static char req[256 * 1024];
    size_t len = 0;
    char *head_end = NULL;
    req[0] = '\0';
    while (!(head_end = strstr(req, "\r\n\r\n"))) {
        if (len == sizeof req - 1) return false;
        ssize_t n = recv(client, req + len, sizeof req - 1 - len, 0);
        if (n <= 0) return false;
        len += (size_t)n;
        req[len] = '\0';
    }
    size_t head_len = (size_t)(head_end - req) + 4;
    char method[16], target[256], version[16];
    if (sscanf(req, "%15s %255s %15s", method, target, version) != 3) return false;
    char host[64];
    unsigned port = 80;
    int path_at = 0;
    if (sscanf(target, "http://%63[^:/]:%u%n", host, &port, &path_at) < 2 || target[path_at] != '/')
        return false;
    size_t body_len = 0;
    const char *cl = strcasestr(req, "\r\nContent-Length:");
    if (cl && cl < head_end) body_len = strtoul(cl + 17, NULL, 10);
    if (head_len + body_len > sizeof req - 1) return false;
    while (len < head_len + body_len) {
        ssize_t n = recv(client, req + len, head_len + body_len - len, 0);
        if (n <= 0) return false;
        len += (size_t)n;
    }

    static char out[256 * 1024 + 512];
    int o = snprintf(out, sizeof out, "%s %s %s\r\n", method, target + path_at, version);
    /* Copy the header lines, minus the hop-by-hop ones this proxy replaces. */
    for (char *line = strstr(req, "\r\n") + 2; line < head_end;) {
        char *eol = strstr(line, "\r\n");
        size_t n = (size_t)(eol - line) + 2;
        if (strncasecmp(line, "Proxy-Connection:", 17) != 0 &&
            strncasecmp(line, "Connection:", 11) != 0) {
            memcpy(out + o, line, n);
            o += (int)n;
        }
        line = eol + 2;
    }
    o += snprintf(out + o, sizeof out - (size_t)o, "Connection: close\r\n\r\n");
    memcpy(out + o, req + head_len, body_len);
    o += (int)body_len;

    int origin = connect_ipv4(host, (uint16_t)port);
    if (origin < 0) return false;
    bool ok = send_all(origin, out, (size_t)o);
    /* Counted before the answer is relayed: the client may look right after it. */
    pthread_mutex_lock(&p->lock);
    p->requests += ok;
    snprintf(p->last_target, sizeof p->last_target, "%s", target);
    pthread_mutex_unlock(&p->lock);
    char buf[16384];
    ssize_t n;
    while (ok && (n = recv(origin, buf, sizeof buf, 0)) > 0) ok = send_all(client, buf, (size_t)n);
    close(origin);
    return ok;
}

static void *proxy_main(void *arg) {
    proxy_t *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd pfd = {p->listen_fd, POLLIN, 0};
        if (poll(&pfd, 1, 50) <= 0) continue;
        int client = accept(p->listen_fd, NULL, NULL);
        if (client < 0) continue;
        set_timeouts(client);
        if (!proxy_one(p, client)) {
            static const char bad[] = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                                      "Connection: close\r\n\r\n";
            send_all(client, bad, sizeof bad - 1);
            pthread_mutex_lock(&p->lock);
            p->failures++;
            pthread_mutex_unlock(&p->lock);
        }
        close(client); /* one request per connection: the answer said "close" */
    }
    return NULL;
}

static void proxy_start(proxy_t *p) {
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    atomic_init(&p->stop, false);
    p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(p->listen_fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(p->listen_fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(p->listen_fd, 16), 0);
    socklen_t alen = sizeof addr;
    assert_int_equal(getsockname(p->listen_fd, (struct sockaddr *)&addr, &alen), 0);
    p->port = ntohs(addr.sin_port);
    snprintf(p->url, sizeof p->url, "http://127.0.0.1:%u", (unsigned)p->port);
    assert_int_equal(pthread_create(&p->thread, NULL, proxy_main, p), 0);
}

static void proxy_counts(proxy_t *p, unsigned *requests, unsigned *failures) {
    pthread_mutex_lock(&p->lock);
    *requests = p->requests;
    *failures = p->failures;
    pthread_mutex_unlock(&p->lock);
}

static void proxy_stop(proxy_t *p) {
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    pthread_mutex_destroy(&p->lock);
}

/* Delivers n events with spec and returns how many requests the proxy forwarded. */
static unsigned deliver_counting(devsrv_t *srv, proxy_t *proxy, const client_spec_t *spec, int n) {
    unsigned before, after, failures;
    proxy_counts(proxy, &before, &failures);
    expect_delivered(srv, spec, n);
    proxy_counts(proxy, &after, &failures);
    assert_int_equal(failures, 0);
    return after - before;
}

static void test_proxy_option_is_used(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    proxy_t proxy;
    proxy_start(&proxy);
    devsrv_stats_t ss;

    /* sk_: every batch request went through the proxy, to the server's URL. */
    assert_int_equal(deliver_counting(srv, &proxy, &(client_spec_t){.proxy = proxy.url}, 3), 1);
    char expect[128];
    snprintf(expect, sizeof expect, "%s/api/ingestion/track/batch/", devsrv_url(srv));
    pthread_mutex_lock(&proxy.lock);
    char target[256];
    snprintf(target, sizeof target, "%s", proxy.last_target);
    pthread_mutex_unlock(&proxy.lock);
    assert_string_equal(target, expect);
    devsrv_get_stats(srv, &ss);
    assert_int_equal(ss.batch_requests, 1);

    /* pk_: the handshake and the batch both. */
    assert_int_equal(
        deliver_counting(srv, &proxy, &(client_spec_t){.proxy = proxy.url, .key = TEST_PK}, 2), 2);
    devsrv_get_stats(srv, &ss);
    assert_int_equal(ss.mint_requests, 1);

    /* The option wins over the environment. */
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    assert_int_equal(deliver_counting(srv, &proxy, &(client_spec_t){.proxy = proxy.url}, 1), 1);
    unsetenv("http_proxy");

    /* Without the proxy option the proxy sees nothing. */
    assert_int_equal(deliver_counting(srv, &proxy, &(client_spec_t){0}, 1), 0);
    proxy_stop(&proxy);

    /* A proxy that is not there: nothing is delivered, the events are dropped. */
    recorder_t rec;
    recorder_init(&rec);
    segops_client_t *client =
        new_client(srv, &rec, &(client_spec_t){.proxy = "http://127.0.0.1:1"});
    devsrv_get_stats(srv, &ss);
    uint64_t requests_before = ss.batch_requests;
    track_n(client, 2);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    assert_int_equal(rec.reports, 1);
    assert_int_equal(rec.info[0].code, SEGOPS_E_NETWORK);
    assert_int_equal(rec.info[0].reason, SEGOPS_DROP_RETRIES_EXHAUSTED);
    devsrv_get_stats(srv, &ss);
    assert_int_equal(ss.batch_requests, requests_before);
    segops_client_free(client);
    recorder_destroy(&rec);
    devsrv_stop(srv);
}

static void test_proxy_environment_as_libcurl(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    proxy_t proxy;
    proxy_start(&proxy);

    /* http_proxy applies when the option is unset. */
    assert_int_equal(setenv("http_proxy", proxy.url, 1), 0);
    assert_int_equal(deliver_counting(srv, &proxy, &(client_spec_t){0}, 2), 1);
    assert_int_equal(deliver_counting(srv, &proxy, &(client_spec_t){.key = TEST_PK}, 1), 2);

    /* NO_PROXY (either case) sends the traffic direct. */
    assert_int_equal(setenv("NO_PROXY", "127.0.0.1", 1), 0);
    assert_int_equal(deliver_counting(srv, &proxy, &(client_spec_t){0}, 2), 0);
    unsetenv("NO_PROXY");
    assert_int_equal(setenv("no_proxy", "localhost,127.0.0.1", 1), 0);
    assert_int_equal(deliver_counting(srv, &proxy, &(client_spec_t){0}, 1), 0);
    unsetenv("no_proxy");

    /* A NO_PROXY naming another host leaves the proxy in use. */
    assert_int_equal(setenv("NO_PROXY", "other.example", 1), 0);
    assert_int_equal(deliver_counting(srv, &proxy, &(client_spec_t){0}, 1), 1);
    unsetenv("NO_PROXY");
    unsetenv("http_proxy");

    devsrv_stats_t ss;
    devsrv_get_stats(srv, &ss);
    assert_int_equal(ss.events_received, 7);
    proxy_stop(&proxy);
    devsrv_stop(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_ca_is_refused),
        cmocka_unit_test(test_ca_file_delivers),
        cmocka_unit_test(test_ca_path_delivers),
        cmocka_unit_test(test_certificate_for_another_host_is_refused),
        cmocka_unit_test(test_plain_http_to_tls_server_delivers_nothing),
        cmocka_unit_test(test_plain_http_only_to_loopback),
        cmocka_unit_test(test_proxy_option_is_used),
        cmocka_unit_test(test_proxy_environment_as_libcurl),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
