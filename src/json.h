/* Parsing the server's JSON answers. json.c is the only file that includes cJSON
 * (parsed with cJSON_ParseWithLengthOpts: no global error state). */
#ifndef SEGOPS_JSON_H
#define SEGOPS_JSON_H

#include "common.h"

/* Reads a batch answer {"queued": N, "skipped": M}. Returns true and sets
 * *skipped when the body is such an object with a non-negative integer
 * "skipped"; false when the body says nothing usable (no skipped events known). */
bool segops__json_batch_skipped(const char *body, size_t len, uint64_t *skipped);

/* Reads a session answer {"token": "...", "expires_at": "<RFC 3339>", ...}.
 * On success *token is a new string (the caller wipes and frees it) and
 * *expires_ms the expiry in unix ms. SEGOPS_E_HANDSHAKE with a one-line reason
 * in why (never the token) for anything else; SEGOPS_E_NOMEM. */
segops_err_t segops__json_session(const char *body, size_t len, char **token, int64_t *expires_ms,
                                  char *why, size_t why_len);

/* The server's own words in an error answer, as one line in out (always
 * NUL-terminated, "" when there are none): the "detail", "message" or "error"
 * string of a JSON object (the SegOps service answers {"detail": "..."}), or
 * else the body itself when it is short text. Control characters become
 * spaces, and every occurrence of `secret` (the key, when the server echoes
 * it; may be NULL) is replaced by "[redacted]". */
void segops__json_error_detail(const char *body, size_t len, const char *secret, char *out,
                               size_t out_len);

#endif
