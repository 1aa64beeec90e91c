/* Messages on stderr and the mapping from library errors to exit codes. */
#include "cli.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The worker (on_error), the progress thread and the main thread all write to
 * stderr; one lock keeps each line whole and the status line out of the way. */
static pthread_mutex_t stderr_lock = PTHREAD_MUTEX_INITIALIZER;
static bool status_shown;

/* "\r" + erase-line; only ever written to a terminal (the status line needs one). */
static void erase_status_locked(void) {
    if (status_shown) {
        fputs("\r\033[K", stderr);
        status_shown = false;
    }
}

void cli_err(const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    /* One message, one line: input text quoted in messages must not break it. */
    for (char *p = line; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }
    pthread_mutex_lock(&stderr_lock);
    erase_status_locked();
    fprintf(stderr, "segops: %s\n", line);
    fflush(stderr);
    pthread_mutex_unlock(&stderr_lock);
}

void cli_status_draw(const char *text) {
    pthread_mutex_lock(&stderr_lock);
    fprintf(stderr, "\r%s\033[K", text);
    fflush(stderr);
    status_shown = true;
    pthread_mutex_unlock(&stderr_lock);
}

void cli_status_clear(void) {
    pthread_mutex_lock(&stderr_lock);
    erase_status_locked();
    fflush(stderr);
    pthread_mutex_unlock(&stderr_lock);
}

int cli_exit_for(segops_err_t err) {
    switch (err) {
    case SEGOPS_OK: return CLI_EXIT_OK;
    case SEGOPS_E_INVALID_ARG:
    case SEGOPS_E_INVALID_JSON:
    case SEGOPS_E_TOO_LARGE:
    case SEGOPS_E_CONFIG: return CLI_EXIT_INPUT;
    case SEGOPS_E_QUEUE_FULL:
    case SEGOPS_E_TIMEOUT:
    case SEGOPS_E_NETWORK:
    case SEGOPS_E_TLS:
    case SEGOPS_E_HTTP:
    case SEGOPS_E_RATE_LIMITED:
    case SEGOPS_E_SERVER:
    case SEGOPS_E_SKIPPED: return CLI_EXIT_NETWORK;
    case SEGOPS_E_AUTH:
    case SEGOPS_E_HANDSHAKE: return CLI_EXIT_AUTH;
    case SEGOPS_E_NOMEM:
    case SEGOPS_E_STATE:
    case SEGOPS_E_CRYPTO:
    case SEGOPS_E_INTERNAL:
    default: return CLI_EXIT_OTHER;
    }
}
