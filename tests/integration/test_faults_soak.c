/* Delivery under faults: producers on several threads while random faults are
 * scripted; at the end the books balance exactly and every event reached the
 * server, duplicated only by answers cut after the server recorded them. */
#include "fixture.h"
#include "producers.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- soak: producers, random faults, exact books ---- */

#define SOAK_THREADS 4
#define SOAK_MS 8000
#define SOAK_MAX_PER_THREAD 20000

static void test_soak_random_faults_balance_exactly(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = make_options(f.srv, TEST_SK, &f.rec);
    assert_int_equal(segops_options_set_retry_backoff_ms(opts, 5, 50), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_retries(opts, 100), SEGOPS_OK);
    assert_int_equal(segops_options_set_flush_interval_ms(opts, 100), SEGOPS_OK);
    assert_int_equal(segops_options_set_request_timeout_ms(opts, 2000), SEGOPS_OK);
    fixture_client(&f, opts);

    unsigned seed = test_seed("soak");
    static const char *const kinds[] = {"503", "429:ra=0", "delay=150", "close", "closemid"};
    int scripted[5] = {0};

    atomic_bool stop;
    atomic_init(&stop, false);
    tracking_thread_t prod[SOAK_THREADS];
    for (int t = 0; t < SOAK_THREADS; t++) {
        prod[t] = (tracking_thread_t){.client = f.client,
                                      .user = "soak-user",
                                      .event_type = "soak_event",
                                      .id = t,
                                      .calls = SOAK_MAX_PER_THREAD,
                                      .pause_every = 4,
                                      .stop = &stop};
        tracking_start(&prod[t]);
    }
    int64_t end = now_ms() + SOAK_MS;
    while (now_ms() < end) {
        int k = (int)(rand_r(&seed) % 5);
        assert_int_equal(devsrv_script_text(f.srv, kinds[k]), 0);
        scripted[k]++;
        sleep_ms(40 + (int)(rand_r(&seed) % 80));
    }
    atomic_store(&stop, true);
    for (int t = 0; t < SOAK_THREADS; t++) tracking_join(&prod[t]);

    /* Make every scripted fault apply: each flush sends at least one request. */
    int extra = 0;
    while (devsrv_script_pending(f.srv) > 0) {
        char payload[64];
        snprintf(payload, sizeof payload, "{\"t\":%d,\"i\":%d}", SOAK_THREADS, extra);
        assert_int_equal(segops_track(f.client, "soak-user", "soak_event", payload), SEGOPS_OK);
        extra++;
        assert_int_equal(segops_flush(f.client, 20000), SEGOPS_OK);
    }
    int64_t t0 = now_ms();
    assert_int_equal(segops_shutdown(f.client, 20000), SEGOPS_OK);
    assert_true(now_ms() - t0 < 20000 + HANG_MS);

    uint64_t produced = (uint64_t)extra;
    for (int t = 0; t < SOAK_THREADS; t++) {
        /* No failure: each thread's payload numbers are then 0 .. ok - 1. */
        assert_int_equal(prod[t].counts.queue_full + prod[t].counts.other, 0);
        produced += prod[t].counts.ok;
    }
    int faults = 0;
    for (int k = 0; k < 5; k++) faults += scripted[k];
    printf("soak: %llu events, %d faults (503 %d, 429 %d, delay %d, close %d, closemid %d)\n",
           (unsigned long long)produced, faults, scripted[0], scripted[1], scripted[2], scripted[3],
           scripted[4]);

    segops_stats_t st = stats_of(f.client);
    devsrv_stats_t ss = server_stats(f.srv);
    assert_int_equal(ss.faults_applied, (uint64_t)faults);
    assert_int_equal(st.enqueued, produced);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.enqueued, st.delivered + st.dropped + st.pending);
    assert_int_equal(st.dropped, 0); /* retries were plentiful and the deadline generous */
    assert_int_equal(f.rec.events, st.dropped);

    /* Every event on the server, counted by identity; the copies beyond the
     * first came from requests cut after the server recorded them. */
    int *copies[SOAK_THREADS + 1];
    uint64_t *last_req[SOAK_THREADS + 1];
    int sizes[SOAK_THREADS + 1];
    for (int t = 0; t <= SOAK_THREADS; t++) {
        sizes[t] = t < SOAK_THREADS ? (int)prod[t].counts.ok : extra;
        copies[t] = calloc((size_t)sizes[t] + 1, sizeof(int));
        last_req[t] = calloc((size_t)sizes[t] + 1, sizeof(uint64_t));
    }
    size_t n = devsrv_event_count(f.srv);
    assert_int_equal(n, ss.events_received);
    uint64_t max_req = ss.batch_requests + 1;
    unsigned char *cut_req = calloc(max_req + 1, 1); /* requests whose events came again */
    uint64_t duplicates = 0;
    for (size_t k = 0; k < n; k++) {
        devsrv_event_t ev;
        assert_int_equal(devsrv_event_at(f.srv, k, &ev), 0);
        int t = -1, i = -1;
        assert_int_equal(sscanf(ev.payload_json, "{\"t\":%d,\"i\":%d}", &t, &i), 2);
        assert_true(t >= 0 && t <= SOAK_THREADS && i >= 0 && i < sizes[t]);
        if (copies[t][i]++ > 0) {
            duplicates++;
            assert_true(last_req[t][i] < ev.request_no);
            cut_req[last_req[t][i]] = 1;
        }
        last_req[t][i] = ev.request_no;
        devsrv_event_free(&ev);
    }
    uint64_t unique = 0;
    for (int t = 0; t <= SOAK_THREADS; t++) {
        for (int i = 0; i < sizes[t]; i++) {
            if (copies[t][i] == 0) fail_msg("event t=%d i=%d never reached the server", t, i);
            unique++;
        }
        free(copies[t]);
        free(last_req[t]);
    }
    int cut_requests = 0;
    for (uint64_t r = 0; r <= max_req; r++) cut_requests += cut_req[r];
    free(cut_req);

    assert_int_equal(unique, st.delivered);
    assert_int_equal(ss.events_received, st.delivered + duplicates);
    /* Exactly one request per applied closemid had its events recorded twice. */
    assert_int_equal(cut_requests, scripted[4]);
    assert_conservation(f.client);
    fixture_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_soak_random_faults_balance_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
