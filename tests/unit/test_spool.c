/* The spool directory layer (src/spool*.c): runs, locks and adoption across
 * processes, acks and segment deletion, limits, damage, fork, and unusable
 * directories (read-only and full file systems on tmpfs mounts in a private
 * mount namespace when the test may mount; skipped with a note otherwise).
 *
 * Child processes record facts and exit; assertions run in the test process. */
#define _GNU_SOURCE 1 /* unshare, CLONE_NEWNS */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "skip.h"
#include "spool.h"
#include "spool_ack.h"
#include "spool_record.h"

static char root[256]; /* this test's scratch directory */
static bool can_mount;

/* ---- helpers ------------------------------------------------------------ */

static void remove_tree(const char *path) {
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[512];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(sub);
            else
                unlink(sub);
        }
        closedir(dir);
    }
    rmdir(path);
}

/* A fresh, empty spool directory path under root. */
static const char *fresh_dir(const char *name) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", root, name);
    remove_tree(path);
    return path;
}

static segops__spool_limits_t limits(uint64_t segment_bytes) {
    segops__spool_limits_t l = {0};
    l.segment_bytes = segment_bytes;
    return l;
}

static segops__spool_t *open_spool(const char *dir, const segops__spool_limits_t *l) {
    segops__spool_t *s = NULL;
    char why[256] = "";
    segops_err_t err = segops__spool_open(dir, l, &s, why, sizeof why);
    if (err != SEGOPS_OK) fail_msg("spool_open(%s) = %d: %s", dir, err, why);
    return s;
}

static void event_json(char *out, size_t len, const char *tag, size_t i) {
    snprintf(out, len,
             "{\"user_id\":\"%s-%zu\",\"event_type\":\"order_placed\",\"occurred_at\":"
             "\"2026-11-18T11:06:40.123Z\",\"payload\":{\"n\":%zu}}",
             tag, i, i);
}

/* Appends events tag-from .. tag-(from+n-1). */
static segops_err_t append_events(segops__spool_t *s, const char *tag, size_t from, size_t n,
                                  int64_t time_ms, bool hand_out, size_t *appended) {
    char(*json)[128] = malloc(n * sizeof *json);
    segops__spool_item_t *items = malloc(n * sizeof *items);
    for (size_t i = 0; i < n; i++) {
        event_json(json[i], sizeof json[i], tag, from + i);
        items[i] = (segops__spool_item_t){json[i], (uint32_t)strlen(json[i]), time_ms};
    }
    size_t done = 0;
    segops_err_t err = segops__spool_append(s, items, n, hand_out, NULL, &done);
    if (appended) *appended = done;
    free(items);
    free(json);
    return err;
}

/* What a read handed out, copied. */
#define MAX_SEEN 65536
typedef struct seen {
    size_t count, refuse_after;
    char json[MAX_SEEN][128];
    segops__spool_pos_t pos[MAX_SEEN];
    bool adopted[MAX_SEEN];
} seen_t;

static bool take(void *ctx, const segops__spool_rec_t *rec) {
    seen_t *seen = ctx;
    if (seen->refuse_after && seen->count >= seen->refuse_after) return false;
    if (seen->count < MAX_SEEN) {
        snprintf(seen->json[seen->count], sizeof seen->json[0], "%.*s", (int)rec->len, rec->json);
        seen->pos[seen->count] = rec->pos;
        seen->adopted[seen->count] = rec->adopted;
    }
    seen->count++;
    return true;
}

static seen_t *read_all(segops__spool_t *s, int64_t now_ms) {
    seen_t *seen = calloc(1, sizeof *seen);
    size_t count = 0;
    assert_int_equal(segops__spool_read(s, now_ms, SIZE_MAX, take, seen, &count), SEGOPS_OK);
    assert_int_equal(count, seen->count);
    return seen;
}

/* seen holds exactly tag-from .. tag-(from+n-1), in order. */
static void expect_events(const seen_t *seen, size_t at, const char *tag, size_t from, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char want[128];
        event_json(want, sizeof want, tag, from + i);
        assert_true(at + i < seen->count);
        assert_string_equal(seen->json[at + i], want);
    }
}

/* Settles everything seen, as a worker settles requests: in batches of 7. */
static void ack_seen(segops__spool_t *s, const seen_t *seen) {
    for (size_t i = 0; i < seen->count; i += 7) {
        size_t n = seen->count - i < 7 ? seen->count - i : 7;
        assert_int_equal(segops__spool_ack_batch(s, seen->pos + i, n), SEGOPS_OK);
    }
}

/* Entries in dir whose name starts with prefix (recursively for runs' files). */
static size_t count_entries(const char *dir, const char *prefix) {
    size_t n = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    closedir(d);
    return n;
}

/* The one run directory in dir whose name is not `except`, into out. */
static bool find_run(const char *dir, const char *except, char *out, size_t len) {
    DIR *d = opendir(dir);
    bool found = false;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, "run-", 4) && (!except || strcmp(e->d_name, except))) {
            snprintf(out, len, "%s/%s", dir, e->d_name);
            found = true;
        }
    if (d) closedir(d);
    return found;
}

/* Bytes of every .seg file under a run directory path. */
static uint64_t seg_bytes(const char *run) {
    uint64_t total = 0;
    DIR *d = opendir(run);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 4 && !strcmp(e->d_name + n - 4, ".seg")) {
            char path[600];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", run, e->d_name);
            if (stat(path, &st) == 0) total += (uint64_t)st.st_size;
        }
    }
    if (d) closedir(d);
    return total;
}

static void write_file(const char *path, const void *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* A run directory "left by a dead process": records seq from..to, written by
 * hand with the record encoder into one segment; returns the file image size. */
static size_t write_dead_run(const char *dir, const char *name, size_t from, size_t to,
                             uint8_t **image_out) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    mkdir(dir, 0700);
    assert_int_equal(mkdir(path, 0700), 0);
    size_t cap = (to - from + 1) * 200, len = 0;
    uint8_t *image = malloc(cap);
    for (size_t i = from; i <= to; i++) {
        char json[128];
        event_json(json, sizeof json, "dead", i);
        segops__spool_record_header(image + len, i, 1000, json, (uint32_t)strlen(json));
        memcpy(image + len + SEGOPS__SPOOL_RECORD_HEADER, json, strlen(json));
        len += SEGOPS__SPOOL_RECORD_HEADER + strlen(json);
    }
    char seg[700];
    snprintf(seg, sizeof seg, "%s/%016zx.seg", path, from);
    write_file(seg, image, len);
    if (image_out)
        *image_out = image;
    else
        free(image);
    return len;
}

