/* For test_secrets_*.c: recognisable keys, an HMAC secret and minted session tokens,
 * and every on_error message, logger line and stderr byte collected to be searched for them. */
#ifndef SEGOPS_TEST_SECRETS_SINK_H
#define SEGOPS_TEST_SECRETS_SINK_H

#include "testutil.h"
#include "tlsutil.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define CANARY "SECRET_CANARY"
#define SK "sk_SECRET_CANARY_sk_5d1e0f"
#define SK_WRONG "sk_SECRET_CANARY_wrong_77ab"
#define PK "pk_SECRET_CANARY_pk_93c0aa"
#define PK_UNKNOWN "pk_SECRET_CANARY_unknown_1f"
#define HMAC_HEX "5ec2e7ca4a2e75ec2e7ca4a2e7c0ffee"
#define PROXY_PASS "SECRET_CANARY_proxy_pass"
#define URL_PASS "SECRET_CANARY_url_pass"

typedef struct sink {
    pthread_mutex_t lock;
    char *text; /* every message and log line, one per line */
    size_t len, cap;
    size_t reports, log_lines;
    segops_err_t last_code;
    segops_drop_reason_t last_reason;
    uint64_t dropped;
} sink_t;

extern sink_t sink;
extern char tokens[16][256];
extern size_t token_count;
extern tls_fixture_t tls;
extern bool have_tls;

void sink_append(const char *prefix, const char *line);

void on_error(const segops_error_info_t *error, void *userdata);

void on_log(segops_log_level_t level, const char *message, void *userdata);

void remember_token(devsrv_t *srv);

/* Fails naming the first secret found in text. */
void assert_no_secret_in(const char *text, const char *where);

void sink_check(size_t min_reports);

void sink_reset(void);

typedef struct capture {
    int saved_fd;
    char path[64];
} capture_t;

extern capture_t *active_capture;

void capture_begin(capture_t *c);

/* Restores stderr and returns what was written (malloc'd; the caller frees it). */
char *capture_end(capture_t *c);

devsrv_t *start_secret_server(const devsrv_config_t *given);

/* The backend's half: sign the user id with the HMAC secret. */
segops_err_t signed_user(segops_user_t *user, void *userdata);

typedef struct spec {
    const char *url; /* NULL: the server's */
    const char *key;
    bool default_on_error; /* no on_error: the stderr default */
    bool sync;
    const char *ca_file;
    const char *proxy;
    const char *sign_with; /* HMAC secret get_user signs with; NULL: the right one */
} spec_t;

segops_client_t *new_client(devsrv_t *srv, const spec_t *s);

/* Tracks n events, flushes, and returns the client's counters. */
segops_stats_t send_n(segops_client_t *client, int n);

void expect_last(segops_err_t code);

int secrets_setup(void **state);

/* After a failure inside a capture: give stderr back, with what it caught
 * (cmocka's own failure message among it). */
int secrets_teardown(void **state);

int secrets_group_setup(void **state);

int secrets_group_teardown(void **state);

void script_status(devsrv_t *srv, int status, const char *retry_after, const char *body);

#endif
