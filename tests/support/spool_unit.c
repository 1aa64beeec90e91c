/* Helpers of the spool layer's unit tests (tests/unit/test_spool_*.c): a scratch root,
 * spools with given limits, events appended and read back, runs written by hand. */
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

#include "spool_unit.h"

char root[256]; /* this test's scratch directory */

const char *fresh_dir(const char *name) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", root, name);
    remove_tree(path);
    return path;
}

segops__spool_limits_t limits(uint64_t segment_bytes) {
    segops__spool_limits_t l = {0};
    l.segment_bytes = segment_bytes;
    return l;
}

segops__spool_t *open_spool(const char *dir, const segops__spool_limits_t *l) {
    segops__spool_t *s = NULL;
    char why[256] = "";
    segops_err_t err = segops__spool_open(dir, l, &s, why, sizeof why);
    if (err != SEGOPS_OK) fail_msg("spool_open(%s) = %d: %s", dir, err, why);
    return s;
}

void event_json(char *out, size_t len, const char *tag, size_t i) {
    snprintf(out, len,
             "{\"user_id\":\"%s-%zu\",\"event_type\":\"order_placed\",\"occurred_at\":"
             "\"2026-11-18T11:06:40.123Z\",\"payload\":{\"n\":%zu}}",
             tag, i, i);
}

segops_err_t append_events(segops__spool_t *s, const char *tag, size_t from, size_t n,
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

bool take(void *ctx, const segops__spool_rec_t *rec) {
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

seen_t *read_all(segops__spool_t *s, int64_t now_ms) {
    seen_t *seen = calloc(1, sizeof *seen);
    size_t count = 0;
    assert_int_equal(segops__spool_read(s, now_ms, SIZE_MAX, take, seen, &count), SEGOPS_OK);
    assert_int_equal(count, seen->count);
    return seen;
}

void expect_events(const seen_t *seen, size_t at, const char *tag, size_t from, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char want[128];
        event_json(want, sizeof want, tag, from + i);
        assert_true(at + i < seen->count);
        assert_string_equal(seen->json[at + i], want);
    }
}

void ack_seen(segops__spool_t *s, const seen_t *seen) {
    for (size_t i = 0; i < seen->count; i += 7) {
        size_t n = seen->count - i < 7 ? seen->count - i : 7;
        assert_int_equal(segops__spool_ack_batch(s, seen->pos + i, n), SEGOPS_OK);
    }
}

size_t count_entries(const char *dir, const char *prefix) {
    size_t n = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    closedir(d);
    return n;
}

bool find_run(const char *dir, const char *except, char *out, size_t len) {
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

uint64_t seg_bytes(const char *run) {
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

void write_file(const char *path, const void *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

size_t write_dead_run(const char *dir, const char *name, size_t from, size_t to,
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

int wait_child(pid_t pid) {
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

int setup_root(void **state) {
    (void)state;
    snprintf(root, sizeof root, "/tmp/segops-test-spool-XXXXXX");
    assert_non_null(mkdtemp(root));
    chmod(root, 0755); /* the unprivileged child of test_no_permission walks through it */
    return 0;
}

int teardown_root(void **state) {
    (void)state;
    remove_tree(root);
    return 0;
}

static long live_before;
int note_live(void **state) {
    (void)state;
    live_before = segops__alloc_test_live();
    return 0;
}

int check_live(void **state) {
    (void)state;
    assert_int_equal(segops__alloc_test_live(), live_before);
    return 0;
}
