/* Proxies, the option and the environment as libcurl reads it, through a tiny forwarding proxy run
 * by the test. */
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
        tls_test_client(srv, &rec, &(client_spec_t){.proxy = "http://127.0.0.1:1"});
    devsrv_get_stats(srv, &ss);
    uint64_t requests_before = ss.batch_requests;
    track_tls_events(client, 2);
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
        cmocka_unit_test(test_proxy_option_is_used),
        cmocka_unit_test(test_proxy_environment_as_libcurl),
    };
    return cmocka_run_group_tests(tests, tls_group_setup, tls_group_teardown);
}
