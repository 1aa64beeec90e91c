/*
 * segops-dev-server — the local SegOps server as a program (demo, benchmark).
 * See usage() and devserver.h. Keys may come from SEGOPS_DEV_SK / SEGOPS_DEV_PK
 * so they stay out of process listings; no key, secret or token is ever printed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "devserver.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS 64

static const char usage_text[] =
    "usage: segops-dev-server [--port N] [--port-file PATH] [--sk KEY]...\n"
    "                         [--pk KEY[:SECRET_HEX[:signed]]]... [--token-ttl S]\n"
    "                         [--record FILE|-] [--tls-cert F --tls-key F] [--max-body N]\n"
    "                         [--skip-event-type T] [--delay-ms N] [--script TEXT]\n"
    "                         [--plan-limit N [--plan-window-ms MS] [--plan-ignore-mints]\n"
    "                         [--plan-count-refused]] [--refuse-every K] [--quiet] [--help]\n"
    "\n"
    "A local SegOps ingestion server on 127.0.0.1 for demos, benchmarks and tests.\n"
    "  --port N             port to listen on (default 0: an ephemeral port)\n"
    "  --port-file PATH     write the bound port to PATH once listening\n"
    "  --sk KEY             accept this secret key (repeatable; env SEGOPS_DEV_SK, "
    "comma-separated)\n"
    "  --pk KEY[:SECRET_HEX[:signed]]\n"
    "                       accept this public key, optionally with its HMAC secret and\n"
    "                       requiring signed user ids (repeatable; env SEGOPS_DEV_PK)\n"
    "  --token-ttl S        session token lifetime in seconds (default 900)\n"
    "  --record FILE|-      append accepted events as NDJSON (- = stdout)\n"
    "  --tls-cert F --tls-key F   serve HTTPS with this PEM certificate and key\n"
    "  --max-body N         larger batch bodies get 413 (default 5 MiB)\n"
    "  --skip-event-type T  events of type T are counted as skipped (schema violations)\n"
    "  --delay-ms N         delay every batch answer by N ms\n"
    "  --script TEXT        faults for upcoming batches, e.g. \"503,429:ra=2,delay=250,noanswer,\n"
    "                       close,closemid\" (more via POST /_dev/script)\n"
    "  --plan-limit N       enforce a plan: at most N API calls (batch POSTs and session\n"
    "                       mints) per rolling window; past it 429 with the Retry-After\n"
    "                       (whole seconds) until the oldest counted call leaves it\n"
    "  --plan-window-ms MS  the plan's window (default 60000)\n"
    "  --plan-ignore-mints  session mints neither count nor get refused\n"
    "  --plan-count-refused refused calls count too (default: only admitted ones)\n"
    "  --refuse-every K     burst limiter: every K-th batch POST gets 429, Retry-After: 1\n"
    "  --quiet              no per-request log lines\n"
    "\n"
    "Prints SEGOPS_DEV_SERVER_PORT=<port> as its first stdout line; runs until SIGINT or\n"
    "SIGTERM, then prints the final counters to stderr. While it runs: GET /_dev/stats\n"
    "(counters), GET /_dev/requests (every batch and mint request: arrival, status, events).\n";

struct keys {
    const char *sk[MAX_KEYS];
    size_t nsk;
    devsrv_pk_key_t pk[MAX_KEYS];
    size_t npk;
};

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...) {
    va_list ap;
    fputs("segops-dev-server: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see --help)\n", stderr);
    exit(2);
}

static unsigned long long parse_uint(const char *opt, const char *s, unsigned long long max) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *s == '+' || *end || errno || v > max)
        usage_error("%s needs a number from 0 to %llu", opt, max);
    return v;
}

static bool is_hex(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n % 2) return false;
    return strspn(s, "0123456789abcdefABCDEF") == n;
}

/* Adds one sk key. `text` is owned by the caller for the program's lifetime. */
static void add_sk(struct keys *k, char *text) {
    if (strncmp(text, "sk_", 3) != 0 || text[3] == '\0')
        usage_error("a secret key must start with sk_");
    if (k->nsk == MAX_KEYS) usage_error("too many secret keys");
    k->sk[k->nsk++] = text;
}

