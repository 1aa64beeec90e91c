/* fork(): a child uses the client on its own, never resends the parent's
 * events, and both sides account exactly; it lets go of the parent's sockets. */
#include "producers.h"
#include "testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FORKS 25
#define CHILD_EVENTS 10

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

    /* Keeps the parent's worker busy so forks land in the middle of requests. */
    atomic_bool stop;
    atomic_init(&stop, false);
    tracking_thread_t producer = {.client = client,
                                  .user = "parent",
                                  .event_type = "parent_event",
                                  .pause_every = 64,
                                  .stop = &stop};
    tracking_start(&producer);
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
    atomic_store(&stop, true);
    uint64_t tracked = tracking_join(&producer).ok;
    assert_int_equal(segops_shutdown(client, 20000), SEGOPS_OK);

    segops_stats_t st;
    segops_client_stats(client, &st);
    assert_int_equal(st.enqueued, tracked);
    assert_int_equal(st.delivered, tracked);
    assert_int_equal(st.dropped, 0);
    assert_conservation(client);
    assert_int_equal(rec.reports, 0);

    /* The server saw each parent event once and each child's events once. */
    size_t n = devsrv_event_count(srv);
    assert_int_equal(n, tracked + FORKS * CHILD_EVENTS);
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
    assert_int_equal(parent_events, tracked);
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

/* ---- a child lets go of the parent's sockets ---- */

/* The devserver runs in a process of its own here, forked before any client
 * exists, so that every socket the test process holds is the library's. */
typedef struct server_process {
    pid_t pid;
    int command_fd; /* 's': send the stats back; EOF: stop */
    int answer_fd;
    char url[64];
} server_process_t;

static void serve(int command_fd, int answer_fd) {
    static const char *const keys[] = {TEST_SK};
    devsrv_config_t cfg = {.sk_keys = keys, .sk_key_count = 1};
    devsrv_t *srv = NULL;
    char url[64] = {0};
    if (devsrv_start(&cfg, &srv) != 0) _exit(2);
    snprintf(url, sizeof url, "%s", devsrv_url(srv));
    if (write(answer_fd, url, sizeof url) != (ssize_t)sizeof url) _exit(3);
    char command;
    while (read(command_fd, &command, 1) == 1) {
        devsrv_stats_t st;
        devsrv_get_stats(srv, &st);
        if (write(answer_fd, &st, sizeof st) != (ssize_t)sizeof st) _exit(4);
    }
    devsrv_stop(srv);
    _exit(0);
}

static void server_process_start(server_process_t *sp) {
    int command[2], answer[2];
    assert_int_equal(pipe(command), 0);
    assert_int_equal(pipe(answer), 0);
    sp->pid = fork();
    assert_true(sp->pid >= 0);
    if (sp->pid == 0) {
        close(command[1]);
        close(answer[0]);
        serve(command[0], answer[1]);
    }
    close(command[0]);
    close(answer[1]);
    sp->command_fd = command[1];
    sp->answer_fd = answer[0];
    assert_int_equal(read(sp->answer_fd, sp->url, sizeof sp->url), (ssize_t)sizeof sp->url);
}

static devsrv_stats_t server_process_stats(server_process_t *sp) {
    devsrv_stats_t st;
    assert_int_equal(write(sp->command_fd, "s", 1), 1);
    assert_int_equal(read(sp->answer_fd, &st, sizeof st), (ssize_t)sizeof st);
    return st;
}

static void server_process_stop(server_process_t *sp) {
    close(sp->command_fd);
    int status = 0;
    assert_int_equal(waitpid(sp->pid, &status, 0), sp->pid);
    close(sp->answer_fd);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

#define MAX_SOCKETS 64
typedef struct socket_list {
    size_t count;
    unsigned long inode[MAX_SOCKETS];
} socket_list_t;

/* The inode of every socket among this process's descriptors. */
static void list_sockets(socket_list_t *out) {
    out->count = 0;
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return;
    struct dirent *entry;
    while ((entry = readdir(dir)) && out->count < MAX_SOCKETS) {
        char path[300], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%s", entry->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = '\0';
        if (sscanf(target, "socket:[%lu]", &out->inode[out->count]) == 1) out->count++;
    }
    closedir(dir);
}

static bool socket_listed(const socket_list_t *list, unsigned long inode) {
    for (size_t i = 0; i < list->count; i++)
        if (list->inode[i] == inode) return true;
    return false;
}

/* The inodes of this network namespace's ESTABLISHED TCP sockets whose remote
 * port is `port` (client sides of connections to the server). */
static void list_established_to(unsigned port, socket_list_t *out) {
    out->count = 0;
    FILE *f = fopen("/proc/self/net/tcp", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f) && out->count < MAX_SOCKETS) {
        unsigned remote_port, state;
        unsigned long inode;
        if (sscanf(line, " %*u: %*x:%*x %*x:%x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &remote_port,
                   &state, &inode) == 3 &&
            remote_port == port && state == 0x01)
            out->inode[out->count++] = inode;
    }
    fclose(f);
}

/* In the child: after its own shutdown and free, no descriptor may still be one
 * of the parent's sockets. Returns the exit status (0 = none left). */
