/* The segops CLI run by test_cli_*.c: a dev server fixture, runs checked for secrets. */
#ifndef SEGOPS_TEST_CLI_RUN_H
#define SEGOPS_TEST_CLI_RUN_H

#include "cli_child.h"

#include <stddef.h>

#define SK_KEY "sk_test_cli_9f8e7d6c5b4a3921"
#define PK_KEY "pk_test_cli_1a2b3c4d5e6f7a8b"
#define WRONG_KEY "sk_wrong_cli_0000deadbeef1111"
#define HMAC_SECRET "00112233445566778899aabbccddeeff0123456789abcdef0123456789abcdef"

/* Longest a child may run before the test kills it and fails. */
#define CHILD_DEADLINE_MS 60000

/* The server's one sk_ key, SK_KEY (for a test's own server). */
extern const char *const sk_keys[1];

typedef struct run {
    int exit_code; /* -1 when the child did not exit normally */
    char *out;
    char *err;
} run_t;

typedef struct cli_fixture {
    devsrv_t *srv;
} cli_fixture_t;

/* cmocka setup and teardown: a dev server with SK_KEY and PK_KEY (signed identities
 * with HMAC_SECRET), keeping events, as a cli_fixture_t. */
int cli_setup(void **state);
int cli_teardown(void **state);

/* An open temporary file under $TMPDIR or /tmp; its path into path. */
int temp_file(char *path, size_t size);

/* Fails when secret (unless NULL) appears in text. */
void assert_no_secret(const char *text, const char *secret);

/*
 * Runs `segops ARGS...` (NULL-terminated) with only the given environment:
 * SEGOPS_API_URL=url (omitted when NULL), SEGOPS_API_KEY=key (omitted when NULL),
 * SEGOPS_HMAC_SECRET, and extra "NAME=value" entries (NULL-terminated, or NULL).
 * stdin is stdin_text, or /dev/null. Every run checks the key and secret never
 * appear in stdout or stderr.
 */
void run_cli(run_t *r, const char *url, const char *key, const char *const *extra,
             const char *stdin_text, ...);

/* Frees a run's output. */
void run_free(run_t *r);

/* Every stderr line is one "segops: " message. */
void assert_messages_well_formed(const char *err);

/* The server's event `index` has these fields (anonymous_id NULL: none). */
void assert_event(devsrv_t *srv, size_t index, const char *user_id, const char *event_type,
                  const char *payload_json, const char *anonymous_id);

/* The URL of a server that has stopped: a port nobody listens on. */
void dead_server_url(char *url, size_t size);

#endif
