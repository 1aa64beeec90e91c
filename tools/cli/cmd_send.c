/* `segops send`: streams NDJSON events through the batching client. */
#include "cli.h"
#include "ndjson.h"
#include "progress.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DROP_REASONS (SEGOPS_DROP_SKIPPED + 1)
/* Past this many drop reports the summary line says the rest. */
#define MAX_DROP_REPORTS 20

static const char usage[] =
    "Usage: segops send [options] [FILE]\n"
    "\n"
    "Sends NDJSON events from FILE (or standard input, also as '-'), one object per line:\n"
    "  {\"user_id\":\"u1\",\"event_type\":\"order_placed\",\"payload\":{...},\n"
    "   \"occurred_at\":\"2026-01-02T03:04:05Z\",\"anonymous_id\":\"...\"}\n"
    "user_id and event_type are required; blank lines are ignored; malformed lines are\n"
    "reported with their line number and skipped.\n"
    "\n"
    "Options:\n"
    "      --url URL            API base URL (overrides SEGOPS_API_URL)\n"
    "      --timeout-ms MS      deadline for the final flush and for each batch's\n"
    "                           retries (default 30000)\n"
    "      --retries N          retries after network/5xx/429 errors (default: library's)\n"
    "      --batch-size N       queued events that trigger a send (default 20)\n"
    "      --no-progress        no status line, even on a terminal\n"
    "  -h, --help               show this help\n"
    "\n"
    "Environment: SEGOPS_API_URL, SEGOPS_API_KEY (sk_ or pk_); with a pk_ key,\n"
    "SEGOPS_USER_ID, SEGOPS_USER_SIG and SEGOPS_USER_TS give the session identity.\n"
    "Exit status: 0 all delivered, 5 credentials rejected, 4 events dropped,\n"
    "3 malformed lines or unreadable input, 2 usage, 1 other or interrupted.\n";

static const char *const drop_names[DROP_REASONS] = {
    "other", "queue_overflow", "too_large", "rejected", "retries_exhausted", "shutdown", "skipped",
};

typedef struct send_state {
    segops_client_t *client;
    atomic_uint_fast64_t read;    /* non-blank lines */
    atomic_uint_fast64_t refused; /* valid events the client did not accept (queue full ...) */
    atomic_uint_fast64_t dropped[DROP_REASONS]; /* from on_error, by reason */
    atomic_uint_fast64_t reports;
    atomic_bool auth_failed;
    uint64_t accepted;
    uint64_t malformed;
} send_state_t;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

/* Without SA_RESTART the blocking read returns EINTR, so Ctrl-C stops reading and
 * the queued events still get their deadline; SA_RESETHAND lets a second one kill. */
static void catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void on_error(const segops_error_info_t *info, void *userdata) {
    send_state_t *st = userdata;
    unsigned reason = (unsigned)info->reason < DROP_REASONS ? (unsigned)info->reason : 0;
    atomic_fetch_add(&st->dropped[reason], info->event_count);
    if (info->code == SEGOPS_E_AUTH || info->code == SEGOPS_E_HANDSHAKE) {
        atomic_store(&st->auth_failed, true);
    }
    uint64_t n = atomic_fetch_add(&st->reports, 1) + 1;
    if (n > MAX_DROP_REPORTS) {
        return;
    }
    char status[32] = "";
    if (info->http_status != 0) {
        snprintf(status, sizeof status, " (HTTP %d)", info->http_status);
    }
    cli_err("send: dropped %zu event%s [%s]: %s%s%s%s", info->event_count,
            info->event_count == 1 ? "" : "s", drop_names[reason], segops_strerror(info->code),
            status, info->message != NULL && info->message[0] != '\0' ? ": " : "",
            info->message != NULL ? info->message : "");
}

static void sample(cli_progress_sample_t *out, void *userdata) {
    send_state_t *st = userdata;
    segops_stats_t stats;
    memset(&stats, 0, sizeof stats);
    segops_client_stats(st->client, &stats);
    out->read = atomic_load(&st->read);
    out->delivered = stats.delivered;
    out->dropped = stats.dropped + atomic_load(&st->refused);
}

static bool is_blank(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') {
            return false;
        }
    }
    return true;
}

