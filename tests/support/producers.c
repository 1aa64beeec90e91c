/* Tracking threads (see producers.h). */
#include "producers.h"

#include <stdio.h>

static void *track_until_done(void *arg) {
    tracking_thread_t *t = arg;
    char payload[48];
    for (uint64_t n = 0; (!t->calls || n < t->calls) && !(t->stop && atomic_load(t->stop)); n++) {
        snprintf(payload, sizeof payload, "{\"t\":%d,\"i\":%llu}", t->id, (unsigned long long)n);
        segops_err_t err = segops_track(t->client, t->user, t->event_type, payload);
        if (err == SEGOPS_OK) {
            t->counts.ok++;
            if (t->pause_every && t->counts.ok % t->pause_every == 0) sleep_ms(1);
        } else if (err == SEGOPS_E_QUEUE_FULL) {
            t->counts.queue_full++;
        } else {
            if (!t->counts.other) t->counts.first_other = err;
            t->counts.other++;
        }
    }
    return NULL;
}

void tracking_start(tracking_thread_t *t) {
    t->counts = (producer_counts_t){0, 0, 0, SEGOPS_OK};
    assert_int_equal(pthread_create(&t->thread, NULL, track_until_done, t), 0);
}

producer_counts_t tracking_join(tracking_thread_t *t) {
    pthread_join(t->thread, NULL);
    return t->counts;
}

producer_counts_t run_producers(segops_client_t *client, int threads, int per_thread) {
    assert_true(threads > 0 && threads <= PRODUCERS_MAX);
    tracking_thread_t prod[PRODUCERS_MAX];
    for (int t = 0; t < threads; t++) {
        prod[t] = (tracking_thread_t){.client = client,
                                      .user = "u",
                                      .event_type = "e",
                                      .id = t,
                                      .calls = (uint64_t)per_thread};
        tracking_start(&prod[t]);
    }
    producer_counts_t sum = {0, 0, 0, SEGOPS_OK};
    for (int t = 0; t < threads; t++) {
        producer_counts_t c = tracking_join(&prod[t]);
        sum.ok += c.ok;
        sum.queue_full += c.queue_full;
        if (c.other && !sum.other) sum.first_other = c.first_other;
        sum.other += c.other;
    }
    return sum;
}

void *sync_track_run(void *arg) {
    sync_track_job_t *job = arg;
    char payload[32];
    snprintf(payload, sizeof payload, "{\"i\":%d}", job->index);
    int64_t start = now_ms();
    job->result = segops_track(job->client, "u", job->event_type, payload);
    job->took_ms = now_ms() - start;
    return NULL;
}
