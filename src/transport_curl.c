/* The libcurl transport. A multi handle drives a single reused easy handle so
 * that keep-alive connections persist across requests, and so that shutdown can
 * wake a blocked transfer at once (curl_multi_wakeup) instead of waiting for
 * libcurl's once-a-second progress callback. Every descriptor it holds (its
 * connections and the multi's wake-up channel) is recorded, so that a forked
 * child can let go of them without running libcurl. */
#include "transport.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "crypto.h"
#include "fds.h"
#include "fork.h"

#define MAX_RESPONSE_BODY (64 * 1024)
/* Reserved for the answer before a request: batch and session answers fit. */
#define RESPONSE_RESERVE 4096

struct segops__transport {
    CURLM *multi;
    CURL *easy;
    struct curl_slist *fixed_headers; /* Content-Type, Expect */
    uint32_t request_timeout_ms;
    _Atomic int64_t deadline_at;   /* a segops__deadline_t's `at`, set by other threads */
    segops__http_response_t *resp; /* the response being filled */
    char errbuf[CURL_ERROR_SIZE];
    char user_agent[256];
    segops__owned_fds_t fds; /* connection sockets and the multi's wake-up descriptors */
};

static pthread_once_t global_init_once = PTHREAD_ONCE_INIT;
static CURLcode global_init_result = CURLE_FAILED_INIT;

/* Finding a new multi's wake-up channel means scanning the process's descriptors
 * for what curl_multi_init just made. Our own descriptors made or closed
 * meanwhile (another transport's wake-up channel or connection: sync mode makes
 * one transport per concurrent call) would spoil the scan, so discovery and our
 * connections' socket() and close() take one lock. Nothing is taken under it,
 * but it is taken under module locks (the worker makes its transports holding
 * its own), so its fork hook is innermost: prepared after every module's. */
static pthread_mutex_t discovery_lock = PTHREAD_MUTEX_INITIALIZER;
static void discovery_lock_take(void *arg) {
    (void)arg;
    pthread_mutex_lock(&discovery_lock);
}
static void discovery_lock_release(void *arg) {
    (void)arg;
    pthread_mutex_unlock(&discovery_lock);
}
static segops__fork_hook_t discovery_fork_hook = {
    discovery_lock_take, discovery_lock_release, discovery_lock_release, NULL, NULL, NULL};

/* libcurl >= 7.84 makes curl_global_init thread-safe; once per process either way. */
static void global_init(void) {
    global_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
    segops__fork_register_innermost(&discovery_fork_hook);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
    segops__transport_t *t = userp;
    size_t n = size * nmemb;
    segops__buf_t *body = &t->resp->body;
    size_t room = body->len < MAX_RESPONSE_BODY ? MAX_RESPONSE_BODY - body->len : 0;
    /* Out of memory past the reserved room: the answer is cut short. Aborting here
     * would turn an answered request into a network error, and its retry into
     * duplicates on the server. */
    if (room) segops__buf_append(body, data, SEGOPS__MIN(n, room));
    return n; /* the rest of an oversized answer is read and discarded */
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userp) {
    segops__transport_t *t = userp;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0) {
        const char *v = line + sizeof name - 1;
        size_t len = n - (sizeof name - 1);
        while (len && (*v == ' ' || *v == '\t')) v++, len--;
        while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' ')) len--;
        if (len >= sizeof t->resp->retry_after) len = sizeof t->resp->retry_after - 1;
        memcpy(t->resp->retry_after, v, len);
        t->resp->retry_after[len] = '\0';
    } else if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        t->resp->retry_after[0] = '\0'; /* a new status line (after 100 Continue) resets */
    }
    return n;
}

static segops_err_t map_curl_error(CURLcode rc) {
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return SEGOPS_E_TIMEOUT;
    case CURLE_OUT_OF_MEMORY: return SEGOPS_E_NOMEM;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED: return SEGOPS_E_TLS;
    default: return SEGOPS_E_NETWORK;
    }
}

