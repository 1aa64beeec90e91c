/* The limits and refusals that segops.h and README.md promise are the ones the
 * code applies: the payload nesting limit, the identity length limit, and
 * every cause of SEGOPS_E_CONFIG from segops_client_new. Each limit is read
 * from the documentation, then checked at both ends against the code. */
#define _GNU_SOURCE 1 /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event.h"
#include "user.h"

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            text = realloc(text, cap);
            assert_non_null(text);
        }
        memcpy(text + len, chunk, n);
        len += n;
    }
    fclose(f);
    assert_non_null(text);
    text[len] = '\0';
    return text;
}

/* The doc comment right above `declaration` in the header (a new string). */
static char *comment_before(const char *header, const char *declaration) {
    const char *decl = strstr(header, declaration);
    if (!decl) fail_msg("segops.h declares no %s", declaration);
    const char *end = decl;
    while (end > header && strncmp(end, "*/", 2) != 0) end--;
    const char *start = end;
    while (start > header && strncmp(start, "/*", 2) != 0) start--;
    if (end == header || start == header) fail_msg("no comment above %s", declaration);
    size_t len = (size_t)(end - start);
    char *comment = malloc(len + 1);
    assert_non_null(comment);
    memcpy(comment, start, len);
    comment[len] = '\0';
    return comment;
}

/* The README line that starts with `prefix` (a new string). */
static char *readme_line(const char *readme, const char *prefix) {
    for (const char *p = readme; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, prefix, strlen(prefix)) != 0) continue;
        size_t len = strcspn(p, "\n");
        char *line = malloc(len + 1);
        assert_non_null(line);
        memcpy(line, p, len);
        line[len] = '\0';
        return line;
    }
    fail_msg("README.md has no line starting with %s", prefix);
    return NULL;
}

/* The number after `phrase` in text ("nested at most 64" -> 64). */
static long number_after(const char *text, const char *phrase, const char *where) {
    const char *p = strstr(text, phrase);
    if (!p) fail_msg("%s does not say \"%s N\"", where, phrase);
    p += strlen(phrase);
    while (*p == ' ' || *p == '\n' || *p == '*') p++; /* a comment's line break */
    char *end;
    long n = strtol(p, &end, 10);
    if (end == p || n <= 0) fail_msg("%s: no number after \"%s\"", where, phrase);
    return n;
}

/* ---- the payload nesting limit ---- */

/* {"k":[{"k":[...]}]}: `depth` containers in all, the payload object
 * included, alternating objects and arrays. */
static char *nested_payload(long depth) {
    char *doc = malloc((size_t)depth * 6 + 8);
    assert_non_null(doc);
    size_t n = 0;
    for (long i = 0; i < depth; i++) {
        if (i % 2) {
            doc[n++] = '[';
        } else {
            memcpy(doc + n, "{\"k\":", 5);
            n += 5;
        }
    }
    if ((depth - 1) % 2 == 0) doc[n++] = '0'; /* the innermost object's value */
    for (long i = depth - 1; i >= 0; i--) doc[n++] = i % 2 ? ']' : '}';
    doc[n] = '\0';
    return doc;
}

static segops_err_t track_verdict(const char *payload) {
    segops_event_t ev = {.user_id = "u-1", .event_type = "deep", .payload_json = payload};
    segops__event_plan_t plan;
    return segops__event_prepare(&ev, 1048576, 0, &plan);
}

static void test_nesting_limit_is_documented(void **state) {
    (void)state;
    char *header = read_text(SEGOPS_HEADER_PATH);
    char *readme = read_text(SEGOPS_README_PATH);
    char *track = comment_before(header, "segops_track(segops_client_t");
    char *row = readme_line(readme, "| `SEGOPS_E_INVALID_JSON` |");
    long in_header = number_after(track, "nested at most", "segops_track's comment");
    long in_readme = number_after(row, "nested at most", "README's SEGOPS_E_INVALID_JSON row");
    assert_int_equal(in_header, in_readme);
    assert_true(strstr(track, "SEGOPS_E_INVALID_JSON") != NULL);

    /* Objects and arrays alike, {} inside [] inside {}: the limit holds. */
    char *at_limit = nested_payload(in_header);
    char *past_limit = nested_payload(in_header + 1);
    assert_int_equal(track_verdict(at_limit), SEGOPS_OK);
    assert_int_equal(track_verdict(past_limit), SEGOPS_E_INVALID_JSON);
    free(at_limit);
    free(past_limit);
    free(row);
    free(track);
    free(readme);
    free(header);
}

