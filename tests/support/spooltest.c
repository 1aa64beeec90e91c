/* Helpers for the spool integration tests (see spooltest.h). */
#define _GNU_SOURCE 1 /* posix_spawn file actions, pipe2, unshare */
#include "spooltest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- scratch directories ---- */

static char scratch[64];
static pid_t scratch_owner;

void remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    chmod(path, 0700); /* a test may have made it read-only */
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            remove_tree(sub);
        }
        closedir(dir);
    }
    /* A test that failed may leave a tmpfs mounted there (test_spool_disk). */
    if (rmdir(path) != 0 && errno == EBUSY && umount2(path, MNT_DETACH) == 0) rmdir(path);
}

static void remove_scratch(void) {
    if (scratch[0] && getpid() == scratch_owner) remove_tree(scratch);
}

const char *spool_path(const char *name) {
    if (!scratch[0]) {
        snprintf(scratch, sizeof scratch, "/tmp/segops-spooltest-XXXXXX");
        assert_non_null(mkdtemp(scratch));
        scratch_owner = getpid();
        atexit(remove_scratch);
    }
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", scratch, name);
    remove_tree(path);
    return path;
}

/* ---- what a spool_dir holds ---- */

static int cmp_names(const void *a, const void *b) { return strcmp(a, b); }

size_t spool_runs(const char *dir, char (*names)[RUN_NAME_MAX], size_t max) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "run-", 4) != 0) continue;
        if (names && n < max) snprintf(names[n], RUN_NAME_MAX, "%.*s", RUN_NAME_MAX - 1, e->d_name);
        n++;
    }
    closedir(d);
    if (names) qsort(names, n < max ? n : max, RUN_NAME_MAX, cmp_names);
    return n;
}

/* Bytes of the regular files in dir and below whose names end in suffix. */
static uint64_t file_bytes(const char *dir, const char *suffix) {
    uint64_t total = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    size_t suffix_len = strlen(suffix);
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(sub, &st) != 0) continue;
        size_t len = strlen(e->d_name);
        if (S_ISDIR(st.st_mode))
            total += file_bytes(sub, suffix);
        else if (S_ISREG(st.st_mode) && len >= suffix_len &&
                 !strcmp(e->d_name + len - suffix_len, suffix))
            total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

uint64_t spool_file_bytes(const char *dir) { return file_bytes(dir, ""); }

uint64_t spool_segment_bytes(const char *dir) { return file_bytes(dir, ".seg"); }

segops_options_t *spool_options(fixture_t *f, size_t batch_size, const char *dir) {
    segops_options_t *opts = fault_options(f, batch_size);
    assert_int_equal(segops_options_set_spool_dir(opts, dir), SEGOPS_OK);
    return opts;
}

/* Tracks through a client whose server is down, then leaves it all on disk. */
static void leave_tracked(fixture_t *f, segops_options_t *opts, int first, int n, size_t pad) {
    assert_int_equal(devsrv_pause(f->srv), 0);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    size_t reports = reports_of(&f->rec);
    if (pad)
        track_numbered_padded(client, first, n, pad);
    else
        track_n(client, "u", first, n);
    assert_int_equal(segops_shutdown(client, 0), SEGOPS_E_TIMEOUT);
    segops_stats_t st = stats_of(client);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.pending, st.enqueued + st.recovered);
    assert_int_equal(reports_of(&f->rec), reports);
    segops_client_free(client);
    assert_int_equal(devsrv_resume(f->srv), 0);
}

void leave_on_disk(fixture_t *f, const char *dir, int first, int n) {
    leave_tracked(f, spool_options(f, 500, dir), first, n, 0);
}

void leave_padded_on_disk(fixture_t *f, const char *dir, int first, int n, size_t pad) {
    segops_options_t *opts = spool_options(f, 500, dir);
    assert_int_equal(segops_options_set_spool_max_bytes(opts, (uint64_t)1 << 20), SEGOPS_OK);
    leave_tracked(f, opts, first, n, pad);
}

static segops_err_t track_with_pad(segops_client_t *client, int i, size_t pad, char *payload) {
    int at = snprintf(payload, 64, "{\"i\":%d,\"pad\":\"", i);
    memset(payload + at, 'a', pad);
    memcpy(payload + at + pad, "\"}", 3);
    return segops_track(client, "u", "item_viewed", payload);
}

