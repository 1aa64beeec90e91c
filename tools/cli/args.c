/* Command-line option parsing: --name V, --name=V, -x V, -xV, "--" and -h/--help. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt_t *find_long(const cli_opt_t *opts, size_t count, const char *name,
                                  size_t len) {
    for (size_t i = 0; i < count; i++) {
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) {
            return &opts[i];
        }
    }
    return NULL;
}

static const cli_opt_t *find_short(const cli_opt_t *opts, size_t count, char c) {
    for (size_t i = 0; i < count; i++) {
        if (opts[i].short_name != 0 && opts[i].short_name == c) {
            return &opts[i];
        }
    }
    return NULL;
}

static int usage_error(const char *cmd, const char *what, const char *name, size_t len) {
    /* Names are echoed, values never: a mistyped flag may carry a secret. */
    cli_err("%s: %s '%.*s' (see 'segops %s --help')", cmd, what, (int)len, name, cmd);
    return CLI_EXIT_USAGE;
}

int cli_parse_args(const char *cmd, const char *usage, int argc, char **argv, const cli_opt_t *opts,
                   size_t opt_count, const char **positional, size_t max_positional,
                   size_t *positional_count) {
    size_t npos = 0;
    bool options_done = false;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        const cli_opt_t *opt = NULL;

        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            if (npos >= max_positional) {
                cli_err("%s: unexpected argument #%zu (see 'segops %s --help')", cmd, npos + 1,
                        cmd);
                return CLI_EXIT_USAGE;
            }
            positional[npos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        }
        if (arg[1] == '-') {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
            opt = find_long(opts, opt_count, name, len);
            if (opt == NULL) {
                return usage_error(cmd, "unknown option", arg, (size_t)(name - arg) + len);
            }
            if (eq != NULL) {
                if (!opt->has_arg) {
                    return usage_error(cmd, "option takes no value:", arg,
                                       (size_t)(name - arg) + len);
                }
                value = eq + 1;
            }
        } else {
            opt = find_short(opts, opt_count, arg[1]);
            if (opt == NULL) {
                return usage_error(cmd, "unknown option", arg, 2);
            }
            if (arg[2] != '\0') {
                if (!opt->has_arg) {
                    return usage_error(cmd, "unknown option", arg, strlen(arg));
                }
                value = arg + 2;
            }
        }

        if (!opt->has_arg) {
            *opt->flag = true;
            continue;
        }
        if (value == NULL) {
            if (i + 1 >= argc) {
                return usage_error(cmd, "missing value for", arg, strlen(arg));
            }
            value = argv[++i];
        }
        *opt->value = value;
    }
    if (positional_count != NULL) {
        *positional_count = npos;
    }
    return CLI_PARSE_OK;
}

bool cli_parse_int(const char *cmd, const char *what, const char *text, int64_t min, int64_t max,
                   int64_t *out) {
    bool ok = false;
    if (text != NULL && text[0] != '\0' && !isspace((unsigned char)text[0])) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno == 0 && *end == '\0' && v >= min && v <= max) {
            *out = (int64_t)v;
            ok = true;
        }
    }
    if (!ok) {
        cli_err("%s: %s must be an integer from %" PRId64 " to %" PRId64, cmd, what, min, max);
    }
    return ok;
}

int cli_conn_from_flags(const char *cmd, const cli_conn_flags_t *flags, cli_conn_t *conn) {
    *conn = (cli_conn_t){flags->url, CLI_DEFAULT_TIMEOUT_MS, -1, flags->ca_file,
                         flags->allow_insecure_http};
    int64_t v = 0;
    if (flags->timeout_ms != NULL) {
        if (!cli_parse_int(cmd, "--timeout-ms", flags->timeout_ms, 1, INT32_MAX, &v)) {
            return CLI_EXIT_INPUT;
        }
        conn->timeout_ms = (int)v;
    }
    if (flags->retries != NULL &&
        !cli_parse_int(cmd, "--retries", flags->retries, 0, 100, &conn->retries)) {
        return CLI_EXIT_INPUT;
    }
    /* The library reads it only at the first TLS handshake: say now what is wrong. */
    FILE *ca = flags->ca_file != NULL ? fopen(flags->ca_file, "r") : NULL;
    if (flags->ca_file != NULL && ca == NULL) {
        cli_err("%s: cannot read --ca-file '%s': %s", cmd, flags->ca_file, strerror(errno));
        return CLI_EXIT_INPUT;
    }
    if (ca != NULL) {
        fclose(ca);
    }
    return CLI_PARSE_OK;
}
