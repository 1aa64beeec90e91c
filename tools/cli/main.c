/* `segops`: command dispatch, top-level usage and --version. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "Usage: segops COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  track     send one event and wait for the outcome\n"
    "  send      stream NDJSON events from a file or standard input\n"
    "  sign      print a signed user identity (backend helper)\n"
    "  verify    check a signed user identity\n"
    "\n"
    "'segops COMMAND --help' describes each command. 'segops --version' prints versions.\n"
    "\n"
    "Environment (secrets are read only from here, never from flags):\n"
    "  SEGOPS_API_URL       API base URL, e.g. https://api.segops.example\n"
    "  SEGOPS_API_KEY       sk_ secret key, or pk_ public key\n"
    "  SEGOPS_USER_ID       with a pk_ key: the identity for the session\n"
    "  SEGOPS_USER_SIG      with a pk_ key: user_id_sig (see 'segops sign')\n"
    "  SEGOPS_USER_TS       with a pk_ key: user_id_ts\n"
    "  SEGOPS_HMAC_SECRET   hex HMAC secret for sign and verify\n"
    "\n"
    "Exit status:\n"
    "  0  success\n"
    "  1  other error (internal, out of memory, interrupted)\n"
    "  2  usage: unknown command or option, missing argument or setting\n"
    "  3  invalid input: bad JSON, bad argument values, unreadable file\n"
    "  4  network or server: delivery failed, events dropped\n"
    "  5  auth: key, token or signature rejected\n";

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} command_t;

static const command_t commands[] = {
    {"track", cli_cmd_track},
    {"send", cli_cmd_send},
    {"sign", cli_cmd_sign},
    {"verify", cli_cmd_verify},
};

int main(int argc, char **argv) {
    if (argc < 2) {
        cli_err("missing command (see 'segops --help')");
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("segops %s (libsegops %s)\n", SEGOPS_VERSION_STRING, segops_version());
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(name, commands[i].name) == 0) {
            /* The command sees itself as argv[0]. */
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    if (name[0] == '-') {
        /* Up to any '=': a mistyped flag may carry a secret as its value. */
        cli_err("unknown option '%.*s' (see 'segops --help')", (int)strcspn(name, "="), name);
    } else {
        cli_err("unknown command '%s' (see 'segops --help')", name);
    }
    return CLI_EXIT_USAGE;
}
