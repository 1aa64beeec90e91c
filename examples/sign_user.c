/*
 * sign_user — sign a user id on your backend and print what the client needs.
 *
 * A pk_ key can require signed identities (PROTOCOL.md, "Signed user ids"): your
 * backend, which knows the key's HMAC secret, signs the logged-in user's id and
 * hands the resulting JSON object to the client, which passes it to
 * segops_user_set_signature. The secret must never reach the client.
 *
 *   export SEGOPS_HMAC_SECRET=<hex secret from the SegOps dashboard>
 *   ./sign_user user_42
 *   {"user_id":"user_42","user_id_sig":"<64 hex>","user_id_ts":1700000000}
 *
 * The secret comes from the environment, not argv: command lines are visible
 * to every user on the machine (ps, /proc) and end up in shell history.
 *
 * Exit status: 0 on success, 1 on a bad secret or other failure, 2 on a usage error.
 */
#include <segops/segops.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(const char *argv0) {
    fprintf(stderr,
            "usage: SEGOPS_HMAC_SECRET=<hex> %s <user_id>\n"
            "Prints {\"user_id\":...,\"user_id_sig\":...,\"user_id_ts\":...} for the client.\n",
            argv0);
    return 2;
}

int main(int argc, char **argv) {
    const char *argv0 = argc > 0 && argv[0] ? argv[0] : "sign_user";
    if (argc != 2 || argv[1][0] == '\0') return usage(argv0);
    const char *user_id = argv[1];

    const char *secret = getenv("SEGOPS_HMAC_SECRET");
    if (!secret || !secret[0]) {
        fprintf(stderr, "%s: SEGOPS_HMAC_SECRET is not set\n", argv0);
        return usage(argv0);
    }

    /* The secret is hex text; the library decodes it to raw key bytes. Check
     * its shape here only to give a precise message, which never echoes the
     * secret: error output ends up in logs. */
    size_t secret_len = strlen(secret);
    if (secret_len % 2 != 0 || strspn(secret, "0123456789abcdefABCDEF") != secret_len) {
        fprintf(stderr, "%s: SEGOPS_HMAC_SECRET must be an even number of hex digits\n", argv0);
        return 1;
    }

    /* Sign "<user_id>|<now>": a timestamp of 0 means the current time. The
     * server accepts the signature for about five minutes either side, so sign
     * when the client asks, not once at account creation. */
    segops_signed_user_t signed_user;
    segops_err_t err = segops_sign_user_id(secret, user_id, 0, &signed_user);
    if (err == SEGOPS_E_INVALID_ARG) {
        fprintf(stderr, "%s: the user id must be valid UTF-8\n", argv0);
        return 2;
    }
    if (err != SEGOPS_OK) {
        fprintf(stderr, "%s: signing failed: %s\n", argv0, segops_strerror(err));
        return 1;
    }

    /* Ask for the size first (buf NULL, buflen 0), then format into a buffer
     * that fits: the escaped user id can be up to six times its length. */
    size_t needed = 0;
    err = segops_signed_user_json(user_id, &signed_user, NULL, 0, &needed);
    if (err != SEGOPS_E_TOO_LARGE) {
        fprintf(stderr, "%s: %s\n", argv0, segops_strerror(err));
        return 1;
    }
    char *json = malloc(needed);
    if (!json) {
        fprintf(stderr, "%s: out of memory\n", argv0);
        return 1;
    }
    err = segops_signed_user_json(user_id, &signed_user, json, needed, NULL);
    if (err == SEGOPS_OK)
        puts(json);
    else
        fprintf(stderr, "%s: %s\n", argv0, segops_strerror(err));
    free(json);
    return err == SEGOPS_OK ? 0 : 1;
}
