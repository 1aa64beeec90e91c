/* A scripted get_user for pk_ clients (see identity.h). */
#include "identity.h"

#include <string.h>
#include <time.h>

void identity_init(identity_t *id, const char *user_id) {
    memset(id, 0, sizeof *id);
    pthread_mutex_init(&id->lock, NULL);
    id->user_id = user_id;
    id->sign_secret = TEST_PK_SECRET;
}

int identity_calls(identity_t *id) {
    pthread_mutex_lock(&id->lock);
    int n = id->calls;
    pthread_mutex_unlock(&id->lock);
    return n;
}

/* Signs in place what a real app gets from its backend; returns the setter
 * failures. */
static int set_signature(identity_t *id, segops_user_t *user) {
    int bad = 0;
    int64_t ts = (int64_t)time(NULL) + id->ts_offset_s;
    segops_signed_user_t s = {0};
    if (segops_sign_user_id(id->sign_secret, id->user_id, ts, &s) != SEGOPS_OK) bad++;
    if (segops_user_set_signature(user, s.user_id_sig, s.user_id_ts) != SEGOPS_OK) bad++;
    pthread_mutex_lock(&id->lock);
    memcpy(id->last_sig, s.user_id_sig, sizeof id->last_sig);
    id->last_ts = s.user_id_ts;
    pthread_mutex_unlock(&id->lock);
    return bad;
}

segops_err_t identity_get_user(segops_user_t *user, void *userdata) {
    identity_t *id = userdata;
    pthread_mutex_lock(&id->lock);
    id->calls++;
    pthread_mutex_unlock(&id->lock);
    if (id->delay_ms) sleep_ms(id->delay_ms);
    if (id->fail) return id->fail;
    int bad = 0;
    if (id->user_id && segops_user_set_id(user, id->user_id) != SEGOPS_OK) bad++;
    if (id->anonymous_id && segops_user_set_anonymous_id(user, id->anonymous_id) != SEGOPS_OK)
        bad++;
    if (id->sign) bad += set_signature(id, user);
    if (id->try_bad_signature) {
        /* 64 characters, hex up to the 40th: a failing setter must leave no trace. */
        char forged[65];
        memset(forged, 'e', 64);
        forged[40] = 'x';
        forged[64] = '\0';
        if (segops_user_set_signature(user, forged, 12345) != SEGOPS_E_INVALID_ARG) bad++;
    }
    pthread_mutex_lock(&id->lock);
    id->setter_errors += bad;
    pthread_mutex_unlock(&id->lock);
    return SEGOPS_OK;
}

segops_options_t *pk_options(fixture_t *f, identity_t *id, const pk_setup_t *setup) {
    pk_setup_t none = {0};
    if (!setup) setup = &none;
    segops_options_t *opts = make_options(f->srv, setup->key ? setup->key : TEST_PK, &f->rec);
    assert_int_equal(segops_options_set_get_user(opts, identity_get_user, id), SEGOPS_OK);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 10, 40), SEGOPS_OK);
    if (setup->sync) assert_int_equal(segops_options_set_batch(opts, false), SEGOPS_OK);
    if (setup->batch_size)
        assert_int_equal(segops_options_set_batch_size(opts, setup->batch_size), SEGOPS_OK);
    return opts;
}

void pk_fixture_start(fixture_t *f, identity_t *id, const devsrv_config_t *cfg,
                      const pk_setup_t *setup) {
    fixture_start(f, cfg);
    fixture_client(f, pk_options(f, id, setup));
}