/* ---- the identity length limit ---- */

static void test_user_id_limit_is_documented(void **state) {
    (void)state;
    char *header = read_text(SEGOPS_HEADER_PATH);
    char *doc = comment_before(header, "segops_user_set_id(segops_user_t");
    long limit = number_after(doc, "at most", "segops_user_set_id's comment");
    assert_true(strstr(doc, "bytes") != NULL);

    /* Multi-byte UTF-8 counts in bytes: "é" is two. */
    char *id = malloc((size_t)limit + 2);
    assert_non_null(id);
    for (long i = 0; i + 1 < limit; i += 2) memcpy(id + i, "\xc3\xa9", 2);
    if (limit % 2) id[limit - 1] = 'x';
    id[limit] = '\0';
    segops_user_t user = {0};
    assert_int_equal(segops_user_set_id(&user, id), SEGOPS_OK);
    assert_int_equal(strlen(user.user_id), (size_t)limit);
    assert_int_equal(segops_user_set_anonymous_id(&user, id), SEGOPS_OK);
    id[limit] = 'y';
    id[limit + 1] = '\0';
    assert_int_equal(segops_user_set_id(&user, id), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_user_set_anonymous_id(&user, id), SEGOPS_E_INVALID_ARG);
    assert_int_equal(strlen(user.user_id), (size_t)limit); /* a refusal keeps the old one */
    segops__user_clear(&user);
    free(id);
    free(doc);
    free(header);
}

/* ---- every cause of SEGOPS_E_CONFIG ---- */

static segops_err_t ignore_user(segops_user_t *user, void *userdata) {
    (void)user;
    (void)userdata;
    return SEGOPS_OK;
}

/* Options that make a client (no I/O happens: nothing is tracked), less the
 * URL or key when asked. */
static segops_options_t *base_options(bool url, bool key) {
    segops_options_t *o = NULL;
    assert_int_equal(segops_options_new(&o), SEGOPS_OK);
    if (url) assert_int_equal(segops_options_set_api_url(o, "http://127.0.0.1:9"), SEGOPS_OK);
    if (key) assert_int_equal(segops_options_set_api_key(o, "sk_test_documented"), SEGOPS_OK);
    return o;
}

static segops_err_t client_new_verdict(segops_options_t *o) {
    segops_client_t *client = (segops_client_t *)&client; /* must come back NULL on failure */
    segops_err_t err = segops_client_new(o, &client);
    if (err != SEGOPS_OK) assert_null(client);
    segops_client_free(client);
    segops_options_free(o);
    return err;
}

typedef struct config_cause {
    const char *options[2]; /* the options it names; each must be in the docs */
    bool no_url, no_key;
    void (*break_it)(segops_options_t *o);  /* may be NULL */
    void (*just_fits)(segops_options_t *o); /* the accepted boundary; may be NULL */
} config_cause_t;

static void pk_without_get_user(segops_options_t *o) {
    assert_int_equal(segops_options_set_api_key(o, "pk_test_documented"), SEGOPS_OK);
}
static void pk_with_get_user(segops_options_t *o) {
    pk_without_get_user(o);
    assert_int_equal(segops_options_set_get_user(o, ignore_user, NULL), SEGOPS_OK);
}
static void clear_text_remote(segops_options_t *o) {
    assert_int_equal(segops_options_set_api_url(o, "http://segops.example"), SEGOPS_OK);
}
static void clear_text_remote_allowed(segops_options_t *o) {
    clear_text_remote(o);
    assert_int_equal(segops_options_set_allow_insecure_http(o, true), SEGOPS_OK);
}
static void batch_over_queue(segops_options_t *o) {
    assert_int_equal(segops_options_set_batch_size(o, 2), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_queue_events(o, 1), SEGOPS_OK);
}
static void batch_fills_queue(segops_options_t *o) {
    /* the setters' smallest queue is usable with a batch that fits it */
    assert_int_equal(segops_options_set_batch_size(o, 1), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_queue_events(o, 1), SEGOPS_OK);
}
static void event_over_queue(segops_options_t *o) {
    assert_int_equal(segops_options_set_max_queue_bytes(o, 4096), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_event_bytes(o, 4097), SEGOPS_OK);
}
static void event_fills_queue(segops_options_t *o) {
    assert_int_equal(segops_options_set_max_queue_bytes(o, 4096), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_event_bytes(o, 4096), SEGOPS_OK);
}

