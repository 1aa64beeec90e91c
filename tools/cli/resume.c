/* The progress record of a resumable send: skip on start, a thread that keeps
 * the record, and what is left of it at the end. */
#include "resume.h"

#include "cli.h"
#include "resume_record.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How often the record is replaced, and how old a count must be before it is
 * written: the library documents that an event track accepted is in the spool
 * files at most 50 ms after track returned. */
#define TICK_MS 50
#define SPOOL_WINDOW_MS 50

struct cli_resume {
    const char *dir;
    segops_client_t *client;
    int dir_fd;
    int lock_fd;

    pthread_mutex_t lock; /* guards cur and stop */
    pthread_cond_t wake;
    bool stop;
    cli_resume_mark_t cur; /* lines done so far (the reading thread adds to it) */

    /* The thread's own (the main thread's after the join). */
    pthread_t thread;
    bool thread_started;
    cli_resume_mark_t start;     /* where this run began */
    cli_resume_mark_t written;   /* what the record says now */
    cli_resume_mark_t candidate; /* a count waiting out the spool's window */
    int64_t candidate_ms;
    bool has_candidate;
    bool frozen;      /* the spool failed a write: the record no longer advances */
    bool save_failed; /* reported once */
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void save(cli_resume_t *r, const cli_resume_mark_t *mark) {
    if (mark->lines <= r->written.lines) {
        return;
    }
    int err = cli_resume_record_save(r->dir_fd, mark);
    if (err == 0) {
        r->written = *mark;
    } else if (!r->save_failed) {
        r->save_failed = true;
        char why[128] = "error";
        strerror_r(err, why, sizeof why); /* the keeper thread: strerror is not thread-safe */
        cli_err("send: cannot write %s/%s: %s (a resume reads the lines after %" PRIu64 " again)",
                r->dir, CLI_RESUME_RECORD_NAME, why, r->written.lines);
    }
}

/*
 * Which count may be written. A line may be skipped by a later run only once
 * its event is in the spool files, or a kill -9 would lose it. Two conditions,
 * both checked:
 * - time: the count was taken at least SPOOL_WINDOW_MS ago (the library's
 *   documented crash window), so every track it counts returned that long ago;
 * - the spool's own counters: stats.spooled (events this client wrote to the
 *   spool, in the order track accepted them) has reached the count's events,
 *   and no spool write failed (after a failure the library keeps events in
 *   memory, so later counts prove nothing and the record stops advancing).
 * Taking the count after each track and writing it one tick later, rather than
 * timing each line, keeps the reading loop to a counter update; the record
 * then lags the input by 50 to 100 ms, and a resume after a kill -9 re-reads
 * (sends twice) at most those lines. Should the spool not keep up (or not be
 * used at all), the record simply waits: a crash then causes duplicates, never
 * a loss.
 */
static void tick(cli_resume_t *r, const cli_resume_mark_t *cur, int64_t now) {
    segops_stats_t stats;
    memset(&stats, 0, sizeof stats);
    if (r->frozen || segops_client_stats(r->client, &stats) != SEGOPS_OK) {
        return;
    }
    if (stats.spool_write_failures > 0) {
        r->frozen = true;
        cli_err("send: the spool failed to write %" PRIu64 " event%s: %s/%s stays at line %" PRIu64
                " (a resume reads the lines after it again)",
                stats.spool_write_failures, stats.spool_write_failures == 1 ? "" : "s", r->dir,
                CLI_RESUME_RECORD_NAME, r->written.lines);
        return;
    }
    if (r->has_candidate && now - r->candidate_ms >= SPOOL_WINDOW_MS &&
        r->candidate.events <= stats.spooled) {
        save(r, &r->candidate);
        r->has_candidate = false;
    }
    if (!r->has_candidate && cur->lines > r->written.lines) {
        r->candidate = *cur;
        r->candidate_ms = now;
        r->has_candidate = true;
    }
}

static void *keeper_main(void *arg) {
    cli_resume_t *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        int64_t until_ms = now_ms() + TICK_MS;
        struct timespec until = {(time_t)(until_ms / 1000), (long)(until_ms % 1000) * 1000000L};
        while (!r->stop && now_ms() < until_ms) {
            pthread_cond_timedwait(&r->wake, &r->lock, &until);
        }
        if (r->stop) {
            break;
        }
        cli_resume_mark_t cur = r->cur;
        pthread_mutex_unlock(&r->lock);
        tick(r, &cur, now_ms());
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* 0 or the pthread_create error. */
static int start_keeper(cli_resume_t *r) {
    /* Signals (Ctrl-C) must reach the main thread, which is the one reading input. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&r->thread, NULL, keeper_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    r->thread_started = rc == 0;
    return rc;
}

/* One resumable send per spool directory: two would overwrite each other's record. */
static int lock_dir(cli_resume_t *r) {
    r->dir_fd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->dir_fd < 0 && errno == ENOENT && mkdir(r->dir, 0700) == 0) {
        /* segops_client_new creates it when it opens the spool; this covers a
         * library that opens it later, as the spool_dir documentation allows. */
        r->dir_fd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (r->dir_fd < 0) {
        cli_err("send: cannot open the spool directory '%s': %s", r->dir, strerror(errno));
        return CLI_EXIT_INPUT;
    }
    r->lock_fd =
        openat(r->dir_fd, CLI_RESUME_LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (r->lock_fd < 0) {
        cli_err("send: cannot create %s/%s: %s", r->dir, CLI_RESUME_LOCK_NAME, strerror(errno));
        return CLI_EXIT_INPUT;
    }
    if (flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            cli_err("send: another 'segops send' is resuming from '%s'; wait for it or use "
                    "another --spool directory",
                    r->dir);
        } else {
            cli_err("send: cannot lock %s/%s: %s", r->dir, CLI_RESUME_LOCK_NAME, strerror(errno));
        }
        return CLI_EXIT_OTHER;
    }
    return CLI_EXIT_OK;
}

/* Reads the lines the record covers; true (*cur at its end) when they hash
 * the same, false when the input is another one. *read_err: a read failed. */
static bool skip_recorded(FILE *in, const cli_resume_mark_t *saved, cli_resume_mark_t *cur,
                          int *read_err) {
    struct stat st;
    if (fstat(fileno(in), &st) == 0 && (uint64_t)st.st_size < saved->bytes) {
        return false; /* shorter than what was read of it: not the same input */
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (cur->lines < saved->lines && cur->bytes < saved->bytes &&
           (n = getline(&line, &cap, in)) != -1) {
        cli_resume_mark_add(cur, line, (size_t)n);
    }
    *read_err = ferror(in) ? errno : 0;
    free(line);
    return *read_err == 0 && cur->lines == saved->lines && cur->bytes == saved->bytes &&
           cur->hash == saved->hash;
}

static int skip_done_lines(cli_resume_t *r, FILE *in) {
    cli_resume_mark_t saved;
    int err = cli_resume_record_load(r->dir_fd, &saved);
    if (err == ENOENT) {
        return CLI_EXIT_OK;
    }
    if (err != 0) {
        /* Starting over can only send lines twice; trusting it could skip some. */
        if (err == EINVAL) {
            cli_err("send: %s/%s is damaged; starting at line 1", r->dir, CLI_RESUME_RECORD_NAME);
        } else {
            cli_err("send: cannot read %s/%s: %s; starting at line 1", r->dir,
                    CLI_RESUME_RECORD_NAME, strerror(err));
        }
        cli_resume_record_remove(r->dir_fd);
        return CLI_EXIT_OK;
    }
    if (saved.lines == 0) {
        return CLI_EXIT_OK;
    }
    int read_err = 0;
    cli_resume_mark_t cur;
    cli_resume_mark_init(&cur);
    if (skip_recorded(in, &saved, &cur, &read_err)) {
        cli_err("send: resuming after line %" PRIu64 " (%s/%s)", cur.lines, r->dir,
                CLI_RESUME_RECORD_NAME);
        r->start = r->written = r->cur = cur;
        return CLI_EXIT_OK;
    }
    if (read_err != 0) {
        cli_err("send: cannot read the input: %s", strerror(read_err));
        return CLI_EXIT_INPUT;
    }
    if (fseek(in, 0, SEEK_SET) != 0) {
        cli_err("send: cannot rewind the input: %s", strerror(errno));
        return CLI_EXIT_INPUT;
    }
    clearerr(in);
    /* One record per directory, for the input of the last resumable send: the
     * other input starts over when it is sent again. */
    cli_resume_record_remove(r->dir_fd);
    cli_err("send: %s/%s was written for another input; starting at line 1", r->dir,
            CLI_RESUME_RECORD_NAME);
    return CLI_EXIT_OK;
}

static void free_resume(cli_resume_t *r) {
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    if (r->lock_fd >= 0) {
        close(r->lock_fd); /* releases the flock */
    }
    if (r->dir_fd >= 0) {
        close(r->dir_fd);
    }
    free(r);
}

int cli_resume_begin(const char *dir, segops_client_t *client, FILE *in, cli_resume_t **out,
                     uint64_t *lineno) {
    *out = NULL;
    *lineno = 0;
    cli_resume_t *r = calloc(1, sizeof *r);
    if (r == NULL) {
        cli_err("send: %s", segops_strerror(SEGOPS_E_NOMEM));
        return CLI_EXIT_OTHER;
    }
    r->dir = dir;
    r->client = client;
    r->dir_fd = r->lock_fd = -1;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&r->lock, NULL);
    cli_resume_mark_init(&r->start);
    r->written = r->cur = r->start;

    int rc = lock_dir(r);
    if (rc == CLI_EXIT_OK) {
        rc = skip_done_lines(r, in);
    }
    int thread_err = rc == CLI_EXIT_OK ? start_keeper(r) : 0;
    if (thread_err != 0) {
        cli_err("send: cannot start a thread: %s", strerror(thread_err));
        rc = CLI_EXIT_OTHER;
    }
    if (rc != CLI_EXIT_OK) {
        free_resume(r);
        return rc;
    }
    *lineno = r->cur.lines;
    *out = r;
    return CLI_EXIT_OK;
}

void cli_resume_line(cli_resume_t *r, const char *raw, size_t len, bool accepted) {
    pthread_mutex_lock(&r->lock);
    cli_resume_mark_add(&r->cur, raw, len);
    if (accepted) {
        r->cur.events++;
    }
    pthread_mutex_unlock(&r->lock);
}

/* The end of a run that leaves lines to send: the record covers what the spool
 * holds, now that the client has written all it will. */
static void keep(cli_resume_t *r) {
    segops_stats_t stats;
    memset(&stats, 0, sizeof stats);
    if (!r->frozen && segops_client_stats(r->client, &stats) == SEGOPS_OK &&
        stats.spool_write_failures == 0 && r->cur.events <= stats.spooled) {
        save(r, &r->cur);
    }
}

void cli_resume_end(cli_resume_t *r, cli_resume_end_t end) {
    if (r == NULL) {
        return;
    }
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    if (r->thread_started) {
        pthread_join(r->thread, NULL);
    }

    if (end == CLI_RESUME_KEEP) {
        keep(r);
    } else if (end == CLI_RESUME_REREAD) {
        /* Back to where this run began (save() only moves forward); if that
         * cannot be written, start over rather than skip the rejected lines. */
        r->written = r->start;
        if (r->start.lines > 0 && cli_resume_record_save(r->dir_fd, &r->start) != 0) {
            r->written.lines = 0;
        }
    }
    if (end == CLI_RESUME_DONE || r->written.lines == 0) {
        cli_resume_record_remove(r->dir_fd);
    } else {
        cli_err("send: progress kept in %s/%s: sending this input again with --spool %s "
                "resumes after line %" PRIu64,
                r->dir, CLI_RESUME_RECORD_NAME, r->dir, r->written.lines);
    }
    free_resume(r);
}