/* Adds KEY[:SECRET_HEX[:signed]], splitting `text` in place. */
static void add_pk(struct keys *k, char *text) {
    char *secret = strchr(text, ':');
    char *flag = NULL;
    if (secret) {
        *secret++ = '\0';
        flag = strchr(secret, ':');
        if (flag) *flag++ = '\0';
    }
    if (strncmp(text, "pk_", 3) != 0 || text[3] == '\0')
        usage_error("a public key must start with pk_");
    if (secret && !is_hex(secret)) usage_error("a public key's HMAC secret must be hex");
    if (flag && strcmp(flag, "signed") != 0)
        usage_error("a public key's third part can only be \"signed\"");
    if (k->npk == MAX_KEYS) usage_error("too many public keys");
    k->pk[k->npk++] = (devsrv_pk_key_t){text, secret, flag != NULL};
}

/* Splits a comma-separated environment value into keys (the copy is kept). */
static void add_env_keys(struct keys *k, const char *var, void (*add)(struct keys *, char *)) {
    const char *v = getenv(var);
    if (!v || !*v) return;
    char *copy = strdup(v);
    if (!copy) {
        fprintf(stderr, "segops-dev-server: out of memory\n");
        exit(1);
    }
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) add(k, tok);
}

static bool write_port_file(const char *path, uint16_t port) {
    /* Write then rename so a reader polling the file never sees half of it. */
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    if (!tmp) return false;
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "%u\n", (unsigned)port) > 0;
    if (f && fclose(f) != 0) ok = false;
    ok = ok && rename(tmp, path) == 0;
    if (!ok) remove(tmp);
    free(tmp);
    return ok;
}