/* Exits the child with a line number when a fact does not hold. */
#define CHILD_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child: %s:%d: %s\n", __FILE__, __LINE__, #cond);                      \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

static int wait_child(pid_t pid) {
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/* ---- runs, reads and acks ---------------------------------------------- */

static void test_append_read_ack_close_removes_run(void **state) {
    (void)state;
    const char *dir = fresh_dir("basic");
    segops__spool_limits_t l = limits(0);
    segops__spool_t *s = open_spool(dir, &l);
    assert_int_equal(count_entries(dir, "run-"), 1);
    size_t appended;
    assert_int_equal(append_events(s, "a", 0, 10, 1000, false, &appended), SEGOPS_OK);
    assert_int_equal(appended, 10);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 10);
    expect_events(seen, 0, "a", 0, 10);
    for (size_t i = 0; i < 10; i++) {
        assert_false(seen->adopted[i]);
        assert_int_equal(seen->pos[i].run, SEGOPS__SPOOL_OWN_RUN);
        assert_int_equal(seen->pos[i].seq, i + 1);
    }
    /* Nothing is handed out twice. */
    seen_t *again = read_all(s, 1000);
    assert_int_equal(again->count, 0);
    ack_seen(s, seen);
    segops__spool_close(s);
    assert_int_equal(count_entries(dir, "run-"), 0); /* all settled: the run is gone */
    free(seen);
    free(again);
}

static void test_hand_out_and_refusal(void **state) {
    (void)state;
    const char *dir = fresh_dir("handout");
    segops__spool_limits_t l = limits(0);
    segops__spool_t *s = open_spool(dir, &l);
    segops__spool_usage_t u;
    /* Kept in memory by the caller: never read back. */
    assert_int_equal(append_events(s, "mem", 0, 5, 1000, true, NULL), SEGOPS_OK);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 0);
    free(seen);
    /* A backlog on disk: hand_out is refused until it is read, changing nothing. */
    assert_int_equal(append_events(s, "disk", 0, 5, 1000, false, NULL), SEGOPS_OK);
    segops__spool_usage(s, &u);
    assert_false(u.own_caught_up);
    uint64_t before = u.disk_bytes;
    size_t appended = 99;
    assert_int_equal(append_events(s, "x", 0, 1, 1000, true, &appended), SEGOPS_E_STATE);
    assert_int_equal(appended, 0);
    segops__spool_usage(s, &u);
    assert_int_equal(u.disk_bytes, before);
    /* A refusing reader stops; the refused record stays first in line. */
    seen = calloc(1, sizeof *seen);
    seen->refuse_after = 2;
    size_t count;
    assert_int_equal(segops__spool_read(s, 1000, 100, take, seen, &count), SEGOPS_OK);
    assert_int_equal(count, 2);
    expect_events(seen, 0, "disk", 0, 2);
    seen->refuse_after = 0;
    assert_int_equal(segops__spool_read(s, 1000, 2, take, seen, &count), SEGOPS_OK);
    assert_int_equal(count, 2); /* max respected */
    assert_int_equal(segops__spool_read(s, 1000, 100, take, seen, &count), SEGOPS_OK);
    assert_int_equal(count, 1);
    expect_events(seen, 0, "disk", 0, 5);
    segops__spool_usage(s, &u);
    assert_true(u.own_caught_up);
    assert_int_equal(append_events(s, "mem", 5, 1, 1000, true, NULL), SEGOPS_OK);
    /* Bad payloads are refused before anything is written. */
    segops__spool_item_t bad[2] = {{"{}", 2, 0}, {"{\"a\":\"\xff\"}", 9, 0}};
    assert_int_equal(segops__spool_append(s, bad, 2, false, NULL, &appended), SEGOPS_E_INVALID_ARG);
    assert_int_equal(appended, 0);
    segops__spool_close(s);
    free(seen);
}

static void test_unacked_records_survive_close_and_are_adopted(void **state) {
    (void)state;
    const char *dir = fresh_dir("restart");
    segops__spool_limits_t l = limits(0);
    segops__spool_t *s = open_spool(dir, &l);
    assert_int_equal(append_events(s, "r", 0, 30, 1000, false, NULL), SEGOPS_OK);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 30);
    /* Settle 1..10 in order and 15 out of order: the cursor (1..10) and the
     * range above it (15) are both on disk, so neither comes back. */
    for (size_t i = 0; i < 10; i++) assert_int_equal(segops__spool_ack(s, seen->pos[i]), SEGOPS_OK);
    assert_int_equal(segops__spool_ack(s, seen->pos[14]), SEGOPS_OK);
    segops__spool_close(s);
    free(seen);
    assert_int_equal(count_entries(dir, "run-"), 1);

    segops__spool_t *next = open_spool(dir, &l);
    segops__spool_usage_t u;
    segops__spool_usage(next, &u);
    assert_int_equal(u.adopted_runs, 1);
    seen = read_all(next, 1000);
    assert_int_equal(seen->count, 19);
    expect_events(seen, 0, "r", 10, 4);
    expect_events(seen, 4, "r", 15, 15);
    for (size_t i = 0; i < 19; i++) assert_true(seen->adopted[i]);
    ack_seen(next, seen);
    segops__spool_usage(next, &u);
    assert_int_equal(u.adopted_runs, 0); /* drained and settled: deleted */
    segops__spool_close(next);
    assert_int_equal(count_entries(dir, "run-"), 0);
    free(seen);
}

