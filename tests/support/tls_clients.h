/* Throwaway certificates, HTTPS servers and clients for test_tls_*.c. */
#ifndef SEGOPS_TEST_TLS_CLIENTS_H
#define SEGOPS_TEST_TLS_CLIENTS_H

#include "skip.h"
#include "testutil.h"
#include "tlsutil.h"

#include <stdbool.h>

extern tls_fixture_t tls_certs;
extern bool have_tls_certs;

/* cmocka group setup and teardown: no proxy variables, certificates when openssl is there. */

int tls_group_setup(void **state);

int tls_group_teardown(void **state);

#define REQUIRE_TLS()                                                                              \
    do {                                                                                           \
        require_or_skip(have_tls_certs, "no openssl tool to make certificates", SKIP_INSTALLABLE); \
    } while (0)

devsrv_t *start_https(const char *cert, const char *key);

extern segops_get_user_fn no_user;

segops_err_t get_user(segops_user_t *user, void *userdata);

typedef struct client_spec {
    const char *url; /* NULL: the server's own URL */
    const char *key; /* NULL: TEST_SK */
    const char *ca_file;
    const char *ca_path;
    const char *proxy;
} client_spec_t;

/* A client that sends only when flushed and retries quickly (a retry loop
 * would show up as requests, not as time). */
segops_client_t *tls_test_client(devsrv_t *srv, recorder_t *rec, const client_spec_t *spec);

void track_tls_events(segops_client_t *client, int n);

/* Sends n events and expects every one delivered, with no report. */
void expect_delivered(devsrv_t *srv, const client_spec_t *spec, int n);

/* Sends n events and expects them dropped as one SEGOPS_E_TLS report: no
 * retries, nothing reaching the server, and the same again on a second batch. */
void expect_tls_refused(devsrv_t *srv, const client_spec_t *spec, int n);

#endif
