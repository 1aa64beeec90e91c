/* Run directories: create and lock, adopt, list, delete settled segments. */
#include "spool_run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "crypto.h"

#define RUN_PREFIX "run-"

static void run_init(segops__spool_run_t *run, uint32_t id, bool own) {
    memset(run, 0, sizeof *run);
    run->id = id;
    run->own = own;
    run->dir_fd = run->rd_fd = run->wr_fd = -1;
    run->acks.fd = -1;
    run->end.fd = -1;
    run->next_seq = 1;
    run->rd_expected = 1;
}

void segops__spool_seg_name(uint64_t first_seq, char out[SEGOPS__SPOOL_SEG_NAME_LEN + 1]) {
    snprintf(out, SEGOPS__SPOOL_SEG_NAME_LEN + 1, "%016" PRIx64 ".seg", first_seq);
}

/* The first seq a segment file name stands for, or 0 for another name. */
static uint64_t parse_seg_name(const char *name) {
    if (strlen(name) != SEGOPS__SPOOL_SEG_NAME_LEN || strcmp(name + 16, ".seg") != 0) return 0;
    uint64_t seq = 0;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (digit < 0) return 0;
        seq = seq << 4 | (uint64_t)digit;
    }
    return seq;
}

/* Locks the directory `name` through a new descriptor and checks that the
 * directory locked is the one the name still points to (it may have been
 * removed and recreated by another client meanwhile). Returns the descriptor,
 * or -1 with errno EWOULDBLOCK (locked) or ESTALE (replaced or gone). */
