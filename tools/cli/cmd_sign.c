/* `segops sign`: prints the signed-identity object a backend hands to its client. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

static const char usage[] =
    "Usage: segops sign --user ID [--ts T]\n"
    "\n"
    "Prints {\"user_id\":...,\"user_id_sig\":...,\"user_id_ts\":...} signed with the\n"
    "hex HMAC secret in SEGOPS_HMAC_SECRET.\n"
    "\n"
    "Options:\n"
    "  -u, --user ID   user id to sign (required)\n"
    "      --ts T      unix seconds to sign (default now)\n"
    "  -h, --help      show this help\n"
    "\n"
    "Exit status: 0 ok, 2 usage or SEGOPS_HMAC_SECRET unset, 3 invalid value, 1 other.\n";

int cli_cmd_sign(int argc, char **argv) {
    const char *cmd = "sign";
    const char *user = NULL, *ts_text = NULL;
    const cli_opt_t opts[] = {
        {"user", 'u', true, &user, NULL},
        {"ts", 0, true, &ts_text, NULL},
    };
    int rc =
        cli_parse_args(cmd, usage, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (rc != CLI_PARSE_OK) {
        return rc;
    }
    if (user == NULL) {
        cli_err("%s: --user is required (see 'segops sign --help')", cmd);
        return CLI_EXIT_USAGE;
    }
    int64_t ts = 0;
    if (ts_text != NULL && !cli_parse_int(cmd, "--ts", ts_text, 1, INT64_MAX, &ts)) {
        return CLI_EXIT_INPUT;
    }
    const char *secret = cli_hmac_secret(cmd);
    if (secret == NULL) {
        return CLI_EXIT_USAGE;
    }

    segops_signed_user_t signed_user;
    segops_err_t err = segops_sign_user_id(secret, user, ts, &signed_user);
    if (err == SEGOPS_E_INVALID_ARG) {
        cli_err("%s: invalid --user, or SEGOPS_HMAC_SECRET is not even-length hex", cmd);
        return CLI_EXIT_INPUT;
    }
    if (err != SEGOPS_OK) {
        cli_err("%s: %s", cmd, segops_strerror(err));
        return cli_exit_for(err);
    }
    size_t needed = 0;
    err = segops_signed_user_json(user, &signed_user, NULL, 0, &needed);
    char *json = err == SEGOPS_E_TOO_LARGE ? malloc(needed) : NULL;
    if (json == NULL) {
        cli_err("%s: %s", cmd, segops_strerror(err == SEGOPS_E_TOO_LARGE ? SEGOPS_E_NOMEM : err));
        return CLI_EXIT_OTHER;
    }
    err = segops_signed_user_json(user, &signed_user, json, needed, NULL);
    if (err == SEGOPS_OK) {
        printf("%s\n", json);
    } else {
        cli_err("%s: %s", cmd, segops_strerror(err));
    }
    free(json);
    if (err == SEGOPS_OK && fflush(stdout) != 0) {
        cli_err("%s: cannot write the output", cmd);
        return CLI_EXIT_OTHER;
    }
    return err == SEGOPS_OK ? CLI_EXIT_OK : CLI_EXIT_OTHER;
}
