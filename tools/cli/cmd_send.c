/* `segops send`: streams NDJSON events through the batching client. */
#include "cli.h"
#include "drops.h"
#include "ndjson.h"
#include "progress.h"
#include "resume.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    "      --timeout-ms MS      deadline for the final flush and for each batch's\n"
    "                           retries (default 30000)\n" CLI_CONN_USAGE
    "      --batch-size N       queued events that trigger a send (default 20)\n"
    "      --no-progress        no status line, even on a terminal\n"
    "      --spool DIR          keep accepted events on disk in DIR until delivered, and\n"
    "                           resume an interrupted send of the same FILE (see below)\n"
    "  -h, --help               show this help\n"
    "\n"
    "With --spool DIR, every event the client accepts is also written to DIR (created\n"
    "if only its last component is missing) within 50 ms and removed once delivered,\n"
    "so an outage, Ctrl-C or crash does not lose it: events undelivered at the deadline\n"
    "stay in DIR, and the next send with --spool DIR sends them first. For a FILE,\n"
    "DIR/send-progress also records how many lines are done (updated every 50 ms, only\n"
    "with lines whose events are in DIR; removed when the send completes): sending the\n"
    "same FILE again (or a copy, or the file with lines appended) with --spool DIR\n"
    "resumes after those lines. After a kill -9 no line is lost; the lines of its last\n"
    "100 ms or so, and the events of requests in flight, may be sent twice. Standard\n"
    "input cannot be resumed (it cannot be read again): its events are kept in DIR,\n"
    "but a kill -9 may lose those of its last 50 ms. One resumable send at a time per\n"
    "DIR; like the spool, the record survives the process, not a power loss.\n"
    "\n"
    "Environment: SEGOPS_API_URL, SEGOPS_API_KEY (sk_ or pk_); with a pk_ key,\n"
    "SEGOPS_USER_ID, SEGOPS_USER_SIG and SEGOPS_USER_TS give the session identity.\n"
    "Exit status: 0 all delivered, 5 credentials rejected, 4 events dropped (or left\n"
    "in the spool), 3 malformed lines or unreadable input, 2 usage, 1 other or\n"
    "interrupted.\n";

typedef struct send_state {
    segops_client_t *client;
    atomic_uint_fast64_t read;    /* non-blank lines */
    atomic_uint_fast64_t refused; /* valid events the client did not accept (queue full ...) */
    cli_drops_t drops;            /* from on_error, by reason */
    atomic_bool auth_failed;
    uint64_t accepted;
    uint64_t malformed;
    cli_resume_t *resume; /* --spool with a regular file: the progress record */
    bool stopped;         /* reading stopped before the end (refused event, bad credentials) */
} send_state_t;

typedef enum line_outcome {
    LINE_BLANK,
    LINE_ACCEPTED,
    LINE_MALFORMED,
    LINE_REFUSED
} line_outcome_t;

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
    if (info->code == SEGOPS_E_AUTH || info->code == SEGOPS_E_HANDSHAKE) {
        atomic_store(&st->auth_failed, true);
    }
    cli_drops_report(&st->drops, "send", info);
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
static line_outcome_t send_line(send_state_t *st, unsigned long long lineno, const char *line,
                                size_t len) {
    atomic_fetch_add(&st->read, 1);
    cli_ndjson_event_t ev;
    const char *reason = cli_ndjson_parse(line, len, &ev);
    if (reason != NULL) {
        st->malformed++;
        cli_err("send: line %llu: %s", lineno, reason);
        return LINE_MALFORMED;
    }
    segops_err_t err = segops_track_event(st->client, &ev.event);
    cli_ndjson_release(&ev);
    switch (err) {
    case SEGOPS_OK: st->accepted++; return LINE_ACCEPTED;
    case SEGOPS_E_INVALID_ARG:
    case SEGOPS_E_INVALID_JSON:
    case SEGOPS_E_TOO_LARGE:
        st->malformed++;
        cli_err("send: line %llu: %s", lineno,
                err == SEGOPS_E_INVALID_ARG
                    ? "invalid event (non-UTF-8 id, or occurred_at not RFC 3339)"
                    : segops_strerror(err));
        return LINE_MALFORMED;
    default:
        atomic_fetch_add(&st->refused, 1);
        cli_err("send: line %llu: not accepted: %s", lineno, segops_strerror(err));
        return LINE_REFUSED;
    }
}

