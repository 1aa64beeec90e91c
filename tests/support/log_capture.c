/* Whole log captures (see log_capture.h). */
#include "log_capture.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void log_capture_init(log_capture_t *c) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->changed, NULL);
}

void log_capture_destroy(log_capture_t *c) {
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->lock);
    free(c->text);
    c->text = NULL;
}

/* The letter a line starts with. */
static char level_letter(segops_log_level_t level) {
    switch (level) {
    case SEGOPS_LOG_DEBUG: return 'D';
    case SEGOPS_LOG_INFO: return 'I';
    case SEGOPS_LOG_WARN: return 'W';
    case SEGOPS_LOG_ERROR: return 'E';
    }
    return '?';
}

void log_capture_fn(segops_log_level_t level, const char *message, void *userdata) {
    log_capture_t *c = userdata;
    size_t n = strlen(message) + 2; /* and the level letter and a space first */
    pthread_mutex_lock(&c->lock);
    if (c->len + n + 2 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (c->len + n + 2 > cap) cap *= 2;
        char *text = realloc(c->text, cap);
        if (!text) {
            c->lost = true;
            pthread_mutex_unlock(&c->lock);
            return;
        }
        c->text = text;
        c->cap = cap;
    }
    c->text[c->len++] = level_letter(level);
    c->text[c->len++] = ' ';
    memcpy(c->text + c->len, message, n - 2);
    c->len += n - 2;
    c->text[c->len++] = '\n';
    c->text[c->len] = '\0';
    c->lines++;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

/* Lines at `letter` ('\0': any) holding needle; called with the lock held. */
static size_t count_locked(const log_capture_t *c, char letter, const char *needle) {
    if (!needle[0] || !c->text) return 0;
    size_t count = 0;
    for (const char *line = c->text; line < c->text + c->len;) {
        const char *end = strchr(line, '\n');
        const char *hit = strstr(line + 2, needle);
        if (hit && hit < end && (!letter || line[0] == letter)) count++;
        line = end + 1;
    }
    return count;
}

size_t log_capture_lines(log_capture_t *c) {
    pthread_mutex_lock(&c->lock);
    bool lost = c->lost;
    size_t lines = c->lines;
    pthread_mutex_unlock(&c->lock);
    if (lost) fail_msg("the log capture lost a line (out of memory)");
    return lines;
}

static size_t count_at(log_capture_t *c, char letter, const char *needle) {
    pthread_mutex_lock(&c->lock);
    bool lost = c->lost;
    size_t count = lost ? 0 : count_locked(c, letter, needle);
    pthread_mutex_unlock(&c->lock);
    if (lost) fail_msg("the log capture lost a line (out of memory)");
    return count;
}

size_t log_capture_count(log_capture_t *c, const char *needle) { return count_at(c, 0, needle); }

size_t log_capture_count_at(log_capture_t *c, segops_log_level_t level, const char *needle) {
    return count_at(c, level_letter(level), needle);
}

bool log_capture_contains(log_capture_t *c, const char *needle) {
    return log_capture_count(c, needle) > 0;
}

void log_capture_wait(log_capture_t *c, const char *needle, size_t n) {
    pthread_mutex_lock(&c->lock);
    size_t seen_lines = c->lines;
    for (;;) {
        if (c->lost) break;
        if (count_locked(c, 0, needle) >= n) {
            pthread_mutex_unlock(&c->lock);
            return;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        int rc = 0;
        while (c->lines == seen_lines && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&c->changed, &c->lock, &until);
        if (c->lines == seen_lines) break; /* nothing new for 10 s */
        seen_lines = c->lines;
    }
    bool lost = c->lost;
    size_t have = lost ? 0 : count_locked(c, 0, needle);
    pthread_mutex_unlock(&c->lock);
    if (lost) fail_msg("the log capture lost a line (out of memory)");
    fail_msg("waited for %zu log lines holding \"%s\"; %zu came, then nothing for 10 s", n, needle,
             have);
}
