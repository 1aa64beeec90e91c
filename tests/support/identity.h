/* The identity a pk_ client's get_user hands out, scripted by the test (user
 * and anonymous ids, a signature good or forged, a failure, a slow lookup),
 * and options for a pk_ client of a fixture that asks it. */
#ifndef SEGOPS_TEST_IDENTITY_H
#define SEGOPS_TEST_IDENTITY_H

#include "fixture.h"

typedef struct identity {
    const char *user_id;      /* NULL: not set */
    const char *anonymous_id; /* NULL: not set */
    bool sign;                /* sign user_id with sign_secret at now + ts_offset_s */
    const char *sign_secret;  /* TEST_PK_SECRET unless forging */
    int64_t ts_offset_s;
    bool try_bad_signature; /* afterwards, set a malformed signature (must change nothing) */
    segops_err_t fail;      /* returned instead of SEGOPS_OK when set */
    int delay_ms;           /* a slow identity lookup */
    pthread_mutex_t lock;
    int calls;
    int setter_errors; /* setters that failed unexpectedly */
    char last_sig[65];
    int64_t last_ts;
} identity_t;

/* An identity with user_id (NULL: none) and nothing else set, signing with
 * TEST_PK_SECRET when told to sign. */
void identity_init(identity_t *id, const char *user_id);
/* How often get_user ran, read under the lock. */
int identity_calls(identity_t *id);
/* A get_user callback: pass the identity as userdata. */
segops_err_t identity_get_user(segops_user_t *user, void *userdata);

/* How a pk_ client differs from the default one. */
typedef struct pk_setup {
    const char *key; /* TEST_PK unless set */
    bool sync;       /* batch = false */
    size_t batch_size;
} pk_setup_t;

/* Options for a pk_ client of f that asks id for its identity, with short
 * backoff; setup may be NULL. */
segops_options_t *pk_options(fixture_t *f, identity_t *id, const pk_setup_t *setup);
/* fixture_start(f, cfg), then a client of pk_options(f, id, setup). */
void pk_fixture_start(fixture_t *f, identity_t *id, const devsrv_config_t *cfg,
                      const pk_setup_t *setup);

#endif