static int lock_dir(int spool_fd, const char *name) {
    int fd = openat(spool_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat held, named;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (fstat(fd, &held) != 0 || fstatat(spool_fd, name, &named, AT_SYMLINK_NOFOLLOW) != 0 ||
        held.st_dev != named.st_dev || held.st_ino != named.st_ino) {
        close(fd);
        errno = ESTALE;
        return -1;
    }
    return fd;
}

segops_err_t segops__spool_run_create(int spool_fd, uint32_t id, segops__spool_run_t *run) {
    run_init(run, id, true);
    for (int attempt = 0; attempt < 8; attempt++) {
        uint32_t suffix = 0;
        if (segops__random_bytes(&suffix, sizeof suffix) != SEGOPS_OK)
            suffix = (uint32_t)segops__clock_monotonic_ms() ^ (uint32_t)attempt;
        snprintf(run->name, sizeof run->name, RUN_PREFIX "%016" PRIx64 "-%ld-%08" PRIx32,
                 (uint64_t)segops__clock_realtime_ms(), (long)getpid(), suffix);
        if (mkdirat(spool_fd, run->name, 0700) != 0) {
            if (errno == EEXIST) continue;
            return SEGOPS_E_IO;
        }
        /* Between mkdir and flock another client may adopt (and remove) the new,
         * empty directory: then lock_dir fails and we try another name. */
        run->dir_fd = lock_dir(spool_fd, run->name);
        if (run->dir_fd < 0) {
            if (errno == EWOULDBLOCK || errno == ESTALE || errno == ENOENT) continue;
            int saved = errno;
            unlinkat(spool_fd, run->name, AT_REMOVEDIR);
            errno = saved;
            return SEGOPS_E_IO;
        }
        if (segops__spool_acks_open(run->dir_fd, &run->acks) != SEGOPS_OK ||
            segops__spool_end_create(run->dir_fd, &run->end) != SEGOPS_OK) {
            int saved = errno;
            segops__spool_run_remove(spool_fd, run);
            segops__spool_run_close(run);
            errno = saved;
            return SEGOPS_E_IO;
        }
        return SEGOPS_OK;
    }
    errno = EEXIST;
    return SEGOPS_E_IO;
}

static segops_err_t push_segment(segops__spool_run_t *run, uint64_t first_seq, uint64_t size) {
    if (run->nsegs == run->cap) {
        size_t cap = run->cap ? run->cap * 2 : 8;
        segops__spool_seg_t *grown = segops__realloc(run->segs, cap * sizeof *grown);
        if (!grown) return SEGOPS_E_NOMEM;
        run->segs = grown;
        run->cap = cap;
    }
    run->segs[run->nsegs++] = (segops__spool_seg_t){first_seq, size, 0};
    run->bytes += size;
    return SEGOPS_OK;
}

static int by_first_seq(const void *a, const void *b) {
    uint64_t x = ((const segops__spool_seg_t *)a)->first_seq;
    uint64_t y = ((const segops__spool_seg_t *)b)->first_seq;
    return x < y ? -1 : x > y;
}

static segops_err_t load_segments(segops__spool_run_t *run) {
    int fd = dup(run->dir_fd);
    DIR *dir = fd < 0 ? NULL : fdopendir(fd);
    if (!dir) {
        if (fd >= 0) close(fd);
        return SEGOPS_E_IO;
    }
    rewinddir(dir); /* the duplicate shares its offset with dir_fd */
    segops_err_t err = SEGOPS_OK;
    struct dirent *entry;
    while (err == SEGOPS_OK && (entry = readdir(dir)) != NULL) {
        uint64_t first = parse_seg_name(entry->d_name);
        struct stat st;
        if (!first || fstatat(run->dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode) || st.st_uid != geteuid())
            continue; /* not ours: left alone */
        err = push_segment(run, first, (uint64_t)st.st_size);
    }
    closedir(dir);
    if (err == SEGOPS_OK && run->nsegs > 1)
        qsort(run->segs, run->nsegs, sizeof *run->segs, by_first_seq);
    return err;
}

segops_err_t segops__spool_run_adopt(int spool_fd, const char *name, uint32_t id,
                                     segops__spool_run_t *run) {
    run_init(run, id, false);
    if (strlen(name) >= sizeof run->name) return SEGOPS_E_STATE;
    snprintf(run->name, sizeof run->name, "%s", name);
    run->dir_fd = lock_dir(spool_fd, name);
    if (run->dir_fd < 0)
        return errno == EWOULDBLOCK || errno == ESTALE || errno == ENOENT || errno == ENOTDIR ||
                       errno == ELOOP
                   ? SEGOPS_E_STATE
                   : SEGOPS_E_IO;
    /* Only our own user's runs: whoever else can write to spool_dir must not
     * get events sent with our key. */
    struct stat st;
    if (fstat(run->dir_fd, &st) != 0 || st.st_uid != geteuid()) {
        segops__spool_run_close(run);
        return SEGOPS_E_STATE;
    }
    segops_err_t err = load_segments(run);
    if (err == SEGOPS_OK && segops__spool_acks_open(run->dir_fd, &run->acks) != SEGOPS_OK)
        err = SEGOPS_E_IO;
    if (err != SEGOPS_OK) {
        int saved = errno;
        segops__spool_run_close(run);
        errno = saved;
        return err;
    }
    run->end_mark = segops__spool_end_load(run->dir_fd, &run->end_final);
    /* rd_expected stays 1: the cursor and the first segment's name say which
     * seqs are owed (a first segment deleted lost the seqs below its name). */
    return SEGOPS_OK;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

segops_err_t segops__spool_run_list(int spool_fd, char ***names, size_t *count) {
    *names = NULL;
    *count = 0;
    int fd = dup(spool_fd);
    DIR *dir = fd < 0 ? NULL : fdopendir(fd);
    if (!dir) {
        if (fd >= 0) close(fd);
        return SEGOPS_E_IO;
    }
    rewinddir(dir); /* the duplicate shares its offset with spool_fd */
    size_t cap = 0;
    segops_err_t err = SEGOPS_OK;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strncmp(entry->d_name, RUN_PREFIX, strlen(RUN_PREFIX)) != 0 ||
            strlen(entry->d_name) >= SEGOPS__SPOOL_RUN_NAME_MAX ||
            (entry->d_type != DT_DIR && entry->d_type != DT_UNKNOWN))
            continue;
        if (*count == cap) {
            size_t grown_cap = cap ? cap * 2 : 16;
            char **grown = segops__realloc(*names, grown_cap * sizeof *grown);
            if (!grown) {
                err = SEGOPS_E_NOMEM;
                break;
            }
            *names = grown;
            cap = grown_cap;
        }
        if (!((*names)[*count] = segops__strdup(entry->d_name))) {
            err = SEGOPS_E_NOMEM;
            break;
        }
        (*count)++;
    }
    closedir(dir);
    if (err != SEGOPS_OK) {
        for (size_t i = 0; i < *count; i++) segops__free((*names)[i]);
        segops__free(*names);
        *names = NULL;
        *count = 0;
        return err;
    }
    if (*count > 1) qsort(*names, *count, sizeof **names, by_name);
    return SEGOPS_OK;
}

