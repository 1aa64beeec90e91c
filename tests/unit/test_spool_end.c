/* The end of a run that crashed (src/spool_end.h): a spool appends records
 * (the end file then names the next seq: a mark that is not final), perhaps
 * syncs, and dies without closing (segops__spool_fork_child closes its
 * descriptors and writes nothing, as a kill -9 would). Its last segment is
 * then damaged and a second spool on the same directory reads the run: what
 * is missing below the mark is counted exactly. A power loss can keep records
 * written after the last sync and lose the mark's unsynced write (the end file
 * as it was at that sync): records beyond that mark are not promised, and
 * damage there costs one record per record start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "spooltest.h" /* remove_tree */

#define HEADER 32 /* a record's header (spool_record.h) */
#define TIME_MS 1700000000000

static char root[] = "/tmp/segops-spool-end-XXXXXX";

static segops__spool_t *open_spool(const char *dir) {
    segops__spool_limits_t l = {.segment_bytes = 2048, .durable = true};
    segops__spool_t *s = NULL;
    char why[256] = "";
    if (segops__spool_open(dir, &l, &s, why, sizeof why) != SEGOPS_OK)
        fail_msg("spool_open(%s): %s", dir, why);
    return s;
}

/* Appends records {"n":from} .. {"n":from+count-1}, one call each. */
static void append(segops__spool_t *s, int from, int count) {
    for (int i = from; i < from + count; i++) {
        char json[64];
        int len = snprintf(json, sizeof json, "{\"n\":%d,\"pad\":\"%040d\"}", i, i);
        segops__spool_item_t item = {json, (uint32_t)len, TIME_MS};
        size_t done = 0;
        assert_int_equal(segops__spool_append(s, &item, 1, false, NULL, &done), SEGOPS_OK);
        assert_int_equal(done, 1);
    }
}

/* The process dies: nothing more is written, nothing closed cleanly. */
static void crash(segops__spool_t *s) {
    segops__spool_fork_child(s);
    segops__spool_close(s);
}

/* The path of the last segment of the one run in dir, and its record offsets
 * (offsets[n] = its size): how many records it holds. */
static size_t last_segment(const char *dir, char *path, size_t path_len, size_t *offsets) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    char run[300] = "", last[256] = "";
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, "run-", 4)) snprintf(run, sizeof run, "%s/%s", dir, e->d_name);
    closedir(d);
    assert_true(run[0]);
    d = opendir(run);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".seg") && strcmp(e->d_name, last) > 0)
            snprintf(last, sizeof last, "%s", e->d_name);
    closedir(d);
    snprintf(path, path_len, "%s/%s", run, last);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    size_t n = 0, off = 0;
    uint8_t h[HEADER];
    while (pread(fd, h, HEADER, (off_t)off) == HEADER) {
        offsets[n++] = off;
        off +=
            HEADER + ((size_t)h[4] | (size_t)h[5] << 8 | (size_t)h[6] << 16 | (size_t)h[7] << 24);
    }
    offsets[n] = off;
    close(fd);
    return n;
}

typedef struct read_out {
    int count, last_n;
    segops__spool_pos_t last; /* of the last record taken */
    segops__spool_losses_t losses;
} read_out_t;

static bool take(void *ctx, const segops__spool_rec_t *rec) {
    read_out_t *out = ctx;
    char json[128]; /* rec->json is not NUL-terminated */
    snprintf(json, sizeof json, "%.*s", (int)rec->len, rec->json);
    int n = -1;
    assert_int_equal(sscanf(json, "{\"n\":%d", &n), 1);
    assert_int_equal(n, out->count); /* in order, none skipped */
    out->count++;
    out->last_n = n;
    out->last = rec->pos;
    return true;
}

/* A second spool reads the dead one's run to its end and settles what it
 * took, as a delivery would. */
static read_out_t read_back(const char *dir) {
    segops__spool_t *s = open_spool(dir);
    read_out_t out = {0};
    assert_int_equal(segops__spool_read(s, TIME_MS, SIZE_MAX, take, &out, NULL), SEGOPS_OK);
    segops__spool_take_losses(s, &out.losses);
    if (out.count)
        assert_int_equal(segops__spool_ack_range(s, out.last.run, 1, out.last.seq), SEGOPS_OK);
    segops__spool_close(s);
    return out;
}

static const char *fresh(const char *name) {
    static char path[300];
    snprintf(path, sizeof path, "%s/%s", root, name);
    remove_tree(path);
    return path;
}

/* Synced, then killed: the last segment deleted or cut at a record boundary
 * costs exactly its missing records, named in the place of the loss. */
static void test_missing_below_a_synced_mark_is_counted_exactly(void **state) {
    (void)state;
    for (int how = 0; how < 3; how++) {
        const char *dir = fresh("below");
        segops__spool_t *s = open_spool(dir);
        append(s, 0, 60);
        assert_int_equal(segops__spool_sync(s), SEGOPS_OK);
        crash(s);
        char path[700];
        size_t offsets[128];
        size_t n = last_segment(dir, path, sizeof path, offsets);
        assert_true(n >= 3 && n < 60);
        size_t lost = how == 0 ? n : how == 1 ? n : 2;
        if (how == 0) assert_int_equal(unlink(path), 0);
        if (how == 1) assert_int_equal(truncate(path, 0), 0);
        if (how == 2) assert_int_equal(truncate(path, (off_t)offsets[n - 2]), 0);
        read_out_t out = read_back(dir);
        assert_int_equal(out.count, 60 - (int)lost);
        assert_int_equal(out.losses.corrupt, lost);
        assert_int_equal(out.losses.adopted, lost);
        assert_int_equal(out.losses.places, 1);
        assert_non_null(strstr(out.losses.where, "run-"));
        /* The run was settled and removed: a third reader finds nothing. */
        read_out_t again = read_back(dir);
        assert_int_equal(again.count, 0);
        assert_int_equal(again.losses.corrupt, 0);
        remove_tree(dir);
    }
}

