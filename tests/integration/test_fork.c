/* fork(): a child uses the client on its own, never resends the parent's
 * events, and both sides account exactly. */
#include "testutil.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FORKS 25
#define CHILD_EVENTS 10

typedef struct producer {
    segops_client_t *client;
    atomic_bool stop;
    uint64_t tracked;
} producer_t;

/* Keeps the parent's worker busy so forks land in the middle of requests. */
static void *produce(void *arg) {
    producer_t *p = arg;
    while (!atomic_load(&p->stop)) {
        if (segops_track(p->client, "parent", "parent_event", "{\"k\":1}") == SEGOPS_OK)
            p->tracked++;
        if (p->tracked % 64 == 0) sleep_ms(1);
    }
    return NULL;
}

/* The child's whole life: returns its exit status (0 = all as expected). */
static int child_main(segops_client_t *client, int index) {
    char user[32];
    snprintf(user, sizeof user, "child-%d", index);
    for (int i = 0; i < CHILD_EVENTS; i++)
        if (segops_track(client, user, "child_event", NULL) != SEGOPS_OK) return 10;
    if (segops_shutdown(client, 20000) != SEGOPS_OK) return 11;
    segops_stats_t st;
    segops_client_stats(client, &st);
    /* Only the child's own events: the parent's backlog was not inherited. */
    if (st.enqueued != CHILD_EVENTS || st.delivered != CHILD_EVENTS || st.dropped || st.pending)
        return 12;
    return 0;
}

static void test_fork_many_times_mid_request(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    devsrv_set_answer_delay(srv, 5); /* requests stay in flight long enough to fork into */
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = make_options(srv, TEST_SK, &rec);
    assert_int_equal(segops_options_set_batch_size(opts, 10), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);

    producer_t producer = {.client = client};
    atomic_init(&producer.stop, false);
    pthread_t thread;
    pthread_create(&thread, NULL, produce, &producer);
    sleep_ms(50);

    pid_t pids[FORKS];
    for (int i = 0; i < FORKS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) _exit(child_main(client, i));
        sleep_ms(10);
    }
    for (int i = 0; i < FORKS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) != 0) fail_msg("child %d exited with %d", i, WEXITSTATUS(status));
    }
    atomic_store(&producer.stop, true);
    pthread_join(thread, NULL);
    assert_int_equal(segops_shutdown(client, 20000), SEGOPS_OK);

    segops_stats_t st;
    segops_client_stats(client, &st);
    assert_int_equal(st.enqueued, producer.tracked);
    assert_int_equal(st.delivered, producer.tracked);
    assert_int_equal(st.dropped, 0);
    assert_conservation(client);
    assert_int_equal(rec.reports, 0);

    /* The server saw each parent event once and each child's events once. */
    size_t n = devsrv_event_count(srv);
    assert_int_equal(n, producer.tracked + FORKS * CHILD_EVENTS);
    int per_child[FORKS] = {0};
    uint64_t parent_events = 0;
    for (size_t k = 0; k < n; k++) {
        devsrv_event_t ev;
        assert_int_equal(devsrv_event_at(srv, k, &ev), 0);
        int index;
        if (strcmp(ev.user_id, "parent") == 0)
            parent_events++;
        else if (sscanf(ev.user_id, "child-%d", &index) == 1 && index >= 0 && index < FORKS)
            per_child[index]++;
        else
            fail_msg("unexpected user_id %s", ev.user_id);
        devsrv_event_free(&ev);
    }
    assert_int_equal(parent_events, producer.tracked);
    for (int i = 0; i < FORKS; i++) assert_int_equal(per_child[i], CHILD_EVENTS);
    segops_client_free(client);
    recorder_destroy(&rec);
    devsrv_stop(srv);
}

/* A child of a client that was shut down sees a stopped client, not a hang. */
static void test_fork_after_shutdown(void **state) {
    (void)state;
    devsrv_t *srv = start_server(NULL);
    segops_options_t *opts = make_options(srv, TEST_SK, NULL);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops_shutdown(client, 1000), SEGOPS_OK);
    pid_t pid = fork();
    if (pid == 0) {
        int bad = segops_track(client, "u", "e", NULL) != SEGOPS_E_STATE ||
                  segops_shutdown(client, 1000) != SEGOPS_OK;
        _exit(bad);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    segops_client_free(client);
    devsrv_stop(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_many_times_mid_request),
        cmocka_unit_test(test_fork_after_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