segops_err_t segops__spool_run_new_segment(segops__spool_run_t *run) {
    char name[SEGOPS__SPOOL_SEG_NAME_LEN + 1];
    segops__spool_seg_name(run->next_seq, name);
    int fd = openat(run->dir_fd, name,
                    O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return SEGOPS_E_IO;
    if (push_segment(run, run->next_seq, 0) != SEGOPS_OK) {
        close(fd);
        unlinkat(run->dir_fd, name, 0);
        return SEGOPS_E_NOMEM;
    }
    if (run->wr_fd >= 0) close(run->wr_fd);
    run->wr_fd = fd;
    run->wr_sealed = false;
    return SEGOPS_OK;
}

/* Segment i (of the list as it was when the reader sat at rd_seg) has been
 * read past and all of it is settled. Segments other than the own run's last
 * never grow. */
static bool deletable(const segops__spool_run_t *run, size_t i, size_t rd_seg) {
    if (run->own && i + 1 == run->nsegs) return false; /* being written */
    /* An empty segment the reader has not reached yet is not read past: its
     * name still has to tell it which seqs below it are owed. */
    bool read_past = rd_seg > i || (rd_seg == i && run->rd_off >= run->segs[i].size &&
                                    run->rd_expected >= run->segs[i].first_seq);
    return read_past && segops__spool_acks_persisted_settled(&run->acks, run->segs[i].first_seq,
                                                             run->segs[i].last_seq);
}

uint64_t segops__spool_run_delete_settled(segops__spool_run_t *run) {
    uint64_t freed = 0;
    size_t kept = 0, old_rd = run->rd_seg, limit = SEGOPS__MIN(old_rd + 1, run->nsegs);
    bool rd_deleted = false;
    for (size_t i = 0; i < run->nsegs; i++) {
        if (i < limit && deletable(run, i, old_rd)) {
            char name[SEGOPS__SPOOL_SEG_NAME_LEN + 1];
            segops__spool_seg_name(run->segs[i].first_seq, name);
            if (run->rd_fd >= 0 && run->rd_fd_first == run->segs[i].first_seq) {
                close(run->rd_fd);
                run->rd_fd = -1;
            }
            if (unlinkat(run->dir_fd, name, 0) == 0 || errno == ENOENT) {
                freed += run->segs[i].size;
                if (i < old_rd) run->rd_seg--;
                if (i == old_rd) rd_deleted = true;
                continue;
            }
        }
        run->segs[kept++] = run->segs[i];
    }
    /* The segment being read was read to its end and deleted: read on from
     * the start of the next one. */
    if (rd_deleted) run->rd_off = 0;
    run->nsegs = kept;
    run->bytes -= freed;
    return freed;
}

bool segops__spool_run_is_settled(const segops__spool_run_t *run) {
    if (run->own) return run->acks.cursor + 1 >= run->next_seq;
    if (!run->drained) return false;
    for (size_t i = 0; i < run->nsegs; i++)
        if (run->segs[i].last_seq > run->acks.cursor) return false;
    return true;
}

void segops__spool_run_remove(int spool_fd, segops__spool_run_t *run) {
    if (run->dir_fd < 0) return;
    for (size_t i = 0; i < run->nsegs; i++) {
        char name[SEGOPS__SPOOL_SEG_NAME_LEN + 1];
        segops__spool_seg_name(run->segs[i].first_seq, name);
        unlinkat(run->dir_fd, name, 0);
    }
    run->bytes = 0;
    run->nsegs = 0;
    unlinkat(run->dir_fd, SEGOPS__SPOOL_ACK_FILE, 0);
    unlinkat(run->dir_fd, SEGOPS__SPOOL_END_FILE, 0);
    unlinkat(spool_fd, run->name, AT_REMOVEDIR); /* fails, harmlessly, on foreign files */
}

void segops__spool_run_close(segops__spool_run_t *run) {
    int *fds[] = {&run->rd_fd, &run->wr_fd, &run->dir_fd};
    for (size_t i = 0; i < SEGOPS__ARRAY_LEN(fds); i++) {
        if (*fds[i] >= 0) close(*fds[i]);
        *fds[i] = -1;
    }
    segops__spool_acks_close(&run->acks, true);
    segops__spool_end_close(&run->end, true);
    segops__free(run->segs);
    run->segs = NULL;
    run->nsegs = run->cap = 0;
}
