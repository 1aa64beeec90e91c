/* `segops track`: sends one event with batching off, so the exit status is the
 * delivery outcome. */
#include "cli.h"

#include <stdio.h>

static const char usage[] =
    "Usage: segops track --user ID --event TYPE [options]\n"
    "\n"
    "Sends one event and waits for the server's answer.\n"
    "\n"
    "Options:\n"
    "  -u, --user ID            user id (required)\n"
    "  -e, --event TYPE         event type, e.g. order_placed (required)\n"
    "  -p, --payload JSON       payload, the text of a JSON object (default {})\n"
    "      --occurred-at T      RFC 3339 time of the event (default now)\n"
    "      --anonymous-id A     anonymous id to send with the event\n"
    "      --url URL            API base URL (overrides SEGOPS_API_URL)\n"
    "      --timeout-ms MS      delivery deadline, retries included (default 30000)\n"
    "      --retries N          retries after network/5xx/429 errors (default: library's)\n"
    "  -h, --help               show this help\n"
    "\n"
    "Environment: SEGOPS_API_URL, SEGOPS_API_KEY (sk_ or pk_); with a pk_ key,\n"
    "SEGOPS_USER_ID, SEGOPS_USER_SIG and SEGOPS_USER_TS give the session identity.\n"
    "Exit status: 0 delivered, 2 usage, 3 invalid input, 4 delivery failed, 5 auth, 1 other.\n";

int cli_cmd_track(int argc, char **argv) {
    const char *cmd = "track";
    const char *user = NULL, *event = NULL, *payload = NULL, *occurred_at = NULL;
    const char *anonymous_id = NULL, *url = NULL, *timeout = NULL, *retries = NULL;
    const cli_opt_t opts[] = {
        {"user", 'u', true, &user, NULL},
        {"event", 'e', true, &event, NULL},
        {"payload", 'p', true, &payload, NULL},
        {"occurred-at", 0, true, &occurred_at, NULL},
        {"anonymous-id", 0, true, &anonymous_id, NULL},
        {"url", 0, true, &url, NULL},
        {"timeout-ms", 0, true, &timeout, NULL},
        {"retries", 0, true, &retries, NULL},
    };
    int rc =
        cli_parse_args(cmd, usage, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (rc != CLI_PARSE_OK) {
        return rc;
    }
    if (user == NULL || event == NULL) {
        cli_err("%s: --user and --event are required (see 'segops track --help')", cmd);
        return CLI_EXIT_USAGE;
    }

    cli_conn_t conn = {url, CLI_DEFAULT_TIMEOUT_MS, -1};
    int64_t v = 0;
    if (timeout != NULL) {
        if (!cli_parse_int(cmd, "--timeout-ms", timeout, 1, INT32_MAX, &v)) {
            return CLI_EXIT_INPUT;
        }
        conn.timeout_ms = (int)v;
    }
    if (retries != NULL) {
        if (!cli_parse_int(cmd, "--retries", retries, 0, 100, &conn.retries)) {
            return CLI_EXIT_INPUT;
        }
    }

    segops_options_t *options = NULL;
    rc = cli_options_from_env(cmd, &conn, &options);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    segops_err_t err = segops_options_set_batch(options, false);
    segops_client_t *client = NULL;
    if (err == SEGOPS_OK) {
        err = segops_client_new(options, &client);
    }
    segops_options_free(options);
    if (err != SEGOPS_OK) {
        cli_err("%s: cannot create client: %s", cmd, segops_strerror(err));
        return cli_exit_for(err);
    }

    segops_event_t ev = {0};
    ev.user_id = user;
    ev.event_type = event;
    ev.payload_json = payload;
    ev.occurred_at = occurred_at;
    ev.anonymous_id = anonymous_id;
    err = segops_track_event(client, &ev);
    switch (err) {
    case SEGOPS_OK: break;
    case SEGOPS_E_INVALID_JSON:
        cli_err("%s: --payload must be the text of a JSON object", cmd);
        break;
    case SEGOPS_E_INVALID_ARG:
        cli_err("%s: invalid event: empty or non-UTF-8 id, or --occurred-at not RFC 3339", cmd);
        break;
    default: cli_err("%s: not delivered: %s", cmd, segops_strerror(err)); break;
    }
    /* Nothing is queued with batching off; the deadline only bounds the worker stop. */
    segops_shutdown(client, conn.timeout_ms);
    segops_client_free(client);
    return cli_exit_for(err);
}
