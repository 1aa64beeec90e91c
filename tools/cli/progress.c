/* The progress thread: samples counters, draws "read/delivered/dropped/rate". */
#include "progress.h"

#include "cli.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct cli_progress {
    const char *label;
    cli_progress_sample_fn sample;
    void *userdata;
    unsigned interval_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    struct timespec started;
};

static double seconds_since(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void draw(cli_progress_t *p) {
    cli_progress_sample_t s = {0, 0, 0};
    p->sample(&s, p->userdata);
    double elapsed = seconds_since(&p->started);
    double rate = elapsed > 0.0 ? (double)s.delivered / elapsed : 0.0;
    char line[200];
    snprintf(line, sizeof line, "%s: read %llu, delivered %llu, dropped %llu, %.0f events/s",
             p->label, (unsigned long long)s.read, (unsigned long long)s.delivered,
             (unsigned long long)s.dropped, rate);
    cli_status_draw(line);
}

static void *progress_main(void *arg) {
    cli_progress_t *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)(p->interval_ms % 1000) * 1000000L;
        until.tv_sec += (time_t)(p->interval_ms / 1000) + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!p->stop && pthread_cond_timedwait(&p->wake, &p->lock, &until) == 0) {
        }
        if (p->stop) {
            break;
        }
        pthread_mutex_unlock(&p->lock);
        draw(p);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

cli_progress_t *cli_progress_start(const char *label, cli_progress_sample_fn fn, void *userdata,
                                   unsigned interval_ms) {
    cli_progress_t *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    p->label = label;
    p->sample = fn;
    p->userdata = userdata;
    p->interval_ms = interval_ms > 0 ? interval_ms : 250;
    clock_gettime(CLOCK_MONOTONIC, &p->started);

    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&p->lock, NULL);

    /* Signals (Ctrl-C) must reach the main thread, which is the one reading input. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&p->thread, NULL, progress_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    return p;
}

void cli_progress_stop(cli_progress_t *p) {
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    cli_status_clear();
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
