/* `segops track`: sends one event and waits for its outcome. It goes through the
 * batching client, as `send` does, so a failure is reported the same way: the
 * drop report with its code, HTTP status and the reason (a certificate's, the
 * server's message). */
#include "cli.h"
#include "drops.h"

#include <stdatomic.h>
#include <string.h>

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
    "      --timeout-ms MS      delivery deadline, retries included (default "
    "30000)\n" CLI_CONN_USAGE "  -h, --help               show this help\n"
    "\n"
    "Environment: SEGOPS_API_URL, SEGOPS_API_KEY (sk_ or pk_); with a pk_ key,\n"
    "SEGOPS_USER_ID, SEGOPS_USER_SIG and SEGOPS_USER_TS give the session identity.\n"
    "Exit status: 0 delivered, 2 usage, 3 invalid input, 4 delivery failed, 5 auth, 1 other.\n";

typedef struct track_state {
    cli_drops_t drops;
    _Atomic segops_err_t dropped_code; /* SEGOPS_OK until the event is dropped */
} track_state_t;

static void on_error(const segops_error_info_t *info, void *userdata) {
    track_state_t *st = userdata;
    atomic_store(&st->dropped_code, info->code);
    cli_drops_report(&st->drops, "track", info);
}

static void report_refused(const char *cmd, segops_err_t err) {
    switch (err) {
    case SEGOPS_E_INVALID_JSON:
        cli_err("%s: --payload must be the text of a JSON object", cmd);
        break;
    case SEGOPS_E_INVALID_ARG:
        cli_err("%s: invalid event: empty or non-UTF-8 id, or --occurred-at not RFC 3339", cmd);
        break;
    default: cli_err("%s: not accepted: %s", cmd, segops_strerror(err)); break;
    }
}

int cli_cmd_track(int argc, char **argv) {
    const char *cmd = "track";
    const char *user = NULL, *event = NULL, *payload = NULL, *occurred_at = NULL;
    const char *anonymous_id = NULL;
    cli_conn_flags_t flags = {0};
    const cli_opt_t opts[] = {
        {"user", 'u', true, &user, NULL},
        {"event", 'e', true, &event, NULL},
        {"payload", 'p', true, &payload, NULL},
        {"occurred-at", 0, true, &occurred_at, NULL},
        {"anonymous-id", 0, true, &anonymous_id, NULL},
        CLI_CONN_OPTS(flags),
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
    cli_conn_t conn;
    rc = cli_conn_from_flags(cmd, &flags, &conn);
    if (rc != CLI_PARSE_OK) {
        return rc;
    }

    segops_options_t *options = NULL;
    rc = cli_options_from_env(cmd, &conn, &options);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    track_state_t st;
    memset(&st, 0, sizeof st);
    atomic_init(&st.dropped_code, SEGOPS_OK);
    segops_err_t err = segops_options_set_on_error(options, on_error, &st);
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
    if (err != SEGOPS_OK) {
        report_refused(cmd, err);
    }
    /* Sends at once; an event still undelivered at the deadline is dropped and
     * reported (SHUTDOWN), so on_error has seen every failure when this returns. */
    segops_shutdown(client, err == SEGOPS_OK ? conn.timeout_ms : 0);
    if (err == SEGOPS_OK) {
        err = atomic_load(&st.dropped_code);
    }
    segops_client_free(client);
    return cli_exit_for(err);
}
