/*
 * devserver — a local SegOps server (see devserver.h and ../shared/PROTOCOL.md).
 * This file assembles it: start (copying the configuration), pause, resume,
 * stop, and the waits that pause and stop cut short. The parts:
 *   http.c                the libmicrohttpd glue: bodies, routing, answers
 *   batch.c, batch_scan.c the batch endpoint and its one-pass body validator
 *   session.c             the pk_ handshake (session endpoint)
 *   dev_api.c             the /_dev routes
 *   auth.c                keys, session tokens, Authorization checks
 *   script.c              scripted faults and their parser
 *   plan.c                the plan limit and the burst limiter
 *   reqlog.c              the request log and the rolling-window count
 *   store.c               kept events and the NDJSON record
 *   stats.c               counters
 *   json_span.c, util.c   small helpers
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "internal.h"
#include "util.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY ((size_t)5 * 1024 * 1024)
#define DEFAULT_TOKEN_TTL_S 900
#define WAIT_SLICE_MS 50
#define TLS_FILE_MAX ((size_t)1024 * 1024)

void devsrv__log(const devsrv_t *srv, const char *fmt, ...) {
    if (!srv->log_requests) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "devsrv: %s\n", line);
}

static bool peer_closed(int fd) {
    struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

bool devsrv__wait_running(devsrv_t *srv, uint64_t epoch, int64_t ms, int fd) {
    int64_t deadline = ms < 0 ? INT64_MAX : devsrv__clock_ms(CLOCK_MONOTONIC) + ms;
    bool ok = true;
    pthread_mutex_lock(&srv->mu);
    for (;;) {
        if (!srv->active || srv->epoch != epoch) {
            ok = false;
            break;
        }
        int64_t now = devsrv__clock_ms(CLOCK_MONOTONIC);
        if (now >= deadline) break;
        struct timespec ts =
            devsrv__deadline_in(deadline - now < WAIT_SLICE_MS ? deadline - now : WAIT_SLICE_MS);
        pthread_cond_timedwait(&srv->cond, &srv->mu, &ts);
        /* A client that gave up would otherwise pin this thread until stop. */
        if (fd >= 0 && peer_closed(fd)) {
            ok = false;
            break;
        }
    }
    pthread_mutex_unlock(&srv->mu);
    return ok;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(TLS_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, TLS_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n > TLS_FILE_MAX) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static void free_server(devsrv_t *srv) {
    devsrv__keys_free(&srv->keys);
    free(srv->skip_type);
    free(srv->tls_cert);
    free(srv->tls_key);
    devsrv__store_close(&srv->store);
    devsrv__faults_free(&srv->faults);
    devsrv__tokens_free(&srv->tokens);
    devsrv__plan_free(&srv->plan);
    devsrv__reqlog_free(&srv->reqlog);
    free(srv->last_mint_body);
    pthread_cond_destroy(&srv->cond);
    pthread_mutex_destroy(&srv->mu);
    pthread_mutex_destroy(&srv->ctl_mu);
    free(srv);
}

static int start_fail(devsrv_t *srv, const char *why) {
    fprintf(stderr, "devsrv: cannot start: %s\n", why);
    free_server(srv);
    return -1;
}

/* Copies what the configuration says into srv. NULL, or why it cannot. */
static const char *configure(devsrv_t *srv, const devsrv_config_t *cfg) {
    srv->token_ttl_s = cfg->token_lifetime_s ? cfg->token_lifetime_s : DEFAULT_TOKEN_TTL_S;
    srv->max_body = cfg->max_body_bytes ? cfg->max_body_bytes : DEFAULT_MAX_BODY;
    srv->log_requests = cfg->log_requests;
    srv->answer_delay_ms = cfg->answer_delay_ms;
    srv->expires_style = cfg->expires_style;
    devsrv__plan_set_limit(&srv->plan, cfg->plan_calls_per_window, cfg->plan_window_ms);
    devsrv__plan_set_refuse_every(&srv->plan, cfg->refuse_every);
    srv->plan.ignores_mints = cfg->plan_ignores_mints;
    srv->plan.counts_refused = cfg->plan_counts_refused;

    const char *why = devsrv__keys_copy(&srv->keys, cfg);
    if (why) return why;
    if (cfg->skip_event_type && !(srv->skip_type = devsrv__dupstr(cfg->skip_event_type)))
        return "out of memory";
    if (cfg->tls_cert_file || cfg->tls_key_file) {
        if (!cfg->tls_cert_file || !cfg->tls_key_file)
            return "TLS needs both tls_cert_file and tls_key_file";
        if (!devsrv__http_has_tls()) return "this libmicrohttpd has no TLS support";
        if (!(srv->tls_cert = read_file(cfg->tls_cert_file))) return "cannot read tls_cert_file";
        if (!(srv->tls_key = read_file(cfg->tls_key_file))) return "cannot read tls_key_file";
    }
    return devsrv__store_open(&srv->store, cfg);
}

