/* The segops CLI run by test_cli_*.c: a dev server fixture, runs checked for secrets. */
#define _POSIX_C_SOURCE 200809L

#include "cli_run.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const sk_keys[1] = {SK_KEY};
static const devsrv_pk_key_t pk_keys[] = {{PK_KEY, HMAC_SECRET, true}};

int cli_setup(void **state) {
    cli_fixture_t *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return -1;
    }
    devsrv_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.sk_keys = sk_keys;
    cfg.sk_key_count = 1;
    cfg.pk_keys = pk_keys;
    cfg.pk_key_count = 1;
    cfg.keep_events = true;
    if (devsrv_start(&cfg, &f->srv) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

int cli_teardown(void **state) {
    cli_fixture_t *f = *state;
    devsrv_stop(f->srv);
    free(f);
    return 0;
}

int temp_file(char *path, size_t size) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, size, "%s/segops-cli-test-XXXXXX", dir != NULL && dir[0] != '\0' ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    return fd;
}

void assert_no_secret(const char *text, const char *secret) {
    if (secret != NULL && strstr(text, secret) != NULL) {
        fail_msg("a secret leaked into the CLI output: %s", text);
    }
}

void run_cli(run_t *r, const char *url, const char *key, const char *const *extra,
             const char *stdin_text, ...) {
    char *argv[32];
    size_t argc = 0;
    argv[argc++] = (char *)"segops";
    va_list ap;
    va_start(ap, stdin_text);
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *)) {
        assert_true(argc < sizeof argv / sizeof argv[0] - 1);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;

    char url_env[256], key_env[256];
    char *envp[16];
    size_t envc = 0;
    if (url != NULL) {
        snprintf(url_env, sizeof url_env, "SEGOPS_API_URL=%s", url);
        envp[envc++] = url_env;
    }
    if (key != NULL) {
        snprintf(key_env, sizeof key_env, "SEGOPS_API_KEY=%s", key);
        envp[envc++] = key_env;
    }
    envp[envc++] = (char *)"SEGOPS_HMAC_SECRET=" HMAC_SECRET;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        assert_true(envc < sizeof envp / sizeof envp[0] - 1);
        envp[envc++] = (char *)extra[i];
    }
    envp[envc] = NULL;

    cli_child_t child;
    cli_child_start(&child, cli_binary, argv, envp, stdin_text);
    cli_child_wait(&child, CHILD_DEADLINE_MS);
    r->exit_code = child.exit_code;
    r->out = child.out;
    r->err = child.err;

    const char *secrets[] = {key, HMAC_SECRET, SK_KEY, PK_KEY, WRONG_KEY};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        assert_no_secret(r->out, secrets[i]);
        assert_no_secret(r->err, secrets[i]);
    }
}

void run_free(run_t *r) {
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

void assert_messages_well_formed(const char *err) {
    for (const char *line = err; *line != '\0';) {
        assert_int_equal(strncmp(line, "segops: ", 8), 0);
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        line = nl + 1;
    }
}

void assert_event(devsrv_t *srv, size_t index, const char *user_id, const char *event_type,
                  const char *payload_json, const char *anonymous_id) {
    devsrv_event_t ev;
    memset(&ev, 0, sizeof ev);
    assert_int_equal(devsrv_event_at(srv, index, &ev), 0);
    assert_string_equal(ev.user_id, user_id);
    assert_string_equal(ev.event_type, event_type);
    assert_string_equal(ev.payload_json, payload_json);
    if (anonymous_id == NULL) {
        assert_null(ev.anonymous_id);
    } else {
        assert_non_null(ev.anonymous_id);
        assert_string_equal(ev.anonymous_id, anonymous_id);
    }
    devsrv_event_free(&ev);
}

void dead_server_url(char *url, size_t size) {
    devsrv_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.sk_keys = sk_keys;
    cfg.sk_key_count = 1;
    devsrv_t *gone = NULL;
    assert_int_equal(devsrv_start(&cfg, &gone), 0);
    snprintf(url, size, "%s", devsrv_url(gone));
    devsrv_stop(gone);
}
