/* The fixture the integration tests share: one local server, one recorder of
 * on_error reports and one client, plus numbered events and the assertions on
 * what the server holds. Assertions run on the test's main thread only. */
#ifndef SEGOPS_TEST_FIXTURE_H
#define SEGOPS_TEST_FIXTURE_H

#include "testutil.h"

/* A call that should end promptly but takes this long is hung. A hang
 * detector, never a speed threshold. */
#define HANG_MS 3000

typedef struct fixture {
    devsrv_t *srv;
    recorder_t rec;
    segops_client_t *client; /* NULL until fixture_client */
} fixture_t;

/* Starts the server (cfg as for start_server, NULL for defaults) and the recorder. */
void fixture_start(fixture_t *f, const devsrv_config_t *cfg);
/* Creates f->client from opts (which must be accepted) and frees opts. */
void fixture_client(fixture_t *f, segops_options_t *opts);
/* Checks the books, shuts the client down within 5 s whatever that returns,
 * checks the books again and frees everything. */
void fixture_stop(fixture_t *f);
/* The same, but the shutdown must deliver everything (SEGOPS_OK within 10 s). */
void fixture_finish(fixture_t *f);

/* Options for an sk_ client of f: events stay queued until the test flushes
 * (or batch_size is reached), and backoff is short so retries happen within
 * the test. */
segops_options_t *fault_options(fixture_t *f, size_t batch_size);

/* fixture_start with defaults, then a client of fault_options(batch_size). */
void fixture_start_faulty(fixture_t *f, size_t batch_size);

/* Scripts faults (NULL: none; a script must parse), tracks events 0..n-1 of
 * user "u" and flushes them, which must succeed within flush_ms. Returns how
 * long the flush took in ms. */
int64_t track_and_flush(fixture_t *f, const char *script, int n, int flush_ms);

/* Starts f with a one-request-at-a-time client whose first batch (of `queue` events) is held by a
 * silent server, leaving an empty queue of `queue` places that does not drain. */
void fixture_start_stuck(fixture_t *f, size_t queue, segops_overflow_t policy, uint32_t block_ms);

/* Tracks events "item_viewed" of user with payload {"i":first..first+n-1};
 * each must be accepted. */
void track_n(segops_client_t *client, const char *user, int first, int n);

/* How often the server holds the event with payload {"i":i}. */
int server_copies(devsrv_t *srv, int i);
/* Asserts the server holds events first..first+n-1 exactly `copies` times each. */
void assert_server_holds(devsrv_t *srv, int first, int n, int copies);
/* Asserts every event the server holds carries user_id uid (after its rewrite). */
void assert_all_user_ids(devsrv_t *srv, const char *uid);

/* Asserts events 0..n-1 reached the server once each (and nothing else did)
 * in `requests` batch POSTs, every one after the first a retry, and that the
 * client counts them delivered with nothing dropped or reported. */
void assert_delivered_once(fixture_t *f, int n, uint64_t requests);

/* Asserts report `index` exists and says exactly this, with a message that
 * never holds the secret key. */
void assert_report(recorder_t *rec, size_t index, segops_err_t code, int http_status, size_t count,
                   segops_drop_reason_t reason);

/* Waits (hang-detector bound) until the server has seen n batch requests. */
void wait_requests(devsrv_t *srv, uint64_t n);
/* Ends a request held by a NO_ANSWER fault: the server drops its connections. */
void unstick(devsrv_t *srv);

#endif