int devsrv_start(const devsrv_config_t *cfg, devsrv_t **out) {
    if (!out) return -1;
    *out = NULL;
    if (!cfg) {
        fprintf(stderr, "devsrv: cannot start: no configuration\n");
        return -1;
    }
    devsrv_t *srv = calloc(1, sizeof *srv);
    if (!srv) {
        fprintf(stderr, "devsrv: cannot start: out of memory\n");
        return -1;
    }
    pthread_mutex_init(&srv->mu, NULL);
    pthread_mutex_init(&srv->ctl_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* waits ignore wall-clock jumps */
    pthread_cond_init(&srv->cond, &ca);
    pthread_condattr_destroy(&ca);

    const char *why = configure(srv, cfg);
    if (why) return start_fail(srv, why);

    srv->active = true;
    srv->daemon = devsrv__http_start(srv, cfg->port);
    if (!srv->daemon) return start_fail(srv, "cannot listen on 127.0.0.1 (port in use?)");
    srv->port = devsrv__http_bound_port(srv->daemon);
    if (srv->port == 0) srv->port = cfg->port;
    if (srv->port == 0) {
        devsrv__http_stop(srv->daemon);
        return start_fail(srv, "cannot read the bound port");
    }
    snprintf(srv->url, sizeof srv->url, "%s://127.0.0.1:%u", srv->tls_cert ? "https" : "http",
             (unsigned)srv->port);
    *out = srv;
    return 0;
}

int devsrv_pause(devsrv_t *srv) {
    if (!srv) return -1;
    pthread_mutex_lock(&srv->ctl_mu);
    struct MHD_Daemon *d = srv->daemon;
    srv->daemon = NULL;
    pthread_mutex_lock(&srv->mu);
    srv->active = false;
    srv->epoch++;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->mu);
    devsrv__http_stop(d); /* closes the listener and every connection, joins handlers */
    pthread_mutex_unlock(&srv->ctl_mu);
    return 0;
}

int devsrv_resume(devsrv_t *srv) {
    if (!srv) return -1;
    int rc = 0;
    pthread_mutex_lock(&srv->ctl_mu);
    if (!srv->daemon) {
        pthread_mutex_lock(&srv->mu);
        srv->active = true;
        pthread_mutex_unlock(&srv->mu);
        /* The port can stay busy for a moment (a client socket may hold it). */
        for (int attempt = 0; attempt < 40 && !srv->daemon; attempt++) {
            if (attempt > 0) usleep(50 * 1000);
            srv->daemon = devsrv__http_start(srv, srv->port);
        }
        if (!srv->daemon) {
            pthread_mutex_lock(&srv->mu);
            srv->active = false;
            pthread_mutex_unlock(&srv->mu);
            fprintf(stderr, "devsrv: cannot listen again on port %u\n", (unsigned)srv->port);
            rc = -1;
        }
    }
    pthread_mutex_unlock(&srv->ctl_mu);
    return rc;
}

void devsrv_stop(devsrv_t *srv) {
    if (!srv) return;
    devsrv_pause(srv);
    free_server(srv);
}

uint16_t devsrv_port(const devsrv_t *srv) { return srv ? srv->port : 0; }

const char *devsrv_url(const devsrv_t *srv) { return srv ? srv->url : ""; }

void devsrv_set_answer_delay(devsrv_t *srv, uint32_t ms) {
    if (!srv) return;
    pthread_mutex_lock(&srv->mu);
    srv->answer_delay_ms = ms;
    pthread_mutex_unlock(&srv->mu);
}

void devsrv_set_plan_limit(devsrv_t *srv, uint32_t calls_per_window, uint32_t window_ms) {
    if (!srv) return;
    pthread_mutex_lock(&srv->mu);
    devsrv__plan_set_limit(&srv->plan, calls_per_window, window_ms);
    pthread_mutex_unlock(&srv->mu);
}

void devsrv_set_refuse_every(devsrv_t *srv, uint32_t k) {
    if (!srv) return;
    pthread_mutex_lock(&srv->mu);
    devsrv__plan_set_refuse_every(&srv->plan, k);
    pthread_mutex_unlock(&srv->mu);
}