static void test_two_spools_in_one_process_never_share(void **state) {
    (void)state;
    /* flock belongs to the open file description: a second client in the same
     * process must find the first one's run locked (POSIX locks would not). */
    const char *dir = fresh_dir("twolive");
    segops__spool_limits_t l = limits(0);
    segops__spool_t *a = open_spool(dir, &l);
    assert_int_equal(append_events(a, "a", 0, 10, 1000, false, NULL), SEGOPS_OK);
    segops__spool_t *b = open_spool(dir, &l);
    assert_int_equal(append_events(b, "b", 0, 3, 1000, false, NULL), SEGOPS_OK);
    assert_int_equal(segops__spool_adopt(b), 0);
    seen_t *seen = read_all(b, 1000);
    assert_int_equal(seen->count, 3);
    expect_events(seen, 0, "b", 0, 3);
    free(seen);
    seen = read_all(a, 1000);
    assert_int_equal(seen->count, 10);
    expect_events(seen, 0, "a", 0, 10);
    free(seen);
    /* Once a is gone (closed with its records unsettled), b adopts them. */
    segops__spool_close(a);
    assert_int_equal(segops__spool_adopt(b), 1);
    seen = read_all(b, 1000);
    assert_int_equal(seen->count, 10);
    expect_events(seen, 0, "a", 0, 10);
    free(seen);
    segops__spool_close(b);
}

static void test_live_child_is_not_adopted_then_killed_child_is(void **state) {
    (void)state;
    const char *dir = fresh_dir("child");
    segops__spool_limits_t l = limits(2048); /* several segments */
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(go[1]); /* a parent that dies ends the wait below */
        segops__spool_t *s = NULL;
        CHILD_CHECK(segops__spool_open(dir, &l, &s, NULL, 0) == SEGOPS_OK);
        size_t appended = 0;
        CHILD_CHECK(append_events(s, "child", 0, 50, 1000, false, &appended) == SEGOPS_OK);
        CHILD_CHECK(appended == 50);
        char c = 'r';
        CHILD_CHECK(write(ready[1], &c, 1) == 1);
        CHILD_CHECK(read(go[0], &c, 1) == 1); /* blocks until killed */
        _exit(0);
    }
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    segops__spool_t *s = open_spool(dir, &l);
    segops__spool_usage_t u;
    segops__spool_usage(s, &u);
    assert_int_equal(u.adopted_runs, 0); /* the child lives and holds its run */
    assert_int_equal(append_events(s, "parent", 0, 5, 1000, false, NULL), SEGOPS_OK);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 5);
    expect_events(seen, 0, "parent", 0, 5);
    ack_seen(s, seen);
    free(seen);

    kill(pid, SIGKILL);
    int status = wait_child(pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(segops__spool_adopt(s), 1);
    seen = read_all(s, 1000);
    assert_int_equal(seen->count, 50); /* every record the child appended */
    expect_events(seen, 0, "child", 0, 50);
    ack_seen(s, seen);
    segops__spool_losses_t losses;
    segops__spool_take_losses(s, &losses);
    assert_int_equal(losses.corrupt + losses.corrupt_bytes, 0);
    free(seen);
    segops__spool_close(s);
    assert_int_equal(count_entries(dir, "run-"), 0);
    close(ready[0]);
    close(go[0]);
    close(go[1]);
}

static void test_kill_mid_stream_loses_nothing_appended(void **state) {
    (void)state;
    const char *dir = fresh_dir("kill9");
    segops__spool_limits_t l = limits(64 << 10);
    int progress[2];
    assert_int_equal(pipe(progress), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(progress[0]);
        segops__spool_t *s = NULL;
        CHILD_CHECK(segops__spool_open(dir, &l, &s, NULL, 0) == SEGOPS_OK);
        for (uint32_t done = 0;; done += 20) {
            if (done == 40000) pause(); /* the parent kills it long before */
            CHILD_CHECK(append_events(s, "k", done, 20, 1000, false, NULL) == SEGOPS_OK);
            uint32_t total = done + 20;
            if (write(progress[1], &total, sizeof total) != sizeof total) _exit(2);
        }
    }
    close(progress[1]);
    uint32_t acknowledged = 0, total;
    while (acknowledged < 3000 && read(progress[0], &total, sizeof total) == sizeof total)
        acknowledged = total;
    kill(pid, SIGKILL);
    assert_true(WIFSIGNALED(wait_child(pid)));
    while (read(progress[0], &total, sizeof total) == sizeof total) acknowledged = total;
    close(progress[0]);

    segops__spool_t *s = open_spool(dir, &l);
    seen_t *seen = read_all(s, 1000);
    /* Every append that returned is there, in order, and nothing else but
     * (at most) the batch being written at the kill. */
    assert_true(seen->count >= acknowledged && seen->count <= acknowledged + 20);
    expect_events(seen, 0, "k", 0, seen->count);
    segops__spool_losses_t losses;
    segops__spool_take_losses(s, &losses);
    assert_true(losses.corrupt <= 20);
    free(seen);
    segops__spool_close(s);
}

static void test_segments_rotate_and_settled_ones_are_deleted(void **state) {
    (void)state;
    const char *dir = fresh_dir("segments");
    segops__spool_limits_t l = limits(4096);
    segops__spool_t *s = open_spool(dir, &l);
    char run[600];
    assert_true(find_run(dir, NULL, run, sizeof run));
    assert_int_equal(append_events(s, "s", 0, 200, 1000, false, NULL), SEGOPS_OK);
    size_t segs = count_entries(run, "0");
    assert_true(segs >= 5);
    segops__spool_usage_t u;
    segops__spool_usage(s, &u);
    assert_int_equal(u.disk_bytes, seg_bytes(run));
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 200);
    /* Settling the first half deletes the segments that hold only those. */
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(segops__spool_ack(s, seen->pos[i]), SEGOPS_OK);
    size_t half = count_entries(run, "0");
    assert_true(half < segs && half > 1);
    segops__spool_usage(s, &u);
    assert_int_equal(u.disk_bytes, seg_bytes(run));
    /* Settling the rest in reverse (out of order) leaves only the one being written. */
    for (size_t i = 200; i-- > 100;)
        assert_int_equal(segops__spool_ack(s, seen->pos[i]), SEGOPS_OK);
    assert_int_equal(count_entries(run, "0"), 1);
    segops__spool_usage(s, &u);
    assert_int_equal(u.disk_bytes, seg_bytes(run));
    free(seen);
    segops__spool_close(s);
    assert_int_equal(count_entries(dir, "run-"), 0);
}

