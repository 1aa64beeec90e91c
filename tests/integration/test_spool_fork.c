/* fork() with a spool: the child's client runs memory-only and never writes,
 * reads or deletes the parent's spool files (compared byte for byte before and
 * after the child's life); the child's events and the parent's each arrive
 * once. The child uses the client without exec, as test_fork does, so it is
 * skipped where a forked child may not start threads: TSan (which kills or
 * hangs such a child) and GCC's ASan runtime (whose allocator can hang in it);
 * see scripts/test.sh. */
#include "spooltest.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer) ||                             \
    (defined(__SANITIZE_ADDRESS__) && !defined(__clang__))
#define FORK_CHILD_UNSUPPORTED 1
#else
#define FORK_CHILD_UNSUPPORTED 0
#endif

#define PARENT_EVENTS 200
#define CHILD_FIRST 1000
#define CHILD_EVENTS 100

/* Every file under dir (one level of run directories), with its bytes. */
#define MAX_FILES 16
typedef struct snapshot {
    size_t count;
    char name[MAX_FILES][RUN_NAME_MAX + 260];
    char *bytes[MAX_FILES];
    size_t len[MAX_FILES];
} snapshot_t;

static void read_file(const char *path, char **bytes, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    assert_non_null(buf);
    *bytes = buf;
    *len = n;
}

static void take_snapshot(const char *dir, snapshot_t *s) {
    memset(s, 0, sizeof *s);
    char runs[4][RUN_NAME_MAX];
    size_t nruns = spool_runs(dir, runs, 4);
    assert_true(nruns <= 4);
    for (size_t r = 0; r < nruns; r++) {
        char run[700];
        snprintf(run, sizeof run, "%s/%s", dir, runs[r]);
        DIR *d = opendir(run);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            assert_true(s->count < MAX_FILES);
            char path[1000];
            snprintf(path, sizeof path, "%s/%s", run, e->d_name);
            snprintf(s->name[s->count], sizeof s->name[0], "%s/%s", runs[r], e->d_name);
            read_file(path, &s->bytes[s->count], &s->len[s->count]);
            s->count++;
        }
        closedir(d);
    }
}

static void snapshot_free(snapshot_t *s) {
    for (size_t i = 0; i < s->count; i++) free(s->bytes[i]);
}

static void assert_same_files(const snapshot_t *a, const snapshot_t *b) {
    assert_int_equal(a->count, b->count);
    for (size_t i = 0; i < a->count; i++) {
        size_t j = 0;
        while (j < b->count && strcmp(a->name[i], b->name[j]) != 0) j++;
        if (j == b->count) fail_msg("%s is gone", a->name[i]);
        if (a->len[i] != b->len[j] || memcmp(a->bytes[i], b->bytes[j], a->len[i]) != 0)
            fail_msg("%s changed (%zu -> %zu bytes)", a->name[i], a->len[i], b->len[j]);
    }
}

/* The child's whole life: tracks and delivers its own events, then writes its
 * counters to out_fd for the parent to judge. 0 unless a call failed. Only
 * _exit leaves it. */
static int child_main(segops_client_t *client, int out_fd) {
    char payload[32];
    for (int i = CHILD_FIRST; i < CHILD_FIRST + CHILD_EVENTS; i++) {
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        if (segops_track(client, "child", "item_viewed", payload) != SEGOPS_OK) return 10;
    }
    sleep_ms(1500); /* a spool thread, if the child had one, would write meanwhile */
    if (segops_flush(client, 20000) != SEGOPS_OK) return 11;
    segops_stats_t st;
    segops_client_stats(client, &st);
    if (write(out_fd, &st, sizeof st) != (ssize_t)sizeof st) return 12;
    if (segops_shutdown(client, 10000) != SEGOPS_OK) return 13;
    return 0;
}

/* Ends the parent's held request (a pause closes it); the parent sends again. */
static void release_parent(fixture_t *f) {
    assert_int_equal(devsrv_pause(f->srv), 0);
    assert_int_equal(devsrv_resume(f->srv), 0);
}

