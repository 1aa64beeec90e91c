/* `segops verify`: checks a signed identity the way the server does. */
#include "cli.h"

#include <stdio.h>

/* The server's window for signatures: ±5 minutes (SegOps protocol). */
#define DEFAULT_TOLERANCE_S 300

static const char usage[] =
    "Usage: segops verify --user ID --sig HEX --ts T [--tolerance S]\n"
    "\n"
    "Checks a user id signature against the hex HMAC secret in SEGOPS_HMAC_SECRET\n"
    "and the current time.\n"
    "\n"
    "Options:\n"
    "  -u, --user ID        signed user id (required)\n"
    "      --sig HEX        user_id_sig, 64 hex digits (required)\n"
    "      --ts T           user_id_ts, unix seconds (required)\n"
    "      --tolerance S    accepted clock distance in seconds (default 300)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 valid, 5 invalid or outside the window, 2 usage or\n"
    "SEGOPS_HMAC_SECRET unset, 3 malformed value, 1 other.\n";

int cli_cmd_verify(int argc, char **argv) {
    const char *cmd = "verify";
    const char *user = NULL, *sig = NULL, *ts_text = NULL, *tolerance_text = NULL;
    const cli_opt_t opts[] = {
        {"user", 'u', true, &user, NULL},
        {"sig", 0, true, &sig, NULL},
        {"ts", 0, true, &ts_text, NULL},
        {"tolerance", 0, true, &tolerance_text, NULL},
    };
    int rc =
        cli_parse_args(cmd, usage, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (rc != CLI_PARSE_OK) {
        return rc;
    }
    if (user == NULL || sig == NULL || ts_text == NULL) {
        cli_err("%s: --user, --sig and --ts are required (see 'segops verify --help')", cmd);
        return CLI_EXIT_USAGE;
    }
    int64_t ts = 0, tolerance = DEFAULT_TOLERANCE_S;
    if (!cli_parse_int(cmd, "--ts", ts_text, 1, INT64_MAX, &ts) ||
        (tolerance_text != NULL &&
         !cli_parse_int(cmd, "--tolerance", tolerance_text, 0, INT64_MAX, &tolerance))) {
        return CLI_EXIT_INPUT;
    }
    const char *secret = cli_hmac_secret(cmd);
    if (secret == NULL) {
        return CLI_EXIT_USAGE;
    }

    segops_err_t err = segops_verify_user_id(secret, user, sig, ts, 0, tolerance);
    switch (err) {
    case SEGOPS_OK: puts("valid"); return CLI_EXIT_OK;
    case SEGOPS_E_AUTH:
        cli_err("%s: invalid signature, or timestamp outside the window", cmd);
        return CLI_EXIT_AUTH;
    case SEGOPS_E_INVALID_ARG:
        cli_err("%s: malformed --user or --sig, or SEGOPS_HMAC_SECRET is not hex", cmd);
        return CLI_EXIT_INPUT;
    default: cli_err("%s: %s", cmd, segops_strerror(err)); return cli_exit_for(err);
    }
}