/* The run's end file, in `path` (the one run in dir). */
static void end_file(const char *dir, char *path, size_t path_len) {
    char seg[700];
    size_t offsets[128];
    (void)last_segment(dir, seg, sizeof seg, offsets);
    *strrchr(seg, '/') = '\0';
    snprintf(path, path_len, "%s/end", seg);
}

typedef struct end_copy {
    char path[760];
    uint8_t bytes[64]; /* its two slots */
} end_copy_t;

static end_copy_t end_save(const char *dir) {
    end_copy_t c;
    end_file(dir, c.path, sizeof c.path);
    int fd = open(c.path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, c.bytes, sizeof c.bytes, 0), (ssize_t)sizeof c.bytes);
    close(fd);
    return c;
}

/* The end file as it was: a power loss lost what was written since. */
static void end_restore(const end_copy_t *c) {
    int fd = open(c->path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, c->bytes, sizeof c->bytes, 0), (ssize_t)sizeof c->bytes);
    close(fd);
}

/* 60 records synced, 3 more appended, a crash (with `power_loss`, the end
 * file as it was at the sync: the mark's later write lost), then the last
 * segment cut 2 records short: what a second spool reads back. */
static read_out_t cut_after_unsynced_appends(const char *name, bool power_loss) {
    const char *dir = fresh(name);
    segops__spool_t *s = open_spool(dir);
    append(s, 0, 60);
    assert_int_equal(segops__spool_sync(s), SEGOPS_OK);
    end_copy_t synced = end_save(dir);
    append(s, 60, 3);
    crash(s);
    if (power_loss) end_restore(&synced);
    char path[700];
    size_t offsets[128];
    size_t n = last_segment(dir, path, sizeof path, offsets);
    assert_true(n >= 3);
    assert_int_equal(truncate(path, (off_t)offsets[n - 2]), 0);
    read_out_t out = read_back(dir);
    remove_tree(dir);
    return out;
}

/* Killed after appends it never synced: the mark written with them names
 * them too, so a cut at a record boundary among them costs exactly the
 * records cut (a kill -9 keeps what the page cache holds, the mark included). */
static void test_killed_after_unsynced_appends_a_cut_costs_exactly(void **state) {
    (void)state;
    read_out_t out = cut_after_unsynced_appends("unsynced", false);
    assert_int_equal(out.count, 61);
    assert_int_equal(out.losses.corrupt, 2); /* 61 and 62 */
}

/* A power loss that kept records written after the last sync but not the
 * mark's later writes: those records are beyond the mark, and a cut at a
 * record boundary among them reads as the end (never promised); the records
 * up to the cut all arrive. */
static void test_cut_beyond_the_synced_mark_is_the_power_loss_window(void **state) {
    (void)state;
    read_out_t out = cut_after_unsynced_appends("beyond", true);
    assert_int_equal(out.count, 61);
    assert_int_equal(out.losses.corrupt, 0);
}

/* Damage that begins below the synced mark and runs past it (a power loss
 * kept the records after it, not the mark's later writes): the records below
 * are counted exactly (by the mark), those after it are not promised. */
static void test_damage_across_the_mark_counts_what_was_below(void **state) {
    (void)state;
    const char *dir = fresh("across");
    segops__spool_t *s = open_spool(dir);
    append(s, 0, 60);
    assert_int_equal(segops__spool_sync(s), SEGOPS_OK);
    end_copy_t synced = end_save(dir);
    append(s, 60, 2);
    crash(s);
    end_restore(&synced);
    char path[700];
    size_t offsets[128];
    size_t n = last_segment(dir, path, sizeof path, offsets);
    assert_true(n >= 4);
    /* From inside record 58 (the 4th from the end; seq 59) to the end: 58..61 damaged. */
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    for (size_t at = offsets[n - 4] + 8; at < offsets[n]; at++)
        assert_int_equal(pwrite(fd, "x", 1, (off_t)at), 1);
    close(fd);
    read_out_t out = read_back(dir);
    assert_int_equal(out.count, 58);
    assert_int_equal(out.losses.corrupt, 2); /* 58 and 59; 60 and 61 were past the mark (61) */
    assert_true(out.losses.corrupt_bytes > 0);
    assert_non_null(strstr(out.losses.where, "damaged"));
    remove_tree(dir);
}

static int setup(void **state) {
    (void)state;
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    remove_tree(root);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_below_a_synced_mark_is_counted_exactly),
        cmocka_unit_test(test_killed_after_unsynced_appends_a_cut_costs_exactly),
        cmocka_unit_test(test_cut_beyond_the_synced_mark_is_the_power_loss_window),
        cmocka_unit_test(test_damage_across_the_mark_counts_what_was_below),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