static int child_release_check(segops_client_t *client, const socket_list_t *parent_sockets,
                               const socket_list_t *parent_connections) {
    for (int i = 0; i < 3; i++)
        if (segops_track(client, "child", "child_event", NULL) != SEGOPS_OK) return 10;
    if (segops_shutdown(client, 20000) != SEGOPS_OK) return 11;
    segops_client_free(client);
    socket_list_t mine;
    list_sockets(&mine);
    int inherited = 0;
    for (size_t i = 0; i < mine.count; i++) {
        if (!socket_listed(parent_sockets, mine.inode[i])) continue;
        fprintf(stderr, "child %d still holds the parent's socket:[%lu]%s\n", (int)getpid(),
                mine.inode[i],
                socket_listed(parent_connections, mine.inode[i]) ? " (ESTABLISHED to the server)"
                                                                 : "");
        inherited++;
    }
    return inherited ? 20 + (inherited < 9 ? inherited : 9) : 0;
}

typedef struct sync_caller {
    segops_client_t *client;
    pthread_barrier_t *start;
    segops_err_t result;
} sync_caller_t;

static void *call_track(void *arg) {
    sync_caller_t *c = arg;
    pthread_barrier_wait(c->start);
    c->result = segops_track(c->client, "parent", "before_fork", NULL);
    return NULL;
}

/* `callers` threads send at once, so that many sync transports (each with its
 * own wake-up channel) are made at the same moment. */
static void deliver_at_once(segops_client_t *client, int callers) {
    pthread_t thread[8];
    sync_caller_t caller[8];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)callers);
    for (int i = 0; i < callers; i++) {
        caller[i] = (sync_caller_t){client, &start, SEGOPS_E_INTERNAL};
        assert_int_equal(pthread_create(&thread[i], NULL, call_track, &caller[i]), 0);
    }
    for (int i = 0; i < callers; i++) pthread_join(thread[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < callers; i++) assert_int_equal(caller[i].result, SEGOPS_OK);
}

static void fork_releases_sockets(bool batch, int callers) {
    server_process_t sp;
    server_process_start(&sp);
    unsigned port = 0;
    assert_int_equal(sscanf(sp.url, "http://127.0.0.1:%u", &port), 1);
    recorder_t rec;
    recorder_init(&rec);
    segops_options_t *opts = NULL;
    assert_int_equal(segops_options_new(&opts), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_url(opts, sp.url), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_key(opts, TEST_SK), SEGOPS_OK);
    assert_int_equal(segops_options_set_on_error(opts, recorder_on_error, &rec), SEGOPS_OK);
    assert_int_equal(segops_options_set_batch(opts, batch), SEGOPS_OK);
    segops_client_t *client;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);

    /* The parent delivers: its keep-alive connections are up. */
    if (callers > 1)
        deliver_at_once(client, callers);
    else
        for (int i = 0; i < 5; i++)
            assert_int_equal(segops_track(client, "parent", "before_fork", NULL), SEGOPS_OK);
    assert_int_equal(segops_flush(client, 20000), SEGOPS_OK);
    const uint64_t before_fork = callers > 1 ? (uint64_t)callers : 5;
    socket_list_t parent_sockets, parent_connections;
    list_sockets(&parent_sockets);
    list_established_to(port, &parent_connections);
    uint64_t connections = stats_of(client).connections;
    assert_int_equal(parent_connections.count, connections);
    for (size_t i = 0; i < parent_connections.count; i++)
        assert_true(socket_listed(&parent_sockets, parent_connections.inode[i]));
    if (callers == 1) assert_int_equal(connections, 1);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(child_release_check(client, &parent_sockets, &parent_connections));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0) fail_msg("the child exited with %d", WEXITSTATUS(status));

    /* The parent still delivers, over the same connection. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(segops_track(client, "parent", "after_fork", NULL), SEGOPS_OK);
    assert_int_equal(segops_flush(client, 20000), SEGOPS_OK);
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.delivered, before_fork + 5);
    assert_int_equal(st.connections, connections);
    socket_list_t now;
    list_established_to(port, &now);
    bool reused = false;
    for (size_t i = 0; i < parent_connections.count; i++)
        reused |= socket_listed(&now, parent_connections.inode[i]);
    assert_true(reused);
    assert_int_equal(reports_of(&rec), 0);
    devsrv_stats_t ss = server_process_stats(&sp);
    assert_int_equal(ss.events_received, before_fork + 5 + 3); /* the child's three too */
    segops_client_free(client);
    recorder_destroy(&rec);
    server_process_stop(&sp);
}

static void test_fork_child_releases_parent_sockets(void **state) {
    (void)state;
    fork_releases_sockets(true, 1);
}

static void test_fork_child_releases_parent_sockets_sync(void **state) {
    (void)state;
    fork_releases_sockets(false, 1);
}

/* Eight sync transports made at the same moment: each records its own wake-up
 * channel (a discovery that saw another's would leave its own in the child). */
static void test_fork_child_releases_sockets_of_concurrent_sync_calls(void **state) {
    (void)state;
    for (int round = 0; round < 5; round++) fork_releases_sockets(false, 8);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_many_times_mid_request),
        cmocka_unit_test(test_fork_after_shutdown),
        cmocka_unit_test(test_fork_child_releases_parent_sockets),
        cmocka_unit_test(test_fork_child_releases_parent_sockets_sync),
        cmocka_unit_test(test_fork_child_releases_sockets_of_concurrent_sync_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
