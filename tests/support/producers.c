/* Tracking threads (see producers.h). */
#include "producers.h"

#include <stdio.h>

typedef struct producer {
    segops_client_t *client;
    int id, per_thread;
    producer_counts_t counts;
} producer_t;

static void *produce(void *arg) {
    producer_t *p = arg;
    char payload[48];
    for (int i = 0; i < p->per_thread; i++) {
        snprintf(payload, sizeof payload, "{\"t\":%d,\"i\":%d}", p->id, i);
        segops_err_t err = segops_track(p->client, "u", "e", payload);
        if (err == SEGOPS_OK) {
            p->counts.ok++;
        } else if (err == SEGOPS_E_QUEUE_FULL) {
            p->counts.queue_full++;
        } else {
            if (!p->counts.other) p->counts.first_other = err;
            p->counts.other++;
        }
    }
    return NULL;
}

producer_counts_t run_producers(segops_client_t *client, int threads, int per_thread) {
    assert_true(threads > 0 && threads <= PRODUCERS_MAX);
    producer_t prod[PRODUCERS_MAX];
    pthread_t tid[PRODUCERS_MAX];
    for (int t = 0; t < threads; t++) {
        prod[t] = (producer_t){client, t, per_thread, {0, 0, 0, SEGOPS_OK}};
        assert_int_equal(pthread_create(&tid[t], NULL, produce, &prod[t]), 0);
    }
    producer_counts_t sum = {0, 0, 0, SEGOPS_OK};
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        sum.ok += prod[t].counts.ok;
        sum.queue_full += prod[t].counts.queue_full;
        if (prod[t].counts.other && !sum.other) sum.first_other = prod[t].counts.first_other;
        sum.other += prod[t].counts.other;
    }
    return sum;
}