/* Records settled out of order above an unsettled one: the segments that hold
 * only those are deleted at once (the spool is not jammed by the oldest
 * record), and the settled range survives a restart unless its block in the
 * ack file is damaged, when those records come back: sent twice, never lost. */
static void test_ranges_settled_out_of_order(void **state) {
    (void)state;
    for (int damage = 0; damage < 2; damage++) {
        const char *dir = fresh_dir(damage ? "ranges_damaged" : "ranges");
        segops__spool_limits_t l = limits(4096);
        segops__spool_t *s = open_spool(dir, &l);
        char run[600];
        assert_true(find_run(dir, NULL, run, sizeof run));
        assert_int_equal(append_events(s, "o", 0, 200, 1000, false, NULL), SEGOPS_OK);
        size_t segs = count_entries(run, "0");
        seen_t *seen = read_all(s, 1000);
        assert_int_equal(seen->count, 200);
        for (size_t i = 1; i < 150; i++) /* all but the first, of 150 */
            assert_int_equal(segops__spool_ack(s, seen->pos[i]), SEGOPS_OK);
        assert_true(count_entries(run, "0") < segs - 1);
        free(seen);
        segops__spool_close(s);
        if (damage) {
            char ack[700];
            snprintf(ack, sizeof ack, "%s/ack", run);
            int fd = open(ack, O_RDWR);
            assert_true(fd >= 0);
            uint8_t byte = 0x55;
            assert_int_equal(pwrite(fd, &byte, 1, 64 + 20), 1); /* inside the ranges block */
            close(fd);
        }
        segops__spool_t *next = open_spool(dir, &l);
        seen = read_all(next, 1000);
        if (damage) { /* the cursor alone: what the deleted segments held is gone for good */
            assert_true(seen->count > 51 && seen->count < 200);
            expect_events(seen, 0, "o", 0, 1);
        } else {
            assert_int_equal(seen->count, 51);
            expect_events(seen, 0, "o", 0, 1);
            expect_events(seen, 1, "o", 150, 50);
        }
        ack_seen(next, seen);
        free(seen);
        segops__spool_close(next);
        assert_int_equal(count_entries(dir, "run-"), 0);
    }
}

static void test_max_bytes_and_drop_oldest(void **state) {
    (void)state;
    const char *dir = fresh_dir("maxbytes");
    segops__spool_limits_t l = limits(8192);
    l.max_bytes = 32768;
    segops__spool_t *s = open_spool(dir, &l);
    char run[600];
    assert_true(find_run(dir, NULL, run, sizeof run));
    size_t appended;
    assert_int_equal(append_events(s, "m", 0, 1000, 1000, false, &appended), SEGOPS_E_QUEUE_FULL);
    assert_true(appended > 100 && appended < 1000);
    segops__spool_usage_t u;
    segops__spool_usage(s, &u);
    assert_true(u.disk_bytes <= l.max_bytes);
    assert_int_equal(u.disk_bytes, seg_bytes(run));
    /* Full: nothing more fits, and nothing was written. */
    size_t more;
    assert_int_equal(append_events(s, "m", appended, 1, 1000, false, &more), SEGOPS_E_QUEUE_FULL);
    assert_int_equal(more, 0);
    /* Dropping the oldest segment's records frees its file. */
    assert_int_equal(segops__spool_drop_oldest(s), SEGOPS_OK);
    segops__spool_losses_t losses;
    segops__spool_take_losses(s, &losses);
    assert_true(losses.overflow > 0);
    assert_int_equal(losses.adopted, 0);
    segops__spool_usage_t after;
    segops__spool_usage(s, &after);
    assert_true(after.disk_bytes < u.disk_bytes);
    assert_int_equal(append_events(s, "m", appended, 1, 1000, false, &more), SEGOPS_OK);
    /* What is left to read is exactly what was not dropped, in order. */
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, appended + 1 - losses.overflow);
    expect_events(seen, 0, "m", losses.overflow, seen->count);
    free(seen);
    segops__spool_close(s);
}

static void test_max_age_drops_old_records(void **state) {
    (void)state;
    const char *dir = fresh_dir("maxage");
    segops__spool_limits_t l = limits(0);
    l.max_age_ms = 10000;
    segops__spool_t *s = open_spool(dir, &l);
    assert_int_equal(append_events(s, "old", 0, 7, 1000, false, NULL), SEGOPS_OK);
    assert_int_equal(append_events(s, "new", 0, 3, 50000, false, NULL), SEGOPS_OK);
    assert_int_equal(segops__spool_expire(s, 20000), SEGOPS_OK); /* old: 19 s > 10 s */
    segops__spool_losses_t losses;
    segops__spool_take_losses(s, &losses);
    assert_int_equal(losses.expired, 7);
    assert_int_equal(losses.adopted, 0);
    seen_t *seen = read_all(s, 20000);
    assert_int_equal(seen->count, 3);
    expect_events(seen, 0, "new", 0, 3);
    free(seen);
    segops__spool_close(s);
    /* Read drops them too, and counts earlier runs' as adopted (recovered). */
    segops__spool_t *next = open_spool(dir, &l);
    seen = read_all(next, 70000);
    assert_int_equal(seen->count, 0);
    segops__spool_take_losses(next, &losses);
    assert_int_equal(losses.expired, 3);
    assert_int_equal(losses.adopted, 3);
    free(seen);
    segops__spool_close(next);
    assert_int_equal(count_entries(dir, "run-"), 0);
}

/* ---- damage in files earlier processes left ---------------------------- */

