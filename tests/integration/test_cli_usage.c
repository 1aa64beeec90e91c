/* The segops CLI's help, version and usage errors, and its sign and verify commands. */
#define _POSIX_C_SOURCE 200809L

#include "cli_run.h"
#include "skip.h"
#include "tlsutil.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SEGOPS_CLI_PATH
#error "SEGOPS_CLI_PATH must name the built segops binary (see tests/CMakeLists.txt)"
#endif
const char *const cli_binary = SEGOPS_CLI_PATH;

#include "cli_run.h"

static void test_help_and_version(void **state) {
    (void)state;
    run_t r;
    run_cli(&r, NULL, NULL, NULL, NULL, "--help", NULL);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.out, "Usage: segops COMMAND");
    assert_contains(r.out, "Exit status");
    assert_string_equal(r.err, "");
    run_free(&r);

    const char *commands[] = {"track", "send", "sign", "verify"};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char expected[64];
        snprintf(expected, sizeof expected, "Usage: segops %s", commands[i]);
        run_cli(&r, NULL, NULL, NULL, NULL, commands[i], "--help", NULL);
        assert_int_equal(r.exit_code, 0);
        assert_contains(r.out, expected);
        assert_string_equal(r.err, "");
        run_free(&r);
        run_cli(&r, NULL, NULL, NULL, NULL, commands[i], "-h", NULL);
        assert_int_equal(r.exit_code, 0);
        assert_contains(r.out, expected);
        run_free(&r);
    }

    run_cli(&r, NULL, NULL, NULL, NULL, "--version", NULL);
    assert_int_equal(r.exit_code, 0);
    assert_contains(r.out, SEGOPS_VERSION_STRING);
    run_free(&r);
}

/* A usage error: exit 2, nothing on stdout, exactly one message line. */
static void assert_usage_error(const run_t *r) {
    assert_int_equal(r->exit_code, 2);
    assert_string_equal(r->out, "");
    assert_messages_well_formed(r->err);
    const char *nl = strchr(r->err, '\n');
    assert_non_null(nl);
    assert_string_equal(nl + 1, "");
}

static void test_usage_errors(void **state) {
    cli_fixture_t *f = *state;
    const char *url = devsrv_url(f->srv);
    run_t r;

#define EXPECT_USAGE(...)                                                                          \
    do {                                                                                           \
        run_cli(&r, url, SK_KEY, NULL, NULL, __VA_ARGS__, NULL);                                   \
        assert_usage_error(&r);                                                                    \
        run_free(&r);                                                                              \
    } while (0)

    run_cli(&r, url, SK_KEY, NULL, NULL, NULL);
    assert_usage_error(&r);
    run_free(&r);

    EXPECT_USAGE("bogus");
    EXPECT_USAGE("--frobnicate");
    EXPECT_USAGE("track", "--event", "x");
    EXPECT_USAGE("track", "--user", "u1");
    EXPECT_USAGE("track", "--user");
    EXPECT_USAGE("track", "--user", "u1", "--event", "e", "--frobnicate");
    EXPECT_USAGE("track", "--user", "u1", "--event", "e", "stray");
    EXPECT_USAGE("send", "a.ndjson", "b.ndjson");
    EXPECT_USAGE("sign");
    EXPECT_USAGE("verify", "--user", "u1");
    EXPECT_USAGE("verify", "--user", "u1", "--sig", "00");
#undef EXPECT_USAGE

    /* A required setting missing from the environment is a usage error too. */
    run_cli(&r, NULL, SK_KEY, NULL, NULL, "track", "--user", "u1", "--event", "e", NULL);
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.err, "SEGOPS_API_URL");
    run_free(&r);
    run_cli(&r, url, NULL, NULL, NULL, "track", "--user", "u1", "--event", "e", NULL);
    assert_int_equal(r.exit_code, 2);
    assert_contains(r.err, "SEGOPS_API_KEY");
    run_free(&r);

    /* An unreadable input file is an input error. */
    run_cli(&r, url, SK_KEY, NULL, NULL, "send", "/nonexistent/segops-cli-test.ndjson", NULL);
    assert_int_equal(r.exit_code, 3);
    assert_messages_well_formed(r.err);
    run_free(&r);

    assert_int_equal(devsrv_event_count(f->srv), 0);
}

static void test_sign_matches_library(void **state) {
    (void)state;
    segops_signed_user_t su;
    assert_int_equal(segops_sign_user_id(HMAC_SECRET, "u-42", 1700000000, &su), SEGOPS_OK);
    char json[256];
    assert_int_equal(segops_signed_user_json("u-42", &su, json, sizeof json, NULL), SEGOPS_OK);
    char expected[300];
    snprintf(expected, sizeof expected, "%s\n", json);

    run_t r;
    run_cli(&r, NULL, NULL, NULL, NULL, "sign", "--user", "u-42", "--ts", "1700000000", NULL);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out, expected);
    assert_string_equal(r.err, "");
    run_free(&r);

    run_cli(&r, NULL, NULL, NULL, NULL, "sign", "--user", "u-42", "--ts", "abc", NULL);
    assert_int_equal(r.exit_code, 3);
    assert_messages_well_formed(r.err);
    run_free(&r);
}

static void test_verify_ok_and_bad(void **state) {
    (void)state;
    segops_signed_user_t su;
    assert_int_equal(segops_sign_user_id(HMAC_SECRET, "u-42", 0, &su), SEGOPS_OK);
    char ts[32];
    snprintf(ts, sizeof ts, "%" PRId64, su.user_id_ts);

    run_t r;
    run_cli(&r, NULL, NULL, NULL, NULL, "verify", "--user", "u-42", "--sig", su.user_id_sig, "--ts",
            ts, NULL);
    assert_int_equal(r.exit_code, 0);
    run_free(&r);

    char bad[65];
    memcpy(bad, su.user_id_sig, sizeof bad);
    bad[63] = bad[63] == '0' ? '1' : '0';
    run_cli(&r, NULL, NULL, NULL, NULL, "verify", "--user", "u-42", "--sig", bad, "--ts", ts, NULL);
    assert_int_equal(r.exit_code, 5);
    assert_messages_well_formed(r.err);
    run_free(&r);

    run_cli(&r, NULL, NULL, NULL, NULL, "verify", "--user", "someone-else", "--sig", su.user_id_sig,
            "--ts", ts, NULL);
    assert_int_equal(r.exit_code, 5);
    run_free(&r);

    /* A valid signature from 2023 is outside the default window, inside a wide one. */
    segops_signed_user_t old;
    assert_int_equal(segops_sign_user_id(HMAC_SECRET, "u-42", 1700000000, &old), SEGOPS_OK);
    run_cli(&r, NULL, NULL, NULL, NULL, "verify", "--user", "u-42", "--sig", old.user_id_sig,
            "--ts", "1700000000", NULL);
    assert_int_equal(r.exit_code, 5);
    run_free(&r);
    run_cli(&r, NULL, NULL, NULL, NULL, "verify", "--user", "u-42", "--sig", old.user_id_sig,
            "--ts", "1700000000", "--tolerance", "2000000000", NULL);
    assert_int_equal(r.exit_code, 0);
    run_free(&r);

    run_cli(&r, NULL, NULL, NULL, NULL, "verify", "--user", "u-42", "--sig", "xyz", "--ts", ts,
            NULL);
    assert_int_equal(r.exit_code, 3);
    assert_messages_well_formed(r.err);
    run_free(&r);
}

int main(void) {
    /* A child that dies early must not kill the test through a broken pipe. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_help_and_version, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_sign_matches_library, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_verify_ok_and_bad, cli_setup, cli_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