void track_numbered_padded(segops_client_t *client, int first, int n, size_t pad) {
    char *payload = malloc(pad + 64);
    assert_non_null(payload);
    for (int i = first; i < first + n; i++)
        assert_int_equal(track_with_pad(client, i, pad, payload), SEGOPS_OK);
    free(payload);
}

segops_err_t track_one_padded(segops_client_t *client, int i) {
    char payload[SPOOLTEST_PAD + 64];
    return track_with_pad(client, i, SPOOLTEST_PAD, payload);
}

segops_err_t track_one_with_pad(segops_client_t *client, int i, size_t pad) {
    char payload[SPOOLTEST_PAD_MAX + 64];
    assert_true(pad <= SPOOLTEST_PAD_MAX);
    return track_with_pad(client, i, pad, payload);
}

/* ---- segment files ---- */

static int cmp_seg_names(const void *a, const void *b) { return strcmp(a, b); }

void list_segments(const char *run_dir, seg_list_t *out) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(run_dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len != 20 || strcmp(e->d_name + 16, ".seg") != 0) continue;
        assert_true(out->n < SEG_MAX);
        memcpy(out->name[out->n++], e->d_name, len + 1);
    }
    closedir(d);
    qsort(out->name, out->n, sizeof out->name[0], cmp_seg_names);
    for (size_t i = 0; i < out->n; i++) {
        out->first[i] = strtoull(out->name[i], NULL, 16);
        snprintf(out->path[i], sizeof out->path[0], "%s/%s", run_dir, out->name[i]);
    }
}

static uint32_t le32_at(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint8_t *read_whole_file(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return buf;
}

size_t segment_records(const char *path, size_t *offsets, int *numbers, size_t max) {
    size_t off = 0, n = 0, len;
    uint8_t *buf = read_whole_file(path, &len);
    const size_t header = 32; /* README: the spool's files */
    while (off < len) {
        assert_true(n < max && off + header <= len);
        assert_memory_equal(buf + off, "\xffSPL", 4);
        offsets[n] = off;
        if (numbers) { /* the record holds the encoded event; its payload begins {"i": */
            uint32_t plen = le32_at(buf + off + 4);
            assert_true(off + header + plen <= len);
            const char *at = memmem(buf + off + header, plen, "{\"i\":", 5);
            assert_non_null(at);
            numbers[n] = atoi(at + 5);
        }
        off += header + le32_at(buf + off + 4);
        n++;
    }
    assert_int_equal(off, len);
    offsets[n] = off;
    free(buf);
    return n;
}

/* ---- numbered events on the server ---- */

size_t server_events(devsrv_t *srv) { return devsrv_event_count(srv); }

/* The number of a payload {"i":k} or {"i":k,...}; -1 for anything else. */
static long event_number(const char *payload) {
    if (strncmp(payload, "{\"i\":", 5) != 0) return -1;
    char *end;
    long k = strtol(payload + 5, &end, 10);
    if (end == payload + 5 || (*end != '}' && *end != ',')) return -1;
    return k;
}

void tally_server(devsrv_t *srv, size_t from, int n, tally_t *out) {
    out->n = n;
    out->copies = calloc((size_t)n + 1, sizeof *out->copies);
    assert_non_null(out->copies);
    out->others = 0;
    size_t count = devsrv_event_count(srv);
    for (size_t k = from; k < count; k++) {
        devsrv_event_t ev;
        assert_int_equal(devsrv_event_at(srv, k, &ev), 0);
        long i = event_number(ev.payload_json);
        if (i >= 0 && i < n)
            out->copies[i]++;
        else
            out->others++;
        devsrv_event_free(&ev);
    }
}

void tally_free(tally_t *t) {
    free(t->copies);
    t->copies = NULL;
}

void assert_numbered_once(devsrv_t *srv, size_t from, int first, int n) {
    tally_t t;
    tally_server(srv, from, first + n, &t);
    size_t wrong = 0, others = t.others;
    int example = -1;
    for (int i = 0; i < first + n; i++) {
        int want = i >= first ? 1 : 0;
        if (t.copies[i] != want) {
            if (example < 0) example = i;
            wrong++;
        }
    }
    int example_copies = example >= 0 ? t.copies[example] : 0;
    tally_free(&t);
    if (wrong || others)
        fail_msg("the server holds %zu numbers a wrong number of times (e.g. %d: %d copies) and "
                 "%zu other events; want %d..%d once each",
                 wrong, example, example_copies, others, first, first + n - 1);
}

/* ---- log lines ---- */

void log_recorder_init(log_recorder_t *l) {
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->lock, NULL);
}