/* One input line: parse, track, count. */
static void send_line(send_state_t *st, unsigned long long lineno, const char *line, size_t len) {
    atomic_fetch_add(&st->read, 1);
    cli_ndjson_event_t ev;
    const char *reason = cli_ndjson_parse(line, len, &ev);
    if (reason != NULL) {
        st->malformed++;
        cli_err("send: line %llu: %s", lineno, reason);
        return;
    }
    segops_err_t err = segops_track_event(st->client, &ev.event);
    cli_ndjson_release(&ev);
    switch (err) {
    case SEGOPS_OK: st->accepted++; break;
    case SEGOPS_E_INVALID_ARG:
    case SEGOPS_E_INVALID_JSON:
    case SEGOPS_E_TOO_LARGE:
        st->malformed++;
        cli_err("send: line %llu: %s", lineno,
                err == SEGOPS_E_INVALID_ARG
                    ? "invalid event (non-UTF-8 id, or occurred_at not RFC 3339)"
                    : segops_strerror(err));
        break;
    default:
        atomic_fetch_add(&st->refused, 1);
        cli_err("send: line %llu: not accepted: %s", lineno, segops_strerror(err));
        break;
    }
}

/* Reads every line; false on a read error (reported). */
static bool read_input(send_state_t *st, FILE *in) {
    char *line = NULL;
    size_t cap = 0;
    unsigned long long lineno = 0;
    ssize_t n;
    while (!interrupted && (n = getline(&line, &cap, in)) != -1) {
        lineno++;
        size_t len = (size_t)n;
        if (len > 0 && line[len - 1] == '\n') {
            len--;
        }
        if (!is_blank(line, len)) {
            send_line(st, lineno, line, len);
        }
        if (atomic_load(&st->auth_failed)) {
            /* Every further event would be rejected the same way. */
            cli_err("send: stopped reading after line %llu: credentials rejected", lineno);
            break;
        }
    }
    int read_errno = errno;
    bool ok = interrupted || !ferror(in);
    free(line);
    if (!ok) {
        cli_err("send: cannot read the input: %s", strerror(read_errno));
    }
    return ok;
}

static void print_summary(send_state_t *st, const segops_stats_t *stats) {
    char reasons[256] = "";
    size_t used = 0;
    uint64_t refused = atomic_load(&st->refused);
    for (unsigned r = 0; r < DROP_REASONS; r++) {
        uint64_t n = atomic_load(&st->dropped[r]);
        if (n > 0 && used < sizeof reasons) {
            used += (size_t)snprintf(reasons + used, sizeof reasons - used, "%s%s %llu",
                                     used == 0 ? " (" : ", ", drop_names[r], (unsigned long long)n);
        }
    }
    if (refused > 0 && used < sizeof reasons) {
        used += (size_t)snprintf(reasons + used, sizeof reasons - used, "%snot_accepted %llu",
                                 used == 0 ? " (" : ", ", (unsigned long long)refused);
    }
    if (used > 0 && used < sizeof reasons) {
        snprintf(reasons + used, sizeof reasons - used, ")");
    }
    cli_err("send: read %llu, accepted %llu, delivered %llu, dropped %llu%s, malformed %llu",
            (unsigned long long)atomic_load(&st->read), (unsigned long long)st->accepted,
            (unsigned long long)stats->delivered, (unsigned long long)(stats->dropped + refused),
            reasons, (unsigned long long)st->malformed);
}

static int parse_send_args(int argc, char **argv, cli_conn_t *conn, int64_t *batch_size,
                           bool *no_progress, const char **path) {
    const char *cmd = "send";
    const char *url = NULL, *timeout = NULL, *retries = NULL, *batch = NULL;
    const cli_opt_t opts[] = {
        {"url", 0, true, &url, NULL},
        {"timeout-ms", 0, true, &timeout, NULL},
        {"retries", 0, true, &retries, NULL},
        {"batch-size", 0, true, &batch, NULL},
        {"no-progress", 0, false, NULL, no_progress},
    };
    size_t npos = 0;
    int rc =
        cli_parse_args(cmd, usage, argc, argv, opts, sizeof opts / sizeof opts[0], path, 1, &npos);
    if (rc != CLI_PARSE_OK) {
        return rc;
    }
    conn->url_override = url;
    int64_t v = 0;
    if (timeout != NULL) {
        if (!cli_parse_int(cmd, "--timeout-ms", timeout, 1, INT32_MAX, &v)) {
            return CLI_EXIT_INPUT;
        }
        conn->timeout_ms = (int)v;
    }
    if (retries != NULL && !cli_parse_int(cmd, "--retries", retries, 0, 100, &conn->retries)) {
        return CLI_EXIT_INPUT;
    }
    if (batch != NULL && !cli_parse_int(cmd, "--batch-size", batch, 1, 100000, batch_size)) {
        return CLI_EXIT_INPUT;
    }
    return CLI_PARSE_OK;
}