/* A spool directory of this test's own, removed at exit; created by the
 * accepted cases (the client makes its run directory in it and removes it). */
static char spool_dir[64];
static void remove_spool_dir(void) { rmdir(spool_dir); }
static void with_spool(segops_options_t *o) {
    if (!spool_dir[0]) {
        snprintf(spool_dir, sizeof spool_dir, "/tmp/segops-limits-XXXXXX");
        assert_non_null(mkdtemp(spool_dir));
        atexit(remove_spool_dir);
    }
    assert_int_equal(segops_options_set_spool_dir(o, spool_dir), SEGOPS_OK);
    assert_int_equal(segops_options_set_spool_max_bytes(o, (uint64_t)1 << 20), SEGOPS_OK);
}
static void spool_under_one_event(segops_options_t *o) {
    with_spool(o);
    assert_int_equal(segops_options_set_max_event_bytes(o, ((size_t)1 << 20) - 31), SEGOPS_OK);
}
static void spool_holds_one_event(segops_options_t *o) {
    with_spool(o);
    assert_int_equal(segops_options_set_max_event_bytes(o, ((size_t)1 << 20) - 32), SEGOPS_OK);
}
static void spool_without_batch(segops_options_t *o) {
    with_spool(o);
    assert_int_equal(segops_options_set_batch(o, false), SEGOPS_OK);
}
static void spool_with_batch(segops_options_t *o) {
    with_spool(o);
    assert_int_equal(segops_options_set_batch(o, true), SEGOPS_OK);
}

static const config_cause_t causes[] = {
    {{"api_url", NULL}, true, false, NULL, NULL},
    {{"api_key", NULL}, false, true, NULL, NULL},
    {{"get_user", NULL}, false, false, pk_without_get_user, pk_with_get_user},
    {{"allow_insecure_http", NULL}, false, false, clear_text_remote, clear_text_remote_allowed},
    {{"batch_size", "max_queue_events"}, false, false, batch_over_queue, batch_fills_queue},
    {{"max_event_bytes", "max_queue_bytes"}, false, false, event_over_queue, event_fills_queue},
    {{"spool_max_bytes", "max_event_bytes"},
     false,
     false,
     spool_under_one_event,
     spool_holds_one_event},
    {{"spool_dir", "batch"}, false, false, spool_without_batch, spool_with_batch},
};

static void test_every_config_cause_is_documented(void **state) {
    (void)state;
    char *header = read_text(SEGOPS_HEADER_PATH);
    char *readme = read_text(SEGOPS_README_PATH);
    char *doc = comment_before(header, "segops_client_new(const segops_options_t");
    char *row = readme_line(readme, "| `SEGOPS_E_CONFIG` |");
    assert_int_equal(client_new_verdict(base_options(true, true)), SEGOPS_OK);
    for (size_t i = 0; i < sizeof causes / sizeof *causes; i++) {
        const config_cause_t *c = &causes[i];
        segops_options_t *o = base_options(!c->no_url, !c->no_key);
        if (c->break_it) c->break_it(o);
        if (client_new_verdict(o) != SEGOPS_E_CONFIG)
            fail_msg("cause %zu (%s) did not give SEGOPS_E_CONFIG", i, c->options[0]);
        if (c->just_fits) {
            o = base_options(true, true);
            c->just_fits(o);
            if (client_new_verdict(o) != SEGOPS_OK)
                fail_msg("cause %zu (%s): the accepted boundary was refused", i, c->options[0]);
        }
        for (size_t k = 0; k < 2 && c->options[k]; k++) {
            if (!strstr(doc, c->options[k]))
                fail_msg("segops_client_new's comment does not name %s", c->options[k]);
            if (!strstr(row, c->options[k]))
                fail_msg("README's SEGOPS_E_CONFIG row does not name %s", c->options[k]);
        }
    }
    free(row);
    free(doc);
    free(readme);
    free(header);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nesting_limit_is_documented),
        cmocka_unit_test(test_user_id_limit_is_documented),
        cmocka_unit_test(test_every_config_cause_is_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
