/* The HTTP glue: libmicrohttpd's daemon, reading request bodies, routing to
 * the endpoint handlers and sending their answers. The only file that includes
 * microhttpd.h. libmicrohttpd runs one thread per connection, so a scripted
 * delay or silence blocks only its own connection. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "handlers.h"
#include "internal.h"
#include "util.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SMALL_BODY_MAX ((size_t)1024 * 1024) /* mint and /_dev bodies */
#define IDLE_TIMEOUT_S 120u                  /* frees threads of idle keep-alive connections */

/* Per-request state, owned by libmicrohttpd's con_cls slot. */
struct req {
    devsrv__route_t route;
    char *body;
    size_t len, cap;
    size_t limit;
    uint64_t total; /* bytes the client sent, including what was discarded */
    bool too_large;
    uint64_t epoch;
};

void devsrv__answer_detail(devsrv__answer_t *a, unsigned status, const char *detail) {
    free(a->body);
    a->body = NULL;
    a->status = status;
    a->detail = detail;
}

bool devsrv__answer_retry_after(devsrv__answer_t *a, const char *value) {
    free(a->retry_after);
    a->retry_after = NULL;
    return !value || !*value || (a->retry_after = devsrv__dupstr(value));
}

static devsrv__route_t route_of(const char *method, const char *url) {
    static const struct {
        const char *path, *method;
        devsrv__route_t route;
    } table[] = {
        {"/api/ingestion/track/batch/", "POST", DEVSRV__R_BATCH},
        {"/api/auth/session/", "POST", DEVSRV__R_SESSION},
        {"/_dev/stats", "GET", DEVSRV__R_STATS},
        {"/_dev/script", "POST", DEVSRV__R_SCRIPT},
        {"/_dev/revoke", "POST", DEVSRV__R_REVOKE},
        {"/_dev/requests", "GET", DEVSRV__R_REQUESTS},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(url, table[i].path) == 0)
            return strcmp(method, table[i].method) == 0 ? table[i].route : DEVSRV__R_BAD_METHOD;
    return DEVSRV__R_NOT_FOUND;
}

struct cut_body {
    char *data;
    size_t limit;
};

/* Serves the first half of the body, then fails so the connection closes short. */
static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    struct cut_body *cb = cls;
    if (pos >= cb->limit) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = cb->limit - (size_t)pos;
    if (n > max) n = max;
    memcpy(buf, cb->data + pos, n);
    return (ssize_t)n;
}

static void cut_free(void *cls) {
    struct cut_body *cb = cls;
    free(cb->data);
    free(cb);
}

static struct MHD_Response *cut_response(const char *body) {
    struct cut_body *cb = calloc(1, sizeof *cb);
    size_t len = strlen(body);
    if (!cb || !(cb->data = devsrv__dupstr(body))) {
        free(cb);
        return NULL;
    }
    cb->limit = len / 2;
    struct MHD_Response *r = MHD_create_response_from_callback(len, 1024, cut_reader, cb, cut_free);
    if (!r) cut_free(cb);
    return r;
}

/* Sends (and frees) a handler's answer. Error answers carry {"detail": "..."}
 * like the real service; details are fixed text. */
static enum MHD_Result send_answer(devsrv_t *srv, struct MHD_Connection *conn,
                                   devsrv__answer_t *a) {
    enum MHD_Result ret = MHD_NO;
    char detail[256];
    const char *body = a->body;
    if (!body) {
        snprintf(detail, sizeof detail, "{\"detail\":\"%s\"}", a->detail ? a->detail : "");
        body = detail;
    }
    if (a->action != DEVSRV__CLOSE) {
        devsrv__stats_count_answer(srv, a->status);
        struct MHD_Response *r = a->action == DEVSRV__SEND_CUT
                                     ? cut_response(body)
                                     : MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                                       MHD_RESPMEM_MUST_COPY);
        if (r) {
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
            if (a->retry_after)
                MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, a->retry_after);
            if (a->location) MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, a->location);
            ret = MHD_queue_response(conn, a->status, r);
            MHD_destroy_response(r);
        }
    }
    free(a->body);
    free(a->retry_after);
    free(a->location);
    return ret; /* MHD_NO closes the connection without a response */
}

/* Appends upload data to the request body, or discards it past the limit. */
static bool take_upload(struct req *rq, const char *data, size_t n) {
    rq->total += n;
    if (rq->too_large || rq->len + n > rq->limit) {
        /* Keep reading (and discarding) so the 413 reaches the client. */
        rq->too_large = true;
        free(rq->body);
        rq->body = NULL;
        rq->len = rq->cap = 0;
        return true;
    }
    if (rq->len + n + 1 > rq->cap) {
        size_t cap = rq->cap ? rq->cap : 4096;
        while (cap < rq->len + n + 1) cap *= 2;
        char *b = realloc(rq->body, cap);
        if (!b) return false;
        rq->body = b;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    rq->body[rq->len] = '\0';
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    devsrv_t *srv = cls;
    struct req *rq = *con_cls;
    (void)version;

    if (!rq) { /* headers only: set up, then let MHD read the body */
        pthread_mutex_lock(&srv->mu);
        bool active = srv->active;
        uint64_t epoch = srv->epoch;
        pthread_mutex_unlock(&srv->mu);
        if (!active || !(rq = calloc(1, sizeof *rq))) return MHD_NO;
        rq->route = route_of(method, url);
        rq->limit = rq->route == DEVSRV__R_BATCH ? srv->max_body : SMALL_BODY_MAX;
        rq->epoch = epoch;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return take_upload(rq, upload_data, n) ? MHD_YES : MHD_NO;
    }

    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    devsrv__request_t in = {
        .body = rq->body ? rq->body : "",
        .len = rq->len,
        .too_large = rq->too_large,
        .total = rq->total,
        .epoch = rq->epoch,
        .fd = ci ? ci->connect_fd : -1,
        .authorization =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        .user_agent =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT),
        .content_type =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
    };
    devsrv__answer_t a = {0};
    switch (rq->route) {
    case DEVSRV__R_BATCH: devsrv__batch_handle(srv, &in, &a); break;
    case DEVSRV__R_SESSION: devsrv__session_handle(srv, &in, &a); break;
    default: devsrv__dev_api_handle(srv, rq->route, &in, &a); break;
    }
    return send_answer(srv, conn, &a);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    struct req *rq = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (rq) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

/* libmicrohttpd's own diagnostics are mostly client disconnects: noise in tests. */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    const devsrv_t *srv = cls;
    if (!srv->log_requests) return;
    fputs("devsrv: mhd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

struct MHD_Daemon *devsrv__http_start(devsrv_t *srv, uint16_t port) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned int flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
    if (srv->tls_cert) {
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert};
    }
    /* The logger must come first or MHD uses its own for the options before it. */
    return MHD_start_daemon(
        flags, port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        srv, MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
}

uint16_t devsrv__http_bound_port(struct MHD_Daemon *d) {
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : 0;
}

void devsrv__http_stop(struct MHD_Daemon *d) {
    if (d) MHD_stop_daemon(d);
}

bool devsrv__http_has_tls(void) { return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES; }
