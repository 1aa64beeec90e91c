/* `segops send --spool` for test_cli_spool_*.c: numbered inputs, progress records, runs. */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700

#include "cli_spool.h"

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int send_setup(void **state) {
    spool_fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    devsrv_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    f->srv = start_server(&cfg);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/segops-cli-spool-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->input, sizeof f->input, "%s/input.ndjson", f->dir);
    snprintf(f->spool, sizeof f->spool, "%s/spool", f->dir);
    snprintf(f->record, sizeof f->record, "%s/send-progress", f->spool);
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int send_teardown(void **state) {
    spool_fixture_t *f = *state;
    devsrv_stop(f->srv);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

int format_line(char *buf, size_t size, int i) {
    return snprintf(buf, size,
                    "{\"user_id\":\"user-%d\",\"event_type\":\"item_viewed\","
                    "\"payload\":{\"i\":%d}}\n",
                    i, i);
}

void write_input(const char *path, int lines) {
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    char line[128];
    for (int i = 1; i <= lines; i++) {
        int n = format_line(line, sizeof line, i);
        assert_int_equal(fwrite(line, 1, (size_t)n, fp), (size_t)n);
    }
    assert_int_equal(fclose(fp), 0);
}

void received_lines(devsrv_t *srv, int lines, unsigned *counts) {
    memset(counts, 0, (size_t)(lines + 1) * sizeof *counts);
    size_t n = devsrv_event_count(srv);
    for (size_t k = 0; k < n; k++) {
        devsrv_event_t ev;
        memset(&ev, 0, sizeof ev);
        assert_int_equal(devsrv_event_at(srv, k, &ev), 0);
        int i = 0, end = 0;
        assert_int_equal(sscanf(ev.payload_json, "{\"i\":%d}%n", &i, &end), 1);
        assert_int_equal(ev.payload_json[end], '\0');
        assert_true(i >= 1 && i <= lines);
        char user[32];
        snprintf(user, sizeof user, "user-%d", i);
        assert_string_equal(ev.user_id, user);
        assert_string_equal(ev.event_type, "item_viewed");
        devsrv_event_free(&ev);
        counts[i]++;
    }
}

void assert_received(const unsigned *counts, int first, int last, unsigned times) {
    for (int i = first; i <= last; i++) {
        if (counts[i] != times) {
            fail_msg("line %d was received %u times, expected %u", i, counts[i], times);
        }
    }
}

void write_record(const char *path, uint64_t lines, uint64_t bytes, uint64_t hash) {
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp,
            "segops-send-progress 1\nlines %" PRIu64 "\nbytes %" PRIu64 "\nfnv1a64 %016" PRIx64
            "\n",
            lines, bytes, hash);
    assert_int_equal(fclose(fp), 0);
}

void write_record_for(const char *path, int lines) {
    uint64_t hash = UINT64_C(0xcbf29ce484222325), bytes = 0;
    char line[128];
    for (int i = 1; i <= lines; i++) {
        int n = format_line(line, sizeof line, i);
        for (int k = 0; k < n; k++) {
            hash ^= (unsigned char)line[k];
            hash *= UINT64_C(0x100000001b3);
        }
        bytes += (uint64_t)n;
    }
    write_record(path, (uint64_t)lines, bytes, hash);
}

int64_t record_lines(const char *path) {
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        return 0;
    }
    uint64_t lines = 0;
    int fields = fscanf(fp, "segops-send-progress 1 lines %" SCNu64, &lines);
    fclose(fp);
    assert_int_equal(fields, 1);
    return (int64_t)lines;
}

bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

void start_send(cli_child_t *c, spool_fixture_t *f, const char *arg, const char *stdin_text,
                const char *extra1, const char *extra2) {
    char url_env[256];
    snprintf(url_env, sizeof url_env, "SEGOPS_API_URL=%s", devsrv_url(f->srv));
    char *envp[] = {url_env, (char *)"SEGOPS_API_KEY=" TEST_SK, NULL};
    char *argv[12];
    size_t argc = 0;
    argv[argc++] = (char *)"segops";
    argv[argc++] = (char *)"send";
    argv[argc++] = (char *)"--no-progress";
    argv[argc++] = (char *)"--batch-size";
    argv[argc++] = (char *)"500";
    argv[argc++] = (char *)"--spool";
    argv[argc++] = f->spool;
    if (extra1 != NULL) {
        argv[argc++] = (char *)extra1;
    }
    if (extra2 != NULL) {
        argv[argc++] = (char *)extra2;
    }
    if (arg != NULL) {
        argv[argc++] = (char *)arg;
    }
    argv[argc] = NULL;
    cli_child_start(c, cli_binary, argv, envp, stdin_text);
}

void run_send(cli_child_t *c, spool_fixture_t *f, const char *arg, const char *stdin_text) {
    start_send(c, f, arg, stdin_text, NULL, NULL);
    cli_child_wait(c, CHILD_DEADLINE_MS);
    assert_null(strstr(c->err, TEST_SK));
    assert_null(strstr(c->out, TEST_SK));
}

uint64_t summary_number(const char *err, const char *label) {
    const char *summary = strstr(err, "send: read ");
    assert_non_null(summary);
    const char *at = strstr(summary, label);
    if (at == NULL) {
        fail_msg("no \"%s\" in the summary: %s", label, summary);
    }
    return strtoull(at + strlen(label), NULL, 10);
}