/* The parent's client holds PARENT_EVENTS on disk (and in memory) when it
 * forks; the child tracks and flushes its own. Returns the child's counters. */
static segops_stats_t fork_with_a_spool(fixture_t *f, const char *dir) {
    fixture_start(f, NULL);
    fixture_client(f, spool_options(f, 500, dir)); /* events wait for a flush */
    track_n(f->client, "u", 0, PARENT_EVENTS);
    wait_spooled(f->client, PARENT_EVENTS);
    /* The parent's request is held unanswered for the child's whole life, so the
     * parent's own worker changes nothing on disk meanwhile (a child that lives
     * past the pacing interval, as under valgrind, would otherwise see the
     * parent's acknowledgement). release_parent() lets it through. */
    assert_int_equal(devsrv_script_text(f->srv, "noanswer"), 0);
    (void)segops_flush(f->client, 1); /* starts the request; it is held */
    while (devsrv_script_pending(f->srv) > 0) sleep_ms(5);
    snapshot_t before, after;
    take_snapshot(dir, &before);
    assert_true(before.count >= 1);

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(child_main(f->client, fds[1]));
    close(fds[1]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    segops_stats_t child;
    ssize_t got = read(fds[0], &child, sizeof child);
    close(fds[0]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("the child failed with status %#x", status);
    assert_int_equal(got, (ssize_t)sizeof child);

    take_snapshot(dir, &after);
    assert_same_files(&before, &after);
    snapshot_free(&before);
    snapshot_free(&after);
    release_parent(f);
    return child;
}

static void skip_where_unsupported(void) {
    if (FORK_CHILD_UNSUPPORTED) {
        SEGOPS_SKIP("a forked child may not start threads under this sanitizer",
                    SKIP_MACHINE_CANNOT);
    }
}

static void test_forked_child_never_touches_the_parents_spool(void **state) {
    (void)state;
    skip_where_unsupported();
    fixture_t f;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", spool_path("fork"));
    segops_stats_t child = fork_with_a_spool(&f, dir);
    assert_int_equal(child.enqueued, CHILD_EVENTS);
    assert_int_equal(child.delivered, CHILD_EVENTS);
    assert_int_equal(child.dropped, 0);
    assert_int_equal(child.pending, 0);
    assert_int_equal(child.recovered, 0);
    assert_int_equal(child.spool_bytes, 0);
    assert_numbered_once(f.srv, 0, CHILD_FIRST, CHILD_EVENTS); /* the parent's were not sent */

    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.delivered, PARENT_EVENTS);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(reports_of(&f.rec), 0);
    tally_t t;
    tally_server(f.srv, 0, CHILD_FIRST + CHILD_EVENTS, &t);
    for (int i = 0; i < CHILD_FIRST + CHILD_EVENTS; i++) {
        int want = i < PARENT_EVENTS || i >= CHILD_FIRST ? 1 : 0;
        if (t.copies[i] != want) fail_msg("event %d: %d copies, want %d", i, t.copies[i], want);
    }
    assert_int_equal(t.others, 0);
    tally_free(&t);
    fixture_finish(&f);
    assert_int_equal(spool_runs(dir, NULL, 0), 0);
}

/* A forked child's counters start at zero (ledger.h), the spooler's too: its
 * memory-only client never reports the parent's spooled count. */
static void test_forked_childs_spool_counters_start_at_zero(void **state) {
    (void)state;
    skip_where_unsupported();
    fixture_t f;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", spool_path("fork_counters"));
    segops_stats_t child = fork_with_a_spool(&f, dir);
    assert_int_equal(child.spool_write_failures, 0);
    if (child.spooled != 0)
        fail_msg("the child's client wrote nothing to a spool but reports spooled = %llu (the "
                 "parent's count)",
                 (unsigned long long)child.spooled);
    fixture_finish(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forked_child_never_touches_the_parents_spool),
        cmocka_unit_test(test_forked_childs_spool_counters_start_at_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