static void test_truncated_tail_at_every_offset(void **state) {
    (void)state;
    const char *dir = fresh_dir("truncated");
    uint8_t *image;
    size_t len = write_dead_run(dir, "run-0000000000000001-1-00000000", 1, 5, &image);
    char last_json[128];
    event_json(last_json, sizeof last_json, "dead", 5);
    size_t last = len - SEGOPS__SPOOL_RECORD_HEADER - strlen(last_json);
    char seg[600];
    snprintf(seg, sizeof seg, "%s/run-0000000000000001-1-00000000/%016x.seg", dir, 1);
    segops__spool_limits_t l = limits(0);
    for (size_t cut = last; cut < len; cut++) {
        write_file(seg, image, cut);
        segops__spool_t *s = open_spool(dir, &l);
        seen_t *seen = read_all(s, 1000);
        assert_int_equal(seen->count, 4);
        expect_events(seen, 0, "dead", 1, 4);
        segops__spool_losses_t losses;
        segops__spool_take_losses(s, &losses);
        assert_int_equal(losses.corrupt, cut == last ? 0 : 1);
        assert_int_equal(losses.corrupt_bytes, cut - last);
        assert_int_equal(losses.adopted, losses.corrupt);
        free(seen);
        /* Closed without acking: the records stay, the damaged tail does not,
         * so the next reader reports nothing again. */
        segops__spool_close(s);
        s = open_spool(dir, &l);
        seen = read_all(s, 1000);
        assert_int_equal(seen->count, 4);
        segops__spool_take_losses(s, &losses);
        assert_int_equal(losses.corrupt + losses.corrupt_bytes, 0);
        ack_seen(s, seen);
        segops__spool_close(s);
        free(seen);
        assert_int_equal(count_entries(dir, "run-"), 0);
        if (cut + 1 < len) {
            free(image);
            len = write_dead_run(dir, "run-0000000000000001-1-00000000", 1, 5, &image);
        }
    }
    free(image);
}

static void test_damage_in_the_middle_is_counted_by_seq(void **state) {
    (void)state;
    const char *dir = fresh_dir("middle");
    uint8_t *image;
    size_t len = write_dead_run(dir, "run-0000000000000001-1-00000000", 1, 10, &image);
    char seg[600];
    snprintf(seg, sizeof seg, "%s/run-0000000000000001-1-00000000/%016x.seg", dir, 1);
    /* Flip a bit in records 3 and 4 (one region), and put garbage after 7. */
    size_t off = 0, starts[11];
    for (size_t i = 1; i <= 10; i++) {
        char json[128];
        event_json(json, sizeof json, "dead", i);
        starts[i] = off;
        off += SEGOPS__SPOOL_RECORD_HEADER + strlen(json);
    }
    image[starts[3] + 40] ^= 0x02;
    image[starts[4] + 10] ^= 0x02;
    uint8_t *edited = malloc(len + 16);
    memcpy(edited, image, starts[8]);
    memcpy(edited + starts[8], "garbage-garbage!", 16);
    memcpy(edited + starts[8] + 16, image + starts[8], len - starts[8]);
    write_file(seg, edited, len + 16);
    segops__spool_limits_t l = limits(0);
    segops__spool_t *s = open_spool(dir, &l);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 8);
    expect_events(seen, 0, "dead", 1, 2);
    expect_events(seen, 2, "dead", 5, 6);
    segops__spool_losses_t losses;
    segops__spool_take_losses(s, &losses);
    assert_int_equal(losses.corrupt, 2); /* exactly seqs 3 and 4 */
    assert_int_equal(losses.corrupt_bytes, starts[5] - starts[3] + 16);
    ack_seen(s, seen);
    segops__spool_close(s);
    assert_int_equal(count_entries(dir, "run-"), 0);
    free(seen);
    free(image);
    free(edited);
}

/* The reader counts as lost only the seqs of a gap that are still owed: those
 * settled out of order (ranges above the cursor) cost nothing. */
static void test_acks_count_unsettled_seqs(void **state) {
    (void)state;
    segops__spool_acks_t acks;
    memset(&acks, 0, sizeof acks);
    acks.fd = -1;
    assert_int_equal(segops__spool_acks_settle(&acks, 1, 10), SEGOPS_OK); /* the cursor */
    assert_int_equal(segops__spool_acks_settle(&acks, 15, 16), SEGOPS_OK);
    assert_int_equal(segops__spool_acks_settle(&acks, 20, 29), SEGOPS_OK);
    assert_int_equal(acks.cursor, 10);
    assert_int_equal(segops__spool_acks_unsettled(&acks, 1, 10), 0);
    assert_int_equal(segops__spool_acks_unsettled(&acks, 5, 14), 4);  /* 11..14 */
    assert_int_equal(segops__spool_acks_unsettled(&acks, 11, 30), 8); /* 11..14, 17..19, 30 */
    assert_int_equal(segops__spool_acks_unsettled(&acks, 16, 16), 0);
    assert_int_equal(segops__spool_acks_unsettled(&acks, 25, 40), 11); /* 30..40 */
    assert_int_equal(segops__spool_acks_unsettled(&acks, 12, 11), 0);  /* empty */
    segops__spool_acks_close(&acks, false);
}

static void test_foreign_entries_are_left_alone(void **state) {
    (void)state;
    const char *dir = fresh_dir("foreign");
    mkdir(dir, 0700);
    char path[1024], target[600];
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    write_file(path, "hello", 5);
    /* A symlink named like a run, to a run elsewhere: never followed. */
    write_dead_run(root, "linked-target", 1, 3, NULL);
    snprintf(target, sizeof target, "%s/linked-target", root);
    snprintf(path, sizeof path, "%s/run-0000000000000002-2-00000000", dir);
    assert_int_equal(symlink(target, path), 0);
    segops__spool_limits_t l = limits(0);
    segops__spool_t *s = open_spool(dir, &l);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 0);
    free(seen);
    segops__spool_close(s);
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/%016x.seg", target, 1);
    assert_int_equal(access(path, F_OK), 0);
    remove_tree(target);
}

