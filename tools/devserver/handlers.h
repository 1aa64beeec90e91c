/* What an endpoint handler sees of a request and what it answers: the seam
 * between the HTTP glue (http.c, the only file that includes microhttpd.h) and
 * the endpoints (batch.c, session.c, dev_api.c). */
#ifndef DEVSRV_HANDLERS_H
#define DEVSRV_HANDLERS_H

#include "devserver.h"

typedef enum devsrv__route {
    DEVSRV__R_BATCH,
    DEVSRV__R_SESSION,
    DEVSRV__R_STATS,
    DEVSRV__R_SCRIPT,
    DEVSRV__R_REVOKE,
    DEVSRV__R_REQUESTS,
    DEVSRV__R_NOT_FOUND,
    DEVSRV__R_BAD_METHOD
} devsrv__route_t;

typedef struct devsrv__request {
    const char *body; /* NUL-terminated; "" when none or too large */
    size_t len;       /* bytes received (strlen(body) differs when the body holds a NUL) */
    bool too_large;   /* over the route's limit: the body was discarded */
    uint64_t total;   /* bytes the client sent, discarded ones included */
    uint64_t epoch;   /* the server's epoch when the request began (see wait_running) */
    int fd;           /* the connection's socket, -1 if unknown */
    const char *authorization, *user_agent, *content_type; /* NULL when absent */
} devsrv__request_t;

typedef enum devsrv__action {
    DEVSRV__SEND = 0, /* answer status + body */
    DEVSRV__SEND_CUT, /* send the status and half the body, then close */
    DEVSRV__CLOSE     /* close the connection without an answer */
} devsrv__action_t;

typedef struct devsrv__answer {
    devsrv__action_t action;
    unsigned status;
    char *body;         /* malloc'd JSON owned by the answer; NULL = {"detail": detail} */
    const char *detail; /* fixed text */
    char *retry_after;  /* malloc'd Retry-After value owned by the answer; NULL = none */
    char *location;     /* malloc'd Location value owned by the answer; NULL = none */
} devsrv__answer_t;

/* Sets an error answer {"detail": detail}. */
void devsrv__answer_detail(devsrv__answer_t *a, unsigned status, const char *detail);
/* Sets the Retry-After value (copied; NULL or "" = none). False when out of memory. */
bool devsrv__answer_retry_after(devsrv__answer_t *a, const char *value);

void devsrv__batch_handle(devsrv_t *srv, const devsrv__request_t *rq, devsrv__answer_t *a);
void devsrv__session_handle(devsrv_t *srv, const devsrv__request_t *rq, devsrv__answer_t *a);
/* The /_dev routes and the 404/405 answers. */
void devsrv__dev_api_handle(devsrv_t *srv, devsrv__route_t route, const devsrv__request_t *rq,
                            devsrv__answer_t *a);

#endif
