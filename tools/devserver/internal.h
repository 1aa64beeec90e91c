/* The dev server's state, assembled from its modules' parts (private to
 * tools/devserver). One mutex (mu) guards every mutable field below it; a
 * second one (ctl_mu) only serialises starting and stopping the daemon, which
 * must happen without mu held because stopping joins handler threads that need
 * mu. Functions named *_locked expect mu held. */
#ifndef DEVSRV_INTERNAL_H
#define DEVSRV_INTERNAL_H

#include "devserver.h"

#include <pthread.h>

#include "auth.h"
#include "plan.h"
#include "reqlog.h"
#include "script.h"
#include "store.h"

struct MHD_Daemon;

struct devsrv {
    /* Set by devsrv_start, read-only afterwards. */
    devsrv__keys_t keys;
    uint32_t token_ttl_s;
    size_t max_body;
    char *skip_type;
    bool log_requests;
    char *tls_cert; /* PEM text */
    char *tls_key;
    uint16_t port;
    char url[48];

    pthread_mutex_t ctl_mu;
    struct MHD_Daemon *daemon; /* ctl_mu */

    pthread_mutex_t mu;
    pthread_cond_t cond; /* events recorded, or active/epoch changed */
    bool active;         /* false while paused or stopping */
    uint64_t epoch;      /* bumped by every pause/stop: waiting handlers give up */
    uint32_t answer_delay_ms;
    devsrv_expires_style_t expires_style;
    int mint_fail_status;
    uint32_t mint_fail_count;       /* session requests still to answer mint_fail_status */
    char mint_fail_retry_after[64]; /* Retry-After on those answers, "" = none */
    char *last_mint_body;
    devsrv__faults_t faults;
    devsrv__tokens_t tokens;
    devsrv__plan_t plan;
    devsrv__reqlog_t reqlog;
    devsrv__store_t store; /* keep/record are read-only; the events are guarded */
    devsrv_stats_t stats;
    devsrv_last_headers_t headers;
};

/* One stderr line when log_requests is set (never keys or tokens). */
void devsrv__log(const devsrv_t *srv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Waits ms (< 0: indefinitely). True when the time passed; false when the server
 * paused or stopped meanwhile (its epoch moved on) or, with fd >= 0, the client
 * hung up. */
bool devsrv__wait_running(devsrv_t *srv, uint64_t epoch, int64_t ms, int fd);

/* Counts an answer about to be sent (401/403 and 429 counters). Takes the lock. */
void devsrv__stats_count_answer(devsrv_t *srv, unsigned status);

/* MHD daemon on 127.0.0.1:port serving srv, or NULL (http.c). */
struct MHD_Daemon *devsrv__http_start(devsrv_t *srv, uint16_t port);
/* The port a started daemon is bound to, 0 if unknown. */
uint16_t devsrv__http_bound_port(struct MHD_Daemon *d);
/* Closes the listener and every connection, and joins the handler threads. */
void devsrv__http_stop(struct MHD_Daemon *d);
/* Whether this libmicrohttpd can serve HTTPS. */
bool devsrv__http_has_tls(void);

#endif