static void test_other_users_runs_are_not_adopted(void **state) {
    (void)state;
    if (geteuid() != 0) SEGOPS_SKIP("only root can give files away", SKIP_INSTALLABLE);
    const char *dir = fresh_dir("owner");
    write_dead_run(dir, "run-0000000000000001-1-00000000", 1, 3, NULL);
    write_dead_run(dir, "run-0000000000000002-1-00000000", 1, 3, NULL);
    char path[600];
    snprintf(path, sizeof path, "%s/run-0000000000000001-1-00000000", dir);
    assert_int_equal(chown(path, 65534, 65534), 0); /* a run of another user */
    snprintf(path, sizeof path, "%s/run-0000000000000002-1-00000000/%016x.seg", dir, 1);
    assert_int_equal(chown(path, 65534, 65534), 0); /* a planted segment */
    segops__spool_limits_t l = limits(0);
    segops__spool_t *s = open_spool(dir, &l);
    segops__spool_usage_t u;
    segops__spool_usage(s, &u);
    assert_int_equal(u.adopted_runs, 0); /* one refused, the other holds nothing of ours */
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 0);
    free(seen);
    segops__spool_close(s);
    snprintf(path, sizeof path, "%s/run-0000000000000001-1-00000000/%016x.seg", dir, 1);
    assert_int_equal(access(path, F_OK), 0); /* left alone */
    snprintf(path, sizeof path, "%s/run-0000000000000002-1-00000000/%016x.seg", dir, 1);
    assert_int_equal(access(path, F_OK), 0);
}

static void test_adoption_is_bounded(void **state) {
    (void)state;
    const char *dir = fresh_dir("bounded");
    write_dead_run(dir, "run-0000000000000001-1-00000000", 1, 2, NULL);
    write_dead_run(dir, "run-0000000000000002-1-00000000", 1, 2, NULL);
    write_dead_run(dir, "run-0000000000000003-1-00000000", 1, 2, NULL);
    segops__spool_limits_t l = limits(0);
    l.max_adopted = 2;
    segops__spool_t *s = open_spool(dir, &l);
    segops__spool_usage_t u;
    segops__spool_usage(s, &u);
    assert_int_equal(u.adopted_runs, 2);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 4);
    ack_seen(s, seen);
    free(seen);
    assert_int_equal(segops__spool_adopt(s), 1); /* the third, once room is made */
    seen = read_all(s, 1000);
    assert_int_equal(seen->count, 2);
    ack_seen(s, seen);
    free(seen);
    segops__spool_close(s);
    assert_int_equal(count_entries(dir, "run-"), 0);
}

/* ---- threads ----------------------------------------------------------- */

typedef struct writer {
    segops__spool_t *spool;
    segops_err_t err; /* the first failure, read after join */
} writer_t;

static void *write_batches(void *arg) {
    writer_t *w = arg;
    for (size_t i = 0; i < 2000 && w->err == SEGOPS_OK; i += 10)
        w->err = append_events(w->spool, "t", i, 10, 1000, false, NULL);
    return NULL;
}

static void test_concurrent_append_read_ack(void **state) {
    (void)state;
    const char *dir = fresh_dir("threads");
    segops__spool_limits_t l = limits(8192);
    segops__spool_t *s = open_spool(dir, &l);
    writer_t w = {s, SEGOPS_OK};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, write_batches, &w), 0);
    seen_t *seen = calloc(1, sizeof *seen);
    size_t acked = 0;
    while (seen->count < 2000) {
        size_t count;
        assert_int_equal(segops__spool_read(s, 1000, 64, take, seen, &count), SEGOPS_OK);
        for (; acked < seen->count; acked++)
            assert_int_equal(segops__spool_ack(s, seen->pos[acked]), SEGOPS_OK);
        if (!count) sched_yield();
    }
    pthread_join(thread, NULL);
    assert_int_equal(w.err, SEGOPS_OK);
    expect_events(seen, 0, "t", 0, 2000);
    free(seen);
    segops__spool_close(s);
    assert_int_equal(count_entries(dir, "run-"), 0);
}

/* ---- fork -------------------------------------------------------------- */

static void test_fork_child_never_touches_parent_files(void **state) {
    (void)state;
    const char *dir = fresh_dir("fork");
    segops__spool_limits_t l = limits(0);
    segops__spool_t *s = open_spool(dir, &l);
    assert_int_equal(append_events(s, "p", 0, 5, 1000, false, NULL), SEGOPS_OK);
    char run[600];
    assert_true(find_run(dir, NULL, run, sizeof run));
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    segops__spool_fork_prepare(s);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        segops__spool_fork_child(s);
        close(ready[0]);
        close(go[1]);
        CHILD_CHECK(append_events(s, "c", 0, 1, 1000, false, NULL) == SEGOPS_E_STATE);
        seen_t *dummy = calloc(1, sizeof *dummy);
        CHILD_CHECK(segops__spool_read(s, 1000, 10, take, dummy, NULL) == SEGOPS_E_STATE);
        /* The parent's lock is still held while the child lives. */
        int fd = open(run, O_RDONLY | O_DIRECTORY);
        CHILD_CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK);
        close(fd);
        char c = 'r';
        CHILD_CHECK(write(ready[1], &c, 1) == 1);
        CHILD_CHECK(read(go[0], &c, 1) == 1);
        segops__spool_close(s); /* frees memory only */
        _exit(0);
    }
    segops__spool_fork_parent(s);
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    /* The parent's files are intact and it goes on as before. */
    assert_int_equal(append_events(s, "p", 5, 5, 1000, false, NULL), SEGOPS_OK);
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, 10);
    expect_events(seen, 0, "p", 0, 10);
    ack_seen(s, seen);
    free(seen);
    /* While the child still lives, the parent's close releases the run: the
     * child holds no descriptor of it. */
    assert_int_equal(append_events(s, "p", 10, 2, 1000, false, NULL), SEGOPS_OK);
    segops__spool_close(s);
    segops__spool_t *other = open_spool(dir, &l);
    seen = read_all(other, 1000);
    assert_int_equal(seen->count, 2);
    expect_events(seen, 0, "p", 10, 2);
    free(seen);
    segops__spool_close(other);
    assert_int_equal(write(go[1], &c, 1), 1);
    int status = wait_child(pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(ready[0]);
    close(go[0]);
    close(go[1]);
}

/* ---- unusable directories ---------------------------------------------- */