static int make_client(const cli_conn_t *conn, int64_t batch_size, send_state_t *st) {
    segops_options_t *options = NULL;
    int rc = cli_options_from_env("send", conn, &options);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    /* A fast file must wait for the worker, not fail with QUEUE_FULL. */
    uint32_t block_ms = conn->timeout_ms < 600000 ? (uint32_t)conn->timeout_ms : 600000;
    segops_err_t err = segops_options_set_on_error(options, on_error, st);
    if (err == SEGOPS_OK) {
        err = segops_options_set_overflow(options, SEGOPS_OVERFLOW_BLOCK);
    }
    if (err == SEGOPS_OK) {
        err = segops_options_set_block_timeout_ms(options, block_ms);
    }
    if (err == SEGOPS_OK && batch_size > 0) {
        err = segops_options_set_batch_size(options, (size_t)batch_size);
    }
    if (err == SEGOPS_OK) {
        err = segops_client_new(options, &st->client);
    }
    segops_options_free(options);
    if (err != SEGOPS_OK) {
        cli_err("send: cannot create client: %s", segops_strerror(err));
        return cli_exit_for(err);
    }
    return CLI_EXIT_OK;
}

int cli_cmd_send(int argc, char **argv) {
    cli_conn_t conn = {NULL, CLI_DEFAULT_TIMEOUT_MS, -1};
    int64_t batch_size = 0;
    bool no_progress = false;
    const char *path = NULL;
    int rc = parse_send_args(argc, argv, &conn, &batch_size, &no_progress, &path);
    if (rc != CLI_PARSE_OK) {
        return rc;
    }

    FILE *in = stdin;
    if (path != NULL && strcmp(path, "-") != 0) {
        in = fopen(path, "r");
        if (in == NULL) {
            cli_err("send: cannot open '%s': %s", path, strerror(errno));
            return CLI_EXIT_INPUT;
        }
    }
    send_state_t *st = calloc(1, sizeof *st);
    if (st == NULL) {
        cli_err("send: %s", segops_strerror(SEGOPS_E_NOMEM));
        rc = CLI_EXIT_OTHER;
    } else {
        rc = make_client(&conn, batch_size, st);
    }
    if (rc != CLI_EXIT_OK) {
        free(st);
        if (in != stdin) {
            fclose(in);
        }
        return rc;
    }

    catch_signals();
    cli_progress_t *progress = NULL;
    if (!no_progress && isatty(STDERR_FILENO)) {
        progress = cli_progress_start("send", sample, st, 250);
    }
    bool read_ok = read_input(st, in);
    if (in != stdin) {
        fclose(in);
    }
    if (interrupted) {
        cli_err("send: interrupted; delivering what was read (up to %d ms)", conn.timeout_ms);
    }
    /* Delivers what is queued; what misses the deadline is dropped and reported. */
    segops_shutdown(st->client, conn.timeout_ms);
    cli_progress_stop(progress);

    segops_stats_t stats;
    memset(&stats, 0, sizeof stats);
    segops_client_stats(st->client, &stats);
    print_summary(st, &stats);

    if (atomic_load(&st->auth_failed)) {
        rc = CLI_EXIT_AUTH;
    } else if (stats.dropped > 0 || atomic_load(&st->refused) > 0) {
        rc = CLI_EXIT_NETWORK;
    } else if (st->malformed > 0 || !read_ok) {
        rc = CLI_EXIT_INPUT;
    } else if (interrupted) {
        rc = CLI_EXIT_OTHER;
    } else {
        rc = CLI_EXIT_OK;
    }
    segops_client_free(st->client);
    free(st);
    return rc;
}
