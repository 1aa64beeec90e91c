/* Shared test helpers (see testutil.h). */
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void recorder_init(recorder_t *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
}

void recorder_destroy(recorder_t *r) { pthread_mutex_destroy(&r->lock); }

void recorder_on_error(const segops_error_info_t *error, void *userdata) {
    recorder_t *r = userdata;
    pthread_mutex_lock(&r->lock);
    if (r->reports < RECORDER_MAX) {
        r->info[r->reports] = *error;
        snprintf(r->messages[r->reports], sizeof r->messages[0], "%s",
                 error->message ? error->message : "(null)");
        r->info[r->reports].message = r->messages[r->reports];
    }
    r->reports++;
    r->events += error->event_count;
    if ((unsigned)error->reason < 16) r->by_reason[error->reason] += error->event_count;
    pthread_mutex_unlock(&r->lock);
}

void recorder_snapshot(recorder_t *r, size_t *reports, uint64_t *events) {
    pthread_mutex_lock(&r->lock);
    if (reports) *reports = r->reports;
    if (events) *events = r->events;
    pthread_mutex_unlock(&r->lock);
}

uint64_t events_reported(recorder_t *r) {
    uint64_t events;
    recorder_snapshot(r, NULL, &events);
    return events;
}

segops_stats_t stats_of(segops_client_t *client) {
    segops_stats_t st;
    assert_int_equal(segops_client_stats(client, &st), SEGOPS_OK);
    return st;
}

devsrv_stats_t server_stats(devsrv_t *srv) {
    devsrv_stats_t ss;
    devsrv_get_stats(srv, &ss);
    return ss;
}

size_t reports_of(recorder_t *rec) {
    size_t reports;
    recorder_snapshot(rec, &reports, NULL);
    return reports;
}

devsrv_t *start_server(const devsrv_config_t *given) {
    static const char *const sk[] = {TEST_SK};
    static const devsrv_pk_key_t pk[] = {{TEST_PK, TEST_PK_SECRET, false},
                                         {TEST_SIGNED_PK, TEST_PK_SECRET, true}};
    devsrv_config_t cfg = {0};
    if (given) cfg = *given;
    if (!cfg.sk_key_count && !cfg.pk_key_count) {
        cfg.sk_keys = sk;
        cfg.sk_key_count = 1;
        cfg.pk_keys = pk;
        cfg.pk_key_count = 2;
    }
    cfg.keep_events = true;
    devsrv_t *srv = NULL;
    assert_int_equal(devsrv_start(&cfg, &srv), 0);
    assert_non_null(srv);
    return srv;
}

segops_options_t *make_options(devsrv_t *srv, const char *key, recorder_t *rec) {
    segops_options_t *opts = NULL;
    assert_int_equal(segops_options_new(&opts), SEGOPS_OK);
    if (srv) assert_int_equal(segops_options_set_api_url(opts, devsrv_url(srv)), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_key(opts, key ? key : TEST_SK), SEGOPS_OK);
    if (rec) assert_int_equal(segops_options_set_on_error(opts, recorder_on_error, rec), SEGOPS_OK);
    return opts;
}

segops_client_t *quiet_client(devsrv_t *srv, recorder_t *rec, size_t batch_size,
                              uint32_t interval_ms) {
    segops_options_t *opts = make_options(srv, TEST_SK, rec);
    assert_int_equal(segops_options_set_batch_size(opts, batch_size), SEGOPS_OK);
    assert_int_equal(segops_options_set_flush_interval_ms(opts, interval_ms), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    return client;
}

void assert_conservation(segops_client_t *client) {
    segops_stats_t st;
    assert_int_equal(segops_client_stats(client, &st), SEGOPS_OK);
    assert_int_equal(st.dropped, st.dropped_queue_overflow + st.dropped_too_large +
                                     st.dropped_rejected + st.dropped_retries_exhausted +
                                     st.dropped_shutdown + st.dropped_skipped +
                                     st.dropped_spool_corrupt + st.dropped_expired);
    if (st.enqueued + st.recovered != st.delivered + st.dropped + st.pending)
        fail_msg("conservation broken: enqueued %llu + recovered %llu != delivered %llu + dropped "
                 "%llu + pending %llu",
                 (unsigned long long)st.enqueued, (unsigned long long)st.recovered,
                 (unsigned long long)st.delivered, (unsigned long long)st.dropped,
                 (unsigned long long)st.pending);
}

unsigned test_seed(const char *test) {
    const char *given = getenv("SEGOPS_TEST_SEED");
    unsigned seed;
    if (given) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(given, &end, 10);
        if (errno || end == given || *end || v > UINT_MAX)
            fail_msg("SEGOPS_TEST_SEED=\"%s\" is not a decimal unsigned number", given);
        seed = (unsigned)v;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (unsigned)ts.tv_sec ^ (unsigned)ts.tv_nsec ^ ((unsigned)getpid() << 16);
    }
    print_message("%s: seed %u (replay with SEGOPS_TEST_SEED=%u)\n", test, seed, seed);
    return seed;
}

int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}