int main(int argc, char **argv) {
    static struct keys keys;
    devsrv_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.log_requests = true;
    const char *port_file = NULL;
    const char *script = NULL;

    for (int i = 1; i < argc; i++) {
        char *arg = argv[i];
        char *val = NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(arg, "--quiet") == 0) {
            cfg.log_requests = false;
            continue;
        }
        if (strcmp(arg, "--plan-ignore-mints") == 0) {
            cfg.plan_ignores_mints = true;
            continue;
        }
        if (strcmp(arg, "--plan-count-refused") == 0) {
            cfg.plan_counts_refused = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            usage_error("unexpected argument #%d (not echoed: it may be a key)", i);
        /* --opt=value or --opt value */
        static const char *const with_value[] = {
            "--port",       "--port-file",       "--sk",          "--pk",
            "--token-ttl",  "--record",          "--tls-cert",    "--tls-key",
            "--max-body",   "--skip-event-type", "--delay-ms",    "--script",
            "--plan-limit", "--plan-window-ms",  "--refuse-every"};
        char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        bool known = false;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
            known = known || (strlen(with_value[k]) == name_len &&
                              strncmp(arg, with_value[k], name_len) == 0);
        if (!known) usage_error("unknown option '%.*s'", (int)name_len, arg);
        if (eq) {
            *eq = '\0';
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            usage_error("%s needs a value", arg);
        }

        if (strcmp(arg, "--port") == 0)
            cfg.port = (uint16_t)parse_uint(arg, val, 65535);
        else if (strcmp(arg, "--port-file") == 0)
            port_file = val;
        else if (strcmp(arg, "--sk") == 0)
            add_sk(&keys, val);
        else if (strcmp(arg, "--pk") == 0)
            add_pk(&keys, val);
        else if (strcmp(arg, "--token-ttl") == 0)
            cfg.token_lifetime_s = (uint32_t)parse_uint(arg, val, UINT32_MAX);
        else if (strcmp(arg, "--record") == 0)
            cfg.record_path = val;
        else if (strcmp(arg, "--tls-cert") == 0)
            cfg.tls_cert_file = val;
        else if (strcmp(arg, "--tls-key") == 0)
            cfg.tls_key_file = val;
        else if (strcmp(arg, "--max-body") == 0)
            cfg.max_body_bytes = (size_t)parse_uint(arg, val, SIZE_MAX);
        else if (strcmp(arg, "--skip-event-type") == 0)
            cfg.skip_event_type = val;
        else if (strcmp(arg, "--delay-ms") == 0)
            cfg.answer_delay_ms = (uint32_t)parse_uint(arg, val, UINT32_MAX);
        else if (strcmp(arg, "--script") == 0)
            script = val;
        else if (strcmp(arg, "--plan-limit") == 0)
            cfg.plan_calls_per_window = (uint32_t)parse_uint(arg, val, UINT32_MAX);
        else if (strcmp(arg, "--plan-window-ms") == 0)
            cfg.plan_window_ms = (uint32_t)parse_uint(arg, val, UINT32_MAX);
        else if (strcmp(arg, "--refuse-every") == 0)
            cfg.refuse_every = (uint32_t)parse_uint(arg, val, UINT32_MAX);
        else
            usage_error("unknown option '%s'", arg);
    }
    add_env_keys(&keys, "SEGOPS_DEV_SK", add_sk);
    add_env_keys(&keys, "SEGOPS_DEV_PK", add_pk);
    if (!cfg.tls_cert_file != !cfg.tls_key_file)
        usage_error("--tls-cert and --tls-key go together");
    if (cfg.plan_window_ms && !cfg.plan_calls_per_window)
        usage_error("--plan-window-ms needs --plan-limit");
    if ((cfg.plan_ignores_mints || cfg.plan_counts_refused) && !cfg.plan_calls_per_window)
        usage_error("--plan-ignore-mints and --plan-count-refused need --plan-limit");
    if (keys.nsk == 0 && keys.npk == 0)
        fprintf(stderr, "segops-dev-server: warning: no keys configured; every request gets 401\n");
    cfg.sk_keys = keys.sk;
    cfg.sk_key_count = keys.nsk;
    cfg.pk_keys = keys.pk;
    cfg.pk_key_count = keys.npk;

    /* Block the stop signals before any server thread exists, so they inherit the
     * mask and sigwait below is the only place that receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    devsrv_t *srv;
    if (devsrv_start(&cfg, &srv) != 0) return 1;
    if (script && devsrv_script_text(srv, script) != 0) {
        devsrv_stop(srv);
        usage_error("malformed --script");
    }
    printf("SEGOPS_DEV_SERVER_PORT=%u\n", (unsigned)devsrv_port(srv));
    fflush(stdout);
    if (port_file && !write_port_file(port_file, devsrv_port(srv))) {
        fprintf(stderr, "segops-dev-server: cannot write %s\n", port_file);
        devsrv_stop(srv);
        return 1;
    }
    if (cfg.log_requests) {
        fprintf(stderr, "segops-dev-server: listening on %s (%zu sk, %zu pk keys)\n",
                devsrv_url(srv), keys.nsk, keys.npk);
        if (cfg.plan_calls_per_window)
            fprintf(stderr, "segops-dev-server: plan limit %" PRIu32 " calls per %" PRIu32 " ms\n",
                    cfg.plan_calls_per_window,
                    cfg.plan_window_ms ? cfg.plan_window_ms : (uint32_t)60000);
        if (cfg.refuse_every)
            fprintf(stderr,
                    "segops-dev-server: burst limiter: every %" PRIu32
                    "-th batch request gets 429\n",
                    cfg.refuse_every);
    }

    int sig = 0;
    while (sigwait(&stop, &sig) != 0) {
    }

    devsrv_stats_t st;
    devsrv_get_stats(srv, &st);
    devsrv_stop(srv);
    char json[1024];
    devsrv_stats_json(&st, json, sizeof json);
    fprintf(stderr, "segops-dev-server: stopped by %s; counters %s\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", json);
    return 0;
}