/* Connections are opened and closed here so that the transport knows them. */
static curl_socket_t open_socket(void *userp, curlsocktype purpose, struct curl_sockaddr *address) {
    segops__transport_t *t = userp;
    (void)purpose;
    int type = address->socktype;
#ifdef SOCK_CLOEXEC
    type |= SOCK_CLOEXEC;
#endif
    pthread_mutex_lock(&discovery_lock);
    int fd = socket(address->family, type, address->protocol);
    if (fd >= 0) segops__owned_fds_add(&t->fds, fd);
    pthread_mutex_unlock(&discovery_lock);
    return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/* libcurl may call this after the easy handle is gone (a cached connection
 * closes in curl_multi_cleanup): the transport outlives its multi handle. */
static int close_socket(void *userp, curl_socket_t fd) {
    segops__transport_t *t = userp;
    pthread_mutex_lock(&discovery_lock);
    segops__owned_fds_remove(&t->fds, fd);
    int result = close(fd);
    pthread_mutex_unlock(&discovery_lock);
    return result;
}

/* curl_multi_init makes a wake-up channel for curl_multi_wakeup (a socketpair in
 * libcurl 7.88, a pipe or an eventfd in others) that libcurl neither reports nor
 * passes through the socket callbacks. It is found among the descriptors that
 * appeared during curl_multi_init and recorded only once curl proves it its own:
 * curl_multi_wakeup makes exactly one of them readable, curl_multi_poll drains
 * it, and the rest of the channel has the matching kind. Nothing else is read
 * from or written to. A descriptor someone else (the application, a resolver
 * thread) opened or closed meanwhile fails the proof; the multi is then made
 * again, and after the last try the channel stays unrecorded (a forked child
 * keeps its copy). Called under discovery_lock. */
static bool record_wakeup_channel(segops__transport_t *t, const segops__fd_snapshot_t *before) {
    int fd[3];
    int n = segops__fd_snapshot_new_since(before, fd, 3);
    if (n < 1 || n > 2) return false;
    for (int i = 0; i < n; i++)
        if (segops__fd_readable(fd[i])) return false;
    if (curl_multi_wakeup(t->multi) != CURLM_OK) return false;
    int reader = -1;
    for (int i = 0; i < n; i++) {
        if (!segops__fd_readable(fd[i])) continue;
        if (reader >= 0) return false;
        reader = i;
    }
    if (reader < 0) return false;
    if (curl_multi_poll(t->multi, NULL, 0, 0, NULL) != CURLM_OK || segops__fd_readable(fd[reader]))
        return false;
    if (!segops__fd_one_channel(fd[reader], n == 2 ? fd[1 - reader] : -1)) return false;
    for (int i = 0; i < n; i++) segops__owned_fds_add(&t->fds, fd[i]);
    return true;
}

#define DISCOVERY_TRIES 3

/* curl_multi_init, recording the wake-up channel it makes. */
static segops_err_t multi_init(segops__transport_t *t) {
    pthread_mutex_lock(&discovery_lock);
    segops_err_t err = SEGOPS_OK;
    for (int attempt = 0; attempt < DISCOVERY_TRIES; attempt++) {
        if (t->multi) curl_multi_cleanup(t->multi);
        segops__fd_snapshot_t before;
        err = segops__fd_snapshot_take(&before);
        if (err == SEGOPS_E_NOMEM) break;
        t->multi = curl_multi_init();
        bool recorded = t->multi && err == SEGOPS_OK && record_wakeup_channel(t, &before);
        segops__fd_snapshot_free(&before);
        if (recorded || !t->multi || err != SEGOPS_OK) break;
    }
    pthread_mutex_unlock(&discovery_lock);
    if (err == SEGOPS_E_NOMEM) return err;
    return t->multi ? SEGOPS_OK : SEGOPS_E_NOMEM;
}

#define SETOPT(h, opt, val)                                                                        \
    do {                                                                                           \
        if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK) goto fail;                            \
    } while (0)

