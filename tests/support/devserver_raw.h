/* Helpers of the dev server's own tests (tests/integration/test_devserver_*.c): raw requests. */
#ifndef SEGOPS_TEST_DEVSERVER_RAW_H
#define SEGOPS_TEST_DEVSERVER_RAW_H

#include <pthread.h>
#include <stdbool.h>

#include "cJSON.h"
#include "devserver.h"
#include "rawhttp.h"
#include "testutil.h"

#define SK "sk_devtest_5d1c0e9f"
#define SK2 "sk_devtest_second"
#define PK "pk_devtest_open"
#define PK_SIGNED "pk_devtest_signed"
#define PK_SECRET_ONLY "pk_devtest_secret"
#define SECRET "00112233445566778899aabbccddeeff0123456789abcdef0123456789abcdef"
#define BATCH "/api/ingestion/track/batch/"
#define SESSION "/api/auth/session/"
#define EVENT(uid, type)                                                                           \
    "{\"user_id\":\"" uid "\",\"event_type\":\"" type                                              \
    "\",\"occurred_at\":\"2026-11-26T06:42:09.123Z\",\"payload\":{}}"
#define MAX_BODY (256 * 1024)

/* POSTs body to the batch endpoint with auth (10 s timeout). */
void post_batch(devsrv_t *srv, const char *auth, const char *body, raw_resp_t *r);

/* {"events":[...n valid events...]} */
char *batch_of(int n);

extern const char *one_event;

/* The server on an ephemeral port with SK, SK2, PK, PK_SIGNED and PK_SECRET_ONLY, keeping
 * events; extra (or NULL) gives the rest of its configuration. */
devsrv_t *start_with(const devsrv_config_t *extra);

/* cmocka setup and teardown: start_with(NULL) as the state, then stopped. */
int server_setup(void **state);
int server_teardown(void **state);

/* Mints with pk and body; returns the parsed answer (caller deletes) or NULL. */
cJSON *mint(devsrv_t *srv, const char *pk, const char *body, raw_resp_t *r);

/* A request sent from a helper thread; it only records what happened. */
typedef struct bg {
    pthread_t thread;
    const char *url;
    raw_resp_t r;
} bg_t;

/* A thread's POST of one_event (to bg->url, 20 s timeout) into bg->r. */
void *bg_post(void *arg);

/* Waits until the server has seen n batch requests (the helper's arrived). */
bool wait_batch_requests(devsrv_t *srv, uint64_t n);

#endif
