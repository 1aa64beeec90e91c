/* Several clients on one spool_dir: two in one process, a live one and one
 * whose owner left, and clients in processes of their own (spool_child). None
 * sends another's events while that one lives, nothing is sent twice, and no
 * file is damaged (no SEGOPS_DROP_SPOOL_CORRUPT report anywhere). */
#include "spooltest.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PER_CLIENT 3000
#define OWN_EVENTS 1000 /* the live client's, beside two children's */

typedef struct producer {
    segops_client_t *client;
    int first, n;
    int failed; /* track calls that were refused */
} producer_t;

static void *produce(void *arg) {
    producer_t *p = arg;
    char payload[32];
    for (int i = p->first; i < p->first + p->n; i++) {
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        if (segops_track(p->client, "u", "item_viewed", payload) != SEGOPS_OK) p->failed++;
    }
    return NULL;
}

static segops_client_t *new_client(segops_options_t *opts) {
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    return client;
}

/* Two live clients of one process track at once from two threads into one
 * spool_dir, spilling to disk (small memory queues) while the server is down. */
static void test_two_clients_in_one_process(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", spool_path("two"));
    segops_client_t *clients[2];
    for (int c = 0; c < 2; c++) {
        segops_options_t *opts = spool_options(&f, 100, dir);
        assert_int_equal(segops_options_set_max_queue_events(opts, 300), SEGOPS_OK);
        clients[c] = new_client(opts);
    }
    assert_int_equal(spool_runs(dir, NULL, 0), 2); /* a run each */
    assert_int_equal(devsrv_pause(f.srv), 0);
    producer_t producers[2];
    pthread_t threads[2];
    for (int c = 0; c < 2; c++) {
        producers[c] = (producer_t){clients[c], c * PER_CLIENT, PER_CLIENT, 0};
        assert_int_equal(pthread_create(&threads[c], NULL, produce, &producers[c]), 0);
    }
    for (int c = 0; c < 2; c++) pthread_join(threads[c], NULL);
    assert_int_equal(devsrv_resume(f.srv), 0);
    for (int c = 0; c < 2; c++) {
        assert_int_equal(producers[c].failed, 0);
        assert_int_equal(segops_flush(clients[c], 60000), SEGOPS_OK);
    }
    for (int c = 0; c < 2; c++) {
        segops_stats_t st = stats_of(clients[c]);
        assert_int_equal(st.enqueued, PER_CLIENT);
        assert_int_equal(st.recovered, 0); /* neither took the other's live run */
        assert_int_equal(st.delivered, PER_CLIENT);
        assert_int_equal(st.dropped, 0);
        assert_conservation(clients[c]);
        assert_int_equal(segops_shutdown(clients[c], 10000), SEGOPS_OK);
        segops_client_free(clients[c]);
    }
    assert_int_equal(reports_of(&f.rec), 0);
    assert_numbered_once(f.srv, 0, 0, 2 * PER_CLIENT);
    assert_int_equal(spool_runs(dir, NULL, 0), 0);
    fixture_stop(&f);
}

/* A client never sends the events of a live client's run; once that client has
 * gone (its events left on disk), the survivor adopts the run within its
 * periodic look (every 5 s) and sends them once. */
static void test_a_run_is_adopted_only_once_its_owner_is_gone(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", spool_path("adopt"));
    devsrv_t *dead = start_server(NULL); /* the first client's server: down */
    assert_int_equal(devsrv_pause(dead), 0);
    segops_options_t *opts = make_options(dead, TEST_SK, &f.rec);
    assert_int_equal(segops_options_set_spool_dir(opts, dir), SEGOPS_OK);
    segops_client_t *gone = new_client(opts);
    track_n(gone, "u", 0, 500);
    wait_spooled(gone, 500);

    fixture_client(&f, spool_options(&f, 100, dir));
    track_n(f.client, "u", 500, 500);
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    sleep_ms(200);
    assert_int_equal(stats_of(f.client).recovered, 0);
    assert_numbered_once(f.srv, 0, 500, 500); /* its own only */

    assert_int_equal(segops_shutdown(gone, 0), SEGOPS_E_TIMEOUT);
    assert_int_equal(stats_of(gone).dropped, 0);
    segops_client_free(gone);
    devsrv_stop(dead);
    /* The survivor looks for ownerless runs every 5 s. */
    int64_t end = now_ms() + 20000;
    while (server_events(f.srv) < 1000 && now_ms() < end) sleep_ms(50);
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.recovered, 500);
    assert_int_equal(st.delivered, 1000);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(reports_of(&f.rec), 0);
    assert_numbered_once(f.srv, 0, 0, 1000);
    fixture_finish(&f);
    assert_int_equal(spool_runs(dir, NULL, 0), 0);
}

/* Two processes write into one spool_dir at once (spilling: their memory
 * queues hold 200 events) while a client of this process lives on it too; they
 * exit with their events on disk, and this client adopts both runs. */
static void test_two_processes_and_a_live_client(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", spool_path("procs"));
    assert_int_equal(devsrv_pause(f.srv), 0);
    fixture_client(&f, spool_options(&f, 100, dir));
    child_t children[2];
    for (int c = 0; c < 2; c++) {
        char first[16], count[16];
        snprintf(first, sizeof first, "%d", c * PER_CLIENT);
        snprintf(count, sizeof count, "%d", PER_CLIENT);
        const char *argv[] = {
            SPOOL_CHILD_PATH, devsrv_url(f.srv), dir, first, count, "0", "0", "200", NULL};
        child_spawn(&children[c], argv);
    }
    track_n(f.client, "u", 2 * PER_CLIENT, OWN_EVENTS);
    long counts[2] = {0, 0};
    for (int c = 0; c < 2; c++) {
        int status = child_wait(&children[c]);
        counts[c] = child_read_count(&children[c], 0);
        close(children[c].out_fd);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("child %d ended with status %#x", c, status);
        assert_int_equal(counts[c], PER_CLIENT);
    }
    assert_int_equal(server_events(f.srv), 0);
    assert_int_equal(devsrv_resume(f.srv), 0);
    int64_t end = now_ms() + 30000;
    while (server_events(f.srv) < 2 * PER_CLIENT + OWN_EVENTS && now_ms() < end) sleep_ms(50);
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.recovered, 2 * PER_CLIENT);
    assert_int_equal(st.delivered, 2 * PER_CLIENT + OWN_EVENTS);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(reports_of(&f.rec), 0);
    assert_conservation(f.client);
    assert_numbered_once(f.srv, 0, 0, 2 * PER_CLIENT + OWN_EVENTS);
    fixture_finish(&f);
    assert_int_equal(spool_runs(dir, NULL, 0), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_clients_in_one_process),
        cmocka_unit_test(test_a_run_is_adopted_only_once_its_owner_is_gone),
        cmocka_unit_test(test_two_processes_and_a_live_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