segops_err_t segops__transport_init_process(void) {
    pthread_once(&global_init_once, global_init);
    return global_init_result == CURLE_OK ? SEGOPS_OK : SEGOPS_E_INTERNAL;
}

segops_err_t segops__transport_new(const segops_options_t *cfg, segops__transport_t **out) {
    *out = NULL;
    if (segops__transport_init_process() != SEGOPS_OK) return SEGOPS_E_INTERNAL;
    segops__transport_t *t = segops__calloc(1, sizeof *t);
    if (!t) return SEGOPS_E_NOMEM;
    segops_err_t err = SEGOPS_E_NOMEM;
    t->request_timeout_ms = cfg->request_timeout_ms;
    atomic_init(&t->deadline_at, segops__deadline_none().at);
    segops__owned_fds_init(&t->fds);
    snprintf(t->user_agent, sizeof t->user_agent, "segops-c/%s curl/%s%s%s", SEGOPS_VERSION_STRING,
             curl_version_info(CURLVERSION_NOW)->version, cfg->user_agent_suffix ? " " : "",
             cfg->user_agent_suffix ? cfg->user_agent_suffix : "");
    if (multi_init(t) != SEGOPS_OK || !(t->easy = curl_easy_init())) goto fail;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (!h) goto fail;
    t->fixed_headers = h;
    if (!(h = curl_slist_append(t->fixed_headers, "Expect:"))) goto fail; /* no 100-continue wait */
    err = SEGOPS_E_INTERNAL;
    CURL *e = t->easy;
    SETOPT(e, CURLOPT_NOSIGNAL, 1L);
    SETOPT(e, CURLOPT_USERAGENT, t->user_agent);
    SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->connect_timeout_ms);
    SETOPT(e, CURLOPT_TIMEOUT_MS, (long)cfg->request_timeout_ms);
    SETOPT(e, CURLOPT_POST, 1L);
    SETOPT(e, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(e, CURLOPT_WRITEDATA, t);
    SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(e, CURLOPT_HEADERDATA, t);
    SETOPT(e, CURLOPT_ERRORBUFFER, t->errbuf);
    SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect would carry the key elsewhere */
    SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(e, CURLOPT_SSL_VERIFYPEER, 1L); /* always on: there is no option to turn it off */
    SETOPT(e, CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    SETOPT(e, CURLOPT_OPENSOCKETDATA, t);
    SETOPT(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    SETOPT(e, CURLOPT_CLOSESOCKETDATA, t);
    if (cfg->ca_file) SETOPT(e, CURLOPT_CAINFO, cfg->ca_file);
    if (cfg->ca_path) SETOPT(e, CURLOPT_CAPATH, cfg->ca_path);
    if (cfg->proxy) SETOPT(e, CURLOPT_PROXY, cfg->proxy);
    *out = t;
    return SEGOPS_OK;
fail:
    segops__transport_free(t);
    return err;
}

void segops__transport_free(segops__transport_t *t) {
    if (!t) return;
    if (t->easy) curl_easy_cleanup(t->easy);
    if (t->multi) curl_multi_cleanup(t->multi);
    curl_slist_free_all(t->fixed_headers);
    segops__free(t);
}

void segops__transport_abandon_in_child(segops__transport_t *t) {
    if (!t) return;
    segops__owned_fds_close_all(&t->fds);
    /* The curl handles stay allocated: their cleanup could end the parent's TLS
     * session or touch state another thread of the parent left halfway. */
    t->multi = NULL;
    t->easy = NULL;
    curl_slist_free_all(t->fixed_headers); /* plain memory, ours */
    segops__free(t);
}

static segops__deadline_t load_deadline(segops__transport_t *t) {
    return segops__deadline_at(atomic_load(&t->deadline_at));
}

void segops__transport_set_deadline(segops__transport_t *t, segops__deadline_t deadline) {
    atomic_store(&t->deadline_at, deadline.at);
    curl_multi_wakeup(t->multi);
}

/* Frees a header list after wiping the Authorization line it copied. */
static void free_headers(struct curl_slist *auth) {
    if (auth) segops__secure_wipe(auth->data, strlen(auth->data));
    auth->next = NULL; /* the fixed headers that follow are not ours to free */
    curl_slist_free_all(auth);
}

/* Runs the transfer until done or the deadline; returns CURLE_* or -1 when aborted. */
static int run_transfer(segops__transport_t *t) {
    int running = 1;
    while (running) {
        if (curl_multi_perform(t->multi, &running) != CURLM_OK) return CURLE_FAILED_INIT;
        if (!running) break;
        /* Looks again at least every second, and at once when woken by
         * segops__transport_set_deadline. */
        int wait_ms =
            segops__deadline_remaining_ms(load_deadline(t), segops__clock_monotonic_ms(), 1000);
        if (!wait_ms) return -1;
        if (curl_multi_poll(t->multi, NULL, 0, wait_ms, NULL) != CURLM_OK) return CURLE_FAILED_INIT;
    }
    int msgs;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(t->multi, &msgs)))
        if (msg->msg == CURLMSG_DONE) return (int)msg->data.result;
    return CURLE_FAILED_INIT;
}