/* Reads every line from line lineno + 1 on; false on a read error (reported). */
static bool read_input(send_state_t *st, FILE *in, unsigned long long lineno) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (!interrupted && (n = getline(&line, &cap, in)) != -1) {
        lineno++;
        size_t len = (size_t)n;
        if (len > 0 && line[len - 1] == '\n') {
            len--;
        }
        line_outcome_t outcome =
            is_blank(line, len) ? LINE_BLANK : send_line(st, lineno, line, len);
        if (st->resume != NULL) {
            if (outcome == LINE_REFUSED) {
                /* Not done: the record stays before this line, so a resume retries it. */
                cli_err("send: stopped reading at line %llu", lineno);
                st->stopped = true;
                break;
            }
            cli_resume_line(st->resume, line, (size_t)n, outcome == LINE_ACCEPTED);
        }
        if (atomic_load(&st->auth_failed)) {
            /* Every further event would be rejected the same way. */
            cli_err("send: stopped reading after line %llu: credentials rejected", lineno);
            st->stopped = true;
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

static void print_summary(send_state_t *st, const segops_stats_t *stats, const char *spool_dir) {
    uint64_t refused = atomic_load(&st->refused);
    char reasons[256];
    cli_drops_format(&st->drops, refused, reasons, sizeof reasons);
    char spool[64] = "";
    if (spool_dir != NULL) {
        snprintf(spool, sizeof spool, ", recovered %llu", (unsigned long long)stats->recovered);
    }
    cli_err("send: read %llu, accepted %llu, delivered %llu, dropped %llu%s, malformed %llu%s",
            (unsigned long long)atomic_load(&st->read), (unsigned long long)st->accepted,
            (unsigned long long)stats->delivered, (unsigned long long)(stats->dropped + refused),
            reasons, (unsigned long long)st->malformed, spool);
    if (spool_dir != NULL && stats->pending > 0) {
        cli_err("send: %llu undelivered event%s stay in the spool '%s' for the next send",
                (unsigned long long)stats->pending, stats->pending == 1 ? "" : "s", spool_dir);
    }
}

typedef struct send_args {
    cli_conn_t conn;
    int64_t batch_size; /* 0 = the library's */
    bool no_progress;
    const char *path;      /* NULL or "-": standard input */
    const char *spool_dir; /* --spool, or NULL */
} send_args_t;

static int parse_send_args(int argc, char **argv, send_args_t *args) {
    const char *cmd = "send";
    const char *batch = NULL;
    cli_conn_flags_t flags = {0};
    const cli_opt_t opts[] = {
        CLI_CONN_OPTS(flags),
        {"batch-size", 0, true, &batch, NULL},
        {"no-progress", 0, false, NULL, &args->no_progress},
        {"spool", 0, true, &args->spool_dir, NULL},
    };
    size_t npos = 0;
    int rc = cli_parse_args(cmd, usage, argc, argv, opts, sizeof opts / sizeof opts[0], &args->path,
                            1, &npos);
    if (rc != CLI_PARSE_OK) {
        return rc;
    }
    rc = cli_conn_from_flags(cmd, &flags, &args->conn);
    if (rc != CLI_PARSE_OK) {
        return rc;
    }
    if (batch != NULL && !cli_parse_int(cmd, "--batch-size", batch, 1, 100000, &args->batch_size)) {
        return CLI_EXIT_INPUT;
    }
    return CLI_PARSE_OK;
}

static int make_client(const send_args_t *args, send_state_t *st) {
    const cli_conn_t *conn = &args->conn;
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
    if (err == SEGOPS_OK && args->batch_size > 0) {
        err = segops_options_set_batch_size(options, (size_t)args->batch_size);
    }
    if (err == SEGOPS_OK && args->spool_dir != NULL) {
        err = segops_options_set_spool_dir(options, args->spool_dir);
        if (err != SEGOPS_OK) {
            cli_err("send: invalid --spool: %s", segops_strerror(err));
            segops_options_free(options);
            return CLI_EXIT_INPUT;
        }
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

/* A regular file can be read again, so a send of it can resume; a pipe or a
 * terminal cannot. */
static bool resumable(FILE *in) {
    struct stat sb;
    return in != stdin && fstat(fileno(in), &sb) == 0 && S_ISREG(sb.st_mode);
}

/* What becomes of the progress record once the client is shut down. */
static cli_resume_end_t resume_end(const send_state_t *st, bool read_ok,
                                   const segops_stats_t *stats) {
    if (atomic_load(&st->auth_failed)) {
        return CLI_RESUME_REREAD;
    }
    if (read_ok && !interrupted && !st->stopped && stats->pending == 0) {
        return CLI_RESUME_DONE;
    }
    return CLI_RESUME_KEEP;
}

static int exit_code(const send_state_t *st, bool read_ok, const segops_stats_t *stats) {
    if (atomic_load(&st->auth_failed)) {
        return CLI_EXIT_AUTH;
    }
    /* pending > 0: with --spool, events the deadline left on disk. */
    if (stats->dropped > 0 || stats->pending > 0 || atomic_load(&st->refused) > 0) {
        return CLI_EXIT_NETWORK;
    }
    if (st->malformed > 0 || !read_ok) {
        return CLI_EXIT_INPUT;
    }
    return interrupted ? CLI_EXIT_OTHER : CLI_EXIT_OK;
}

int cli_cmd_send(int argc, char **argv) {
    send_args_t args;
    memset(&args, 0, sizeof args);
    int rc = parse_send_args(argc, argv, &args);
    if (rc != CLI_PARSE_OK) {
        return rc;
    }

    FILE *in = stdin;
    if (args.path != NULL && strcmp(args.path, "-") != 0) {
        in = fopen(args.path, "r");
        if (in == NULL) {
            cli_err("send: cannot open '%s': %s", args.path, strerror(errno));
            return CLI_EXIT_INPUT;
        }
    }
    unsigned long long lineno = 0;
    send_state_t *st = calloc(1, sizeof *st);
    if (st == NULL) {
        cli_err("send: %s", segops_strerror(SEGOPS_E_NOMEM));
        rc = CLI_EXIT_OTHER;
    } else {
        rc = make_client(&args, st);
    }
    if (rc == CLI_EXIT_OK && args.spool_dir != NULL && resumable(in)) {
        uint64_t skipped = 0;
        rc = cli_resume_begin(args.spool_dir, st->client, in, &st->resume, &skipped);
        lineno = skipped;
        if (rc != CLI_EXIT_OK) {
            /* Nothing was tracked; what the spool holds stays there. */
            segops_shutdown(st->client, 0);
            segops_client_free(st->client);
        }
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
    if (!args.no_progress && isatty(STDERR_FILENO)) {
        progress = cli_progress_start("send", sample, st, 250);
    }
    bool read_ok = read_input(st, in, lineno);
    if (in != stdin) {
        fclose(in);
    }
    if (interrupted) {
        cli_err("send: interrupted; delivering what was read (up to %d ms)", args.conn.timeout_ms);
    }
    /* Delivers what is queued; what misses the deadline is dropped and reported
     * (with --spool: stays on disk for the next send). */
    segops_shutdown(st->client, args.conn.timeout_ms);
    cli_progress_stop(progress);

    segops_stats_t stats;
    memset(&stats, 0, sizeof stats);
    segops_client_stats(st->client, &stats);
    print_summary(st, &stats, args.spool_dir);
    cli_resume_end(st->resume, resume_end(st, read_ok, &stats));
    rc = exit_code(st, read_ok, &stats);
    segops_client_free(st->client);
    free(st);
    return rc;
}