static segops_err_t try_open(const char *dir, char *why, size_t len) {
    segops__spool_t *s = NULL;
    segops__spool_limits_t l = limits(0);
    why[0] = '\0';
    segops_err_t err = segops__spool_open(dir, &l, &s, why, len);
    if (err == SEGOPS_OK)
        segops__spool_close(s);
    else
        assert_null(s);
    return err;
}

static void test_unusable_directories(void **state) {
    (void)state;
    char why[256], path[600];
    snprintf(path, sizeof path, "%s/no/such/parent", root);
    assert_int_equal(try_open(path, why, sizeof why), SEGOPS_E_CONFIG);
    assert_non_null(strstr(why, "parent directory does not exist"));
    assert_null(strchr(why, '\n'));

    snprintf(path, sizeof path, "%s/a-file", root);
    write_file(path, "x", 1);
    assert_int_equal(try_open(path, why, sizeof why), SEGOPS_E_CONFIG);
    assert_non_null(strstr(why, "not a directory"));
    snprintf(path, sizeof path, "%s/a-file/sub", root);
    assert_int_equal(try_open(path, why, sizeof why), SEGOPS_E_CONFIG);
    assert_non_null(strstr(why, "not a directory"));

    /* The last component is created. */
    const char *made = fresh_dir("made");
    assert_int_equal(try_open(made, why, sizeof why), SEGOPS_OK);
    struct stat st;
    assert_int_equal(stat(made, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    segops__spool_t *s = (segops__spool_t *)&st;
    segops__spool_limits_t l = limits(0);
    assert_int_equal(segops__spool_open("", &l, &s, why, sizeof why), SEGOPS_E_INVALID_ARG);
    assert_null(s);
}

static void test_no_permission(void **state) {
    (void)state;
    const char *dir = fresh_dir("readonly-perm");
    assert_int_equal(mkdir(dir, 0555), 0);
    assert_int_equal(chmod(dir, 0555), 0);
    /* root ignores permission bits: check as an unprivileged user in a child. */
    int out[2];
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
        char why[256] = "";
        segops__spool_t *s = NULL;
        segops__spool_limits_t l = limits(0);
        segops_err_t err = segops__spool_open(dir, &l, &s, why, sizeof why);
        CHILD_CHECK(write(out[1], why, sizeof why) == sizeof why);
        _exit(err == SEGOPS_E_CONFIG && !s ? 0 : 1);
    }
    char why[256];
    assert_int_equal(read(out[0], why, sizeof why), sizeof why);
    int status = wait_child(pid);
    close(out[0]);
    close(out[1]);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
        SEGOPS_SKIP("cannot become nobody", SKIP_MACHINE_CANNOT);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(why, "no permission"));
}

/* A tmpfs of `size` bytes at a fresh path, in this process's private mount
 * namespace (set up in main); NULL when mounting is not permitted. */
static const char *mount_tmpfs(const char *name, const char *options) {
    if (!can_mount) return NULL;
    const char *dir = fresh_dir(name);
    static char path[512];
    snprintf(path, sizeof path, "%s", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    if (mount("tmpfs", path, "tmpfs", 0, options) != 0) return NULL;
    return path;
}

static void test_read_only_file_system(void **state) {
    (void)state;
    const char *mnt = mount_tmpfs("rofs", "size=1m");
    if (!mnt) {
        SEGOPS_SKIP("mounting a tmpfs is not permitted here", geteuid() != 0);
    }
    char spool[600], why[256];
    snprintf(spool, sizeof spool, "%s/spool", mnt);
    assert_int_equal(mkdir(spool, 0700), 0);
    assert_int_equal(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT | MS_RDONLY, "size=1m"), 0);
    assert_int_equal(try_open(spool, why, sizeof why), SEGOPS_E_CONFIG);
    assert_non_null(strstr(why, "read-only file system"));
    /* The spool directory itself missing on a read-only file system. */
    snprintf(spool, sizeof spool, "%s/missing", mnt);
    assert_int_equal(try_open(spool, why, sizeof why), SEGOPS_E_CONFIG);
    assert_non_null(strstr(why, "read-only file system"));
    umount(mnt);
}

static void test_disk_full(void **state) {
    (void)state;
    const char *mnt = mount_tmpfs("full", "size=64k");
    if (!mnt) {
        SEGOPS_SKIP("mounting a tmpfs is not permitted here", geteuid() != 0);
    }
    char spool[600], run[600];
    snprintf(spool, sizeof spool, "%s/spool", mnt);
    segops__spool_limits_t l = limits(16384);
    segops__spool_t *s = open_spool(spool, &l);
    assert_true(find_run(spool, NULL, run, sizeof run));
    size_t total = 0, appended = 0;
    segops_err_t err = SEGOPS_OK;
    for (int round = 0; round < 1000 && err == SEGOPS_OK; round++) {
        err = append_events(s, "f", total, 50, 1000, false, &appended);
        total += appended;
    }
    assert_int_equal(err, SEGOPS_E_IO);
    char line[256];
    segops__spool_describe_error(s, line, sizeof line);
    assert_non_null(strstr(line, "No space left on device"));
    assert_null(strchr(line, '\n'));
    /* No half-written record is left behind, and the accounting matches the files. */
    segops__spool_usage_t u;
    segops__spool_usage(s, &u);
    assert_int_equal(u.disk_bytes, seg_bytes(run));
    seen_t *seen = read_all(s, 1000);
    assert_int_equal(seen->count, total);
    expect_events(seen, 0, "f", 0, total);
    segops__spool_losses_t losses;
    segops__spool_take_losses(s, &losses);
    assert_int_equal(losses.corrupt_bytes, 0);
    /* Once space is freed, appends work again. */
    ack_seen(s, seen);
    free(seen);
    assert_int_equal(append_events(s, "f", total, 5, 1000, false, &appended), SEGOPS_OK);
    seen = read_all(s, 1000);
    expect_events(seen, 0, "f", total, 5);
    ack_seen(s, seen);
    free(seen);
    segops__spool_close(s);
    umount(mnt);
}

/* ---- allocation failures ----------------------------------------------- */

