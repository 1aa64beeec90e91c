/* Settings from the environment: API URL, key, pk_ identity and HMAC secret. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* The pk_ identity, parsed once on the main thread; get_user runs on the worker. */
typedef struct cli_user_env {
    const char *user_id;
    const char *sig;
    int64_t ts;
} cli_user_env_t;

static cli_user_env_t user_env;

#define CLI_USER_AGENT "segops-cli/" SEGOPS_VERSION_STRING

static const char *env_nonempty(const char *name) {
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static segops_err_t get_user_from_env(segops_user_t *user, void *userdata) {
    const cli_user_env_t *env = userdata;
    segops_err_t err = SEGOPS_OK;
    if (env->user_id != NULL) {
        err = segops_user_set_id(user, env->user_id);
    }
    if (err == SEGOPS_OK && env->sig != NULL) {
        err = segops_user_set_signature(user, env->sig, env->ts);
    }
    return err;
}

/* Reads SEGOPS_USER_ID / SEGOPS_USER_SIG / SEGOPS_USER_TS for a pk_ key. */
static int load_user_env(const char *cmd) {
    user_env.user_id = env_nonempty("SEGOPS_USER_ID");
    user_env.sig = env_nonempty("SEGOPS_USER_SIG");
    const char *ts = env_nonempty("SEGOPS_USER_TS");
    user_env.ts = 0;
    if ((user_env.sig == NULL) != (ts == NULL)) {
        cli_err("%s: SEGOPS_USER_SIG and SEGOPS_USER_TS must be set together", cmd);
        return CLI_EXIT_USAGE;
    }
    if (ts != NULL && !cli_parse_int(cmd, "SEGOPS_USER_TS", ts, 1, INT64_MAX, &user_env.ts)) {
        return CLI_EXIT_INPUT;
    }
    return CLI_EXIT_OK;
}

/* The library logs at ERROR only why segops_client_new refused the options: that
 * line is the reason the command reports. */
static const char *log_cmd = "segops";

static void log_error(segops_log_level_t level, const char *message, void *userdata) {
    (void)level;
    (void)userdata;
    cli_err("%s: %s", log_cmd, message);
}

static int set_failed(const char *cmd, const char *what, segops_err_t err) {
    /* Never echo the value: URLs can embed credentials, keys are secrets. */
    cli_err("%s: %s: %s", cmd, what, segops_strerror(err));
    return err == SEGOPS_E_NOMEM ? CLI_EXIT_OTHER : CLI_EXIT_INPUT;
}

int cli_options_from_env(const char *cmd, const cli_conn_t *conn, segops_options_t **out) {
    *out = NULL;
    const char *url =
        conn->url_override != NULL ? conn->url_override : env_nonempty("SEGOPS_API_URL");
    const char *key = env_nonempty("SEGOPS_API_KEY");
    if (url == NULL) {
        cli_err("%s: SEGOPS_API_URL is not set (or pass --url)", cmd);
        return CLI_EXIT_USAGE;
    }
    if (key == NULL) {
        cli_err("%s: SEGOPS_API_KEY is not set", cmd);
        return CLI_EXIT_USAGE;
    }
    bool public_key = strncmp(key, "pk_", 3) == 0;
    if (!public_key && strncmp(key, "sk_", 3) != 0) {
        cli_err("%s: SEGOPS_API_KEY must start with sk_ or pk_", cmd);
        return CLI_EXIT_INPUT;
    }
    if (public_key) {
        int rc = load_user_env(cmd);
        if (rc != CLI_EXIT_OK) {
            return rc;
        }
    }

    segops_options_t *opts = NULL;
    segops_err_t err = segops_options_new(&opts);
    if (err != SEGOPS_OK) {
        cli_err("%s: %s", cmd, segops_strerror(err));
        return CLI_EXIT_OTHER;
    }
    /* The deadline bounds each request, the retries of one batch and the connect. */
    uint32_t timeout = conn->timeout_ms > 0 ? (uint32_t)conn->timeout_ms : 1;
    uint32_t request = timeout < 600000 ? timeout : 600000;
    uint32_t connect = request < 10000 ? request : 10000;
    int rc = CLI_EXIT_OK;
    if ((err = segops_options_set_api_url(opts, url)) != SEGOPS_OK) {
        rc = set_failed(cmd, "invalid API URL", err);
    } else if ((err = segops_options_set_api_key(opts, key)) != SEGOPS_OK) {
        rc = set_failed(cmd, "invalid SEGOPS_API_KEY", err);
    } else if ((err = segops_options_set_request_timeout_ms(opts, request)) != SEGOPS_OK ||
               (err = segops_options_set_connect_timeout_ms(opts, connect)) != SEGOPS_OK ||
               (err = segops_options_set_retry_budget_ms(opts, timeout)) != SEGOPS_OK) {
        rc = set_failed(cmd, "invalid --timeout-ms", err);
    } else if (conn->retries >= 0 &&
               (err = segops_options_set_max_retries(opts, (uint32_t)conn->retries)) != SEGOPS_OK) {
        rc = set_failed(cmd, "invalid --retries", err);
    } else if ((err = segops_options_set_user_agent_suffix(opts, CLI_USER_AGENT)) != SEGOPS_OK) {
        rc = set_failed(cmd, "user agent", err);
    } else if (public_key && (err = segops_options_set_get_user(opts, get_user_from_env,
                                                                &user_env)) != SEGOPS_OK) {
        rc = set_failed(cmd, "pk_ identity", err);
    } else if (conn->ca_file != NULL &&
               (err = segops_options_set_ca_file(opts, conn->ca_file)) != SEGOPS_OK) {
        rc = set_failed(cmd, "invalid --ca-file", err);
    } else if ((err = segops_options_set_allow_insecure_http(opts, conn->allow_insecure_http)) !=
               SEGOPS_OK) {
        rc = set_failed(cmd, "--allow-insecure-http", err);
    } else if ((err = segops_options_set_logger(opts, log_error, SEGOPS_LOG_ERROR, NULL)) !=
               SEGOPS_OK) {
        rc = set_failed(cmd, "logger", err);
    }
    log_cmd = cmd;
    if (rc != CLI_EXIT_OK) {
        segops_options_free(opts);
        return rc;
    }
    *out = opts;
    return CLI_EXIT_OK;
}

const char *cli_hmac_secret(const char *cmd) {
    const char *secret = env_nonempty("SEGOPS_HMAC_SECRET");
    if (secret == NULL) {
        cli_err("%s: SEGOPS_HMAC_SECRET is not set", cmd);
    }
    return secret;
}