void log_recorder_destroy(log_recorder_t *l) { pthread_mutex_destroy(&l->lock); }

void log_recorder_fn(segops_log_level_t level, const char *message, void *userdata) {
    log_recorder_t *l = userdata;
    pthread_mutex_lock(&l->lock);
    if ((unsigned)level < 4) l->by_level[level]++;
    if (level == SEGOPS_LOG_ERROR && !l->first_error[0])
        snprintf(l->first_error, sizeof l->first_error, "%s", message);
    if (strncmp(message, "spool", 5) == 0) {
        if (l->spool_lines < LOG_KEPT)
            snprintf(l->spool_text[l->spool_lines], sizeof l->spool_text[0], "%s", message);
        l->spool_lines++;
        if (level == SEGOPS_LOG_WARN) l->spool_warns++;
    }
    pthread_mutex_unlock(&l->lock);
}

log_recorder_t log_snapshot(log_recorder_t *l) {
    pthread_mutex_lock(&l->lock);
    log_recorder_t copy = *l;
    pthread_mutex_unlock(&l->lock);
    return copy;
}

void wait_spooled(segops_client_t *client, uint64_t n) {
    int64_t end = now_ms() + 10 * HANG_MS;
    while (stats_of(client).spooled < n && now_ms() < end) sleep_ms(5);
    assert_true(stats_of(client).spooled >= n);
}

/* ---- a helper child process ---- */

void child_spawn(child_t *c, const char *const *argv) { child_spawn_env(c, argv, NULL); }

void child_spawn_env(child_t *c, const char *const *argv, const char *extra_env) {
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + 2, sizeof *env);
    assert_non_null(env);
    /* First, so that it wins over the same name further on (getenv takes the
     * first). */
    size_t at = 0;
    if (extra_env) env[at++] = (char *)extra_env;
    memcpy(env + at, environ, n * sizeof *env);
    memset(c, 0, sizeof *c);
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    assert_int_equal(posix_spawn_file_actions_init(&actions), 0);
    assert_int_equal(posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO), 0);
    int rc = posix_spawn(&c->pid, argv[0], &actions, NULL, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&actions);
    free(env);
    close(fds[1]);
    if (rc != 0) fail_msg("posix_spawn %s: %s", argv[0], strerror(rc));
    c->out_fd = fds[0];
    assert_int_equal(fcntl(c->out_fd, F_SETFL, O_NONBLOCK), 0);
}

long child_read_count(child_t *c, long last) {
    char buf[4096];
    for (;;) {
        ssize_t got = read(c->out_fd, buf, sizeof buf);
        if (got <= 0) break;
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] == '\n') {
                c->partial[c->partial_len] = '\0';
                char *end;
                long v = strtol(c->partial, &end, 10);
                if (end != c->partial && *end == '\0') last = v;
                c->partial_len = 0;
            } else if (c->partial_len + 1 < sizeof c->partial) {
                c->partial[c->partial_len++] = buf[i];
            }
        }
    }
    return last;
}

int child_wait(child_t *c) {
    int status = 0;
    pid_t got;
    while ((got = waitpid(c->pid, &status, 0)) < 0 && errno == EINTR) {
    }
    assert_int_equal(got, c->pid);
    return status;
}

/* ---- tmpfs mounts ---- */

static bool can_mount;

bool enter_mount_namespace(void) {
    can_mount = geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
                mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0;
    return can_mount;
}

const char *mount_tmpfs(const char *name, const char *options) {
    if (!can_mount) return NULL;
    static char path[512];
    snprintf(path, sizeof path, "%s", spool_path(name));
    assert_int_equal(mkdir(path, 0700), 0);
    if (mount("tmpfs", path, "tmpfs", 0, options) != 0) return NULL;
    return path;
}

uint64_t spool_end_mark(const char *run_dir) {
    char path[800];
    snprintf(path, sizeof path, "%s/end", run_dir);
    size_t len = 0;
    uint8_t *buf = read_whole_file(path, &len);
    uint64_t mark = 0, newest = 0;
    for (size_t at = 0; buf && at + 32 <= len && at < 64; at += 32) {
        if (memcmp(buf + at, "\xffSPE", 4) != 0) continue;
        uint64_t generation = 0, m = 0;
        for (int i = 7; i >= 0; i--) {
            generation = generation << 8 | buf[at + 8 + i];
            m = m << 8 | buf[at + 16 + i];
        }
        if (!mark || generation >= newest) newest = generation, mark = m;
    }
    free(buf);
    return mark;
}