void segops__transport_post(segops__transport_t *t, const char *url, const char *authorization,
                            const char *body, size_t body_len, segops__http_response_t *resp) {
    resp->err = SEGOPS_OK;
    resp->status = 0;
    resp->new_connections = 0;
    resp->retry_after[0] = '\0';
    resp->detail[0] = '\0';
    segops__buf_clear(&resp->body);
    t->resp = resp;
    t->errbuf[0] = '\0';

    if (segops__deadline_expired(load_deadline(t), segops__clock_monotonic_ms())) {
        resp->err = SEGOPS_E_TIMEOUT;
        snprintf(resp->detail, sizeof resp->detail, "deadline passed before the request");
        return;
    }

    segops__buf_t line = {0};
    struct curl_slist *auth = NULL;
    /* Room for a usual answer is taken before anything is sent (see on_body). */
    if (segops__buf_reserve(&resp->body, RESPONSE_RESERVE) != SEGOPS_OK ||
        segops__buf_append_str(&line, "Authorization: ") != SEGOPS_OK ||
        segops__buf_append_str(&line, authorization) != SEGOPS_OK ||
        !(auth = curl_slist_append(NULL, line.data))) {
        resp->err = SEGOPS_E_NOMEM;
        snprintf(resp->detail, sizeof resp->detail, "out of memory building the request");
        goto out;
    }
    auth->next = t->fixed_headers;
    CURL *e = t->easy;
    long timeout = (long)t->request_timeout_ms;
    if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, auth) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout) != CURLE_OK ||
        curl_multi_add_handle(t->multi, e) != CURLM_OK) {
        resp->err = SEGOPS_E_INTERNAL;
        snprintf(resp->detail, sizeof resp->detail, "could not set up the transfer");
        goto out;
    }
    int rc = run_transfer(t);
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &resp->new_connections);
    curl_multi_remove_handle(t->multi, e);
    if (rc == -1) {
        resp->err = SEGOPS_E_TIMEOUT;
        snprintf(resp->detail, sizeof resp->detail, "request aborted at the deadline");
    } else if (rc != CURLE_OK) {
        resp->err = map_curl_error((CURLcode)rc);
        snprintf(resp->detail, sizeof resp->detail, "%s",
                 t->errbuf[0] ? t->errbuf : curl_easy_strerror((CURLcode)rc));
    } else {
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        resp->status = (int)status;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
out:
    if (auth) free_headers(auth);
    segops__secure_wipe(line.data, line.len);
    segops__buf_free(&line);
    t->resp = NULL;
}