/* Open, append, read and settle with the Nth allocation failing, for every N:
 * each failure surfaces as SEGOPS_E_NOMEM (or is absorbed) and leaks nothing. */
static void test_allocation_failures(void **state) {
    (void)state;
    segops__spool_limits_t l = limits(1024);
    bool finished = false;
    for (long n = 0; n < 500 && !finished; n++) {
        const char *dir = fresh_dir("nomem");
        write_dead_run(dir, "run-0000000000000001-1-00000000", 1, 5, NULL);
        long live = segops__alloc_test_live();
        uint64_t attempts = segops__alloc_test_count();
        segops__alloc_test_set_fail_after(n);
        segops__spool_t *s = NULL;
        char why[256];
        segops_err_t err = segops__spool_open(dir, &l, &s, why, sizeof why);
        if (err == SEGOPS_OK) {
            err = append_events(s, "n", 0, 30, 1000, false, NULL);
            assert_true(err == SEGOPS_OK || err == SEGOPS_E_NOMEM);
            seen_t *seen = calloc(1, sizeof *seen);
            err = segops__spool_read(s, 1000, SIZE_MAX, take, seen, NULL);
            assert_true(err == SEGOPS_OK || err == SEGOPS_E_NOMEM);
            for (size_t i = seen->count; i-- > 0;) { /* in reverse: ranges allocate */
                err = segops__spool_ack(s, seen->pos[i]);
                assert_true(err == SEGOPS_OK || err == SEGOPS_E_NOMEM);
            }
            free(seen);
            segops__spool_close(s);
        } else {
            assert_int_equal(err, SEGOPS_E_NOMEM);
            assert_null(s);
        }
        finished = segops__alloc_test_count() - attempts <= (uint64_t)n;
        segops__alloc_test_set_fail_after(-1);
        assert_int_equal(segops__alloc_test_live(), live);
        if (finished) print_message("allocation failure points tried: %ld\n", n);
    }
    assert_true(finished);
}

/* ---- the cost of durability (printed, not asserted) -------------------- */

static int by_value(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void test_sync_cost(void **state) {
    (void)state;
    const char *dir = fresh_dir("synccost");
    segops__spool_limits_t l = limits(0);
    l.durable = true;
    segops__spool_t *s = open_spool(dir, &l);
    enum { ROUNDS = 100 };
    int64_t append_us[ROUNDS], sync_us[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        int64_t t0 = now_us();
        assert_int_equal(append_events(s, "sync", (size_t)i * 20, 20, 1000, true, NULL), SEGOPS_OK);
        int64_t t1 = now_us();
        assert_int_equal(segops__spool_sync(s), SEGOPS_OK);
        append_us[i] = t1 - t0;
        sync_us[i] = now_us() - t1;
    }
    qsort(append_us, ROUNDS, sizeof *append_us, by_value);
    qsort(sync_us, ROUNDS, sizeof *sync_us, by_value);
    print_message(
        "spool cost on %s: append of 20 events p50 %lld us; sync p50 %lld us, p90 %lld us\n", root,
        (long long)append_us[ROUNDS / 2], (long long)sync_us[ROUNDS / 2],
        (long long)sync_us[ROUNDS * 9 / 10]);
    /* Everything appended was handed out: acking it all leaves nothing. */
    assert_int_equal(segops__spool_ack_range(s, SEGOPS__SPOOL_OWN_RUN, 1, ROUNDS * 20), SEGOPS_OK);
    segops__spool_close(s);
    assert_int_equal(count_entries(dir, "run-"), 0);
}

static int setup_root(void **state) {
    (void)state;
    snprintf(root, sizeof root, "/tmp/segops-test-spool-XXXXXX");
    assert_non_null(mkdtemp(root));
    chmod(root, 0755); /* the unprivileged child of test_no_permission walks through it */
    return 0;
}

/* Every test frees what the spool allocated. */
static long live_before;
static int note_live(void **state) {
    (void)state;
    live_before = segops__alloc_test_live();
    return 0;
}
static int check_live(void **state) {
    (void)state;
    assert_int_equal(segops__alloc_test_live(), live_before);
    return 0;
}

static int teardown_root(void **state) {
    (void)state;
    remove_tree(root);
    return 0;
}

int main(void) {
    /* A private mount namespace (root only) makes tmpfs mounts possible
     * without anything leaking to the rest of the machine. */
    can_mount = geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
                mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acks_count_unsettled_seqs),
        cmocka_unit_test_setup_teardown(test_append_read_ack_close_removes_run, note_live,
                                        check_live),
        cmocka_unit_test_setup_teardown(test_hand_out_and_refusal, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_unacked_records_survive_close_and_are_adopted,
                                        note_live, check_live),
        cmocka_unit_test_setup_teardown(test_two_spools_in_one_process_never_share, note_live,
                                        check_live),
        cmocka_unit_test_setup_teardown(test_live_child_is_not_adopted_then_killed_child_is,
                                        note_live, check_live),
        cmocka_unit_test_setup_teardown(test_kill_mid_stream_loses_nothing_appended, note_live,
                                        check_live),
        cmocka_unit_test_setup_teardown(test_segments_rotate_and_settled_ones_are_deleted,
                                        note_live, check_live),
        cmocka_unit_test_setup_teardown(test_ranges_settled_out_of_order, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_max_bytes_and_drop_oldest, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_max_age_drops_old_records, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_truncated_tail_at_every_offset, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_damage_in_the_middle_is_counted_by_seq, note_live,
                                        check_live),
        cmocka_unit_test_setup_teardown(test_foreign_entries_are_left_alone, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_other_users_runs_are_not_adopted, note_live,
                                        check_live),
        cmocka_unit_test_setup_teardown(test_adoption_is_bounded, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_concurrent_append_read_ack, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_fork_child_never_touches_parent_files, note_live,
                                        check_live),
        cmocka_unit_test_setup_teardown(test_unusable_directories, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_no_permission, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_read_only_file_system, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_disk_full, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_allocation_failures, note_live, check_live),
        cmocka_unit_test_setup_teardown(test_sync_cost, note_live, check_live),
    };
    return cmocka_run_group_tests(tests, setup_root, teardown_root);
}
