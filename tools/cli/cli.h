/*
 * The segops command-line tool: shared declarations.
 *
 * Every command is built on the public API only (<segops/segops.h>). Secrets (API
 * key, HMAC secret) come from the environment, never from flags, so they stay out
 * of process listings, and no message ever prints them.
 */
#ifndef SEGOPS_CLI_H
#define SEGOPS_CLI_H

#include <segops/segops.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes; documented in `segops --help`, so never renumbered. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_OTHER = 1,   /* internal, memory, crypto, interrupted */
    CLI_EXIT_USAGE = 2,   /* unknown command/option, missing argument or setting */
    CLI_EXIT_INPUT = 3,   /* bad JSON, bad argument values, unreadable input */
    CLI_EXIT_NETWORK = 4, /* delivery failed or events were dropped */
    CLI_EXIT_AUTH = 5     /* key, token or signature rejected */
};

/* Default deadline for delivery (retries, flush, shutdown). */
#define CLI_DEFAULT_TIMEOUT_MS 30000

/* ---- report.c: messages and exit codes ---------------------------------- */

/* Prints "segops: <message>\n" on stderr as one line (newlines in the text are
 * replaced). Safe to call while the progress line is shown. */
void cli_err(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* The exit code for a library error. */
int cli_exit_for(segops_err_t err);

/* Draws text as the transient status line on stderr (a terminal), replacing the
 * previous one; cli_err erases it before printing, and the next draw restores it. */
void cli_status_draw(const char *text);
/* Erases the status line, if one is shown. */
void cli_status_clear(void);

/* ---- args.c: option parsing --------------------------------------------- */

typedef struct cli_opt {
    const char *name;   /* long name without "--" */
    char short_name;    /* 0 = none */
    bool has_arg;       /* takes a value (--name V or --name=V) */
    const char **value; /* where the value goes (has_arg) */
    bool *flag;         /* set to true when seen (!has_arg) */
} cli_opt_t;

/* What cli_parse_args returns when the command should go on; anything else is
 * the exit code to return at once. */
#define CLI_PARSE_OK (-1)

/* Parses argv[1..] (argv[0] is the command name) against opts. Positional
 * arguments go to positional[0..max_positional). "-h"/"--help" prints `usage`
 * and returns CLI_EXIT_OK; a usage error is reported and returns CLI_EXIT_USAGE. */
int cli_parse_args(const char *cmd, const char *usage, int argc, char **argv, const cli_opt_t *opts,
                   size_t opt_count, const char **positional, size_t max_positional,
                   size_t *positional_count);

/* Parses a decimal integer in [min, max]; false (with a message naming `what`) if
 * it is not one. */
bool cli_parse_int(const char *cmd, const char *what, const char *text, int64_t min, int64_t max,
                   int64_t *out);

/* ---- env.c: settings from the environment ------------------------------- */

/* Delivery settings shared by the commands that connect (track, send). */
typedef struct cli_conn {
    const char *url_override; /* --url, or NULL for SEGOPS_API_URL */
    int timeout_ms;           /* --timeout-ms */
    int64_t retries;          /* --retries, or -1 for the library default */
    const char *ca_file;      /* --ca-file: trust anchors added to the system's, or NULL */
    bool allow_insecure_http; /* --allow-insecure-http */
} cli_conn_t;

/* The connection flags as cli_parse_args leaves them, before cli_conn_from_flags. */
typedef struct cli_conn_flags {
    const char *url, *timeout_ms, *retries, *ca_file;
    bool allow_insecure_http;
} cli_conn_flags_t;

/* The cli_opt_t entries of the connection flags, for a command's option table. */
/* clang-format off */
#define CLI_CONN_OPTS(f)                                                  \
    {"url", 0, true, &(f).url, NULL},                                     \
    {"timeout-ms", 0, true, &(f).timeout_ms, NULL},                       \
    {"retries", 0, true, &(f).retries, NULL},                             \
    {"ca-file", 0, true, &(f).ca_file, NULL},                             \
    {"allow-insecure-http", 0, false, NULL, &(f).allow_insecure_http}
/* clang-format on */

/* Their help lines, but --timeout-ms's (its meaning is the command's). */
#define CLI_CONN_USAGE                                                                             \
    "      --url URL            API base URL (overrides SEGOPS_API_URL)\n"                         \
    "      --retries N          retries after network/5xx/429 errors (default: library's)\n"       \
    "      --ca-file FILE       also trust the CA certificates in FILE (PEM), e.g. a\n"            \
    "                           server's private CA\n"                                             \
    "      --allow-insecure-http\n"                                                                \
    "                           allow plain http:// to a host other than loopback\n"               \
    "                           (the key crosses the network in clear text)\n"

/* args.c: checks the flags' values into conn (defaults for those not given) and
 * that --ca-file can be read. Returns CLI_PARSE_OK, or an exit code after
 * reporting the bad value. */
int cli_conn_from_flags(const char *cmd, const cli_conn_flags_t *flags, cli_conn_t *conn);

/* Builds options from SEGOPS_API_URL / SEGOPS_API_KEY (and, for pk_ keys, the
 * SEGOPS_USER_* identity) plus conn, with a logger that prints the library's
 * reason when segops_client_new refuses them. Returns CLI_EXIT_OK with *out owned
 * by the caller, or an exit code after reporting why. */
int cli_options_from_env(const char *cmd, const cli_conn_t *conn, segops_options_t **out);

/* The HMAC secret from SEGOPS_HMAC_SECRET, or NULL after reporting it is unset. */
const char *cli_hmac_secret(const char *cmd);

/* ---- commands ----------------------------------------------------------- */

int cli_cmd_track(int argc, char **argv);
int cli_cmd_send(int argc, char **argv);
int cli_cmd_sign(int argc, char **argv);
int cli_cmd_verify(int argc, char **argv);

#endif /* SEGOPS_CLI_H */
