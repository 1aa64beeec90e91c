/* Response parsing with cJSON. */
#include "json.h"

#include <math.h>
#include <stdio.h>

#include "cJSON.h"
#include "crypto.h"
#include "timefmt.h"

bool segops__json_batch_skipped(const char *body, size_t len, uint64_t *skipped) {
    if (!body || !len) return false;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, NULL, false);
    bool ok = false;
    const cJSON *n =
        cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "skipped") : NULL;
    if (cJSON_IsNumber(n) && n->valuedouble >= 0 && n->valuedouble <= 1e9 &&
        floor(n->valuedouble) == n->valuedouble) {
        *skipped = (uint64_t)n->valuedouble;
        ok = true;
    }
    cJSON_Delete(root);
    return ok;
}

segops_err_t segops__json_session(const char *body, size_t len, char **token, int64_t *expires_ms,
                                  char *why, size_t why_len) {
    *token = NULL;
    const char *reason = NULL;
    segops_err_t err = SEGOPS_E_HANDSHAKE;
    cJSON *root = body && len ? cJSON_ParseWithLengthOpts(body, len, NULL, false) : NULL;
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "token");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expires_at");
    if (!cJSON_IsObject(root)) {
        reason = "the session answer is not a JSON object";
    } else if (!cJSON_IsString(tok) || !tok->valuestring[0] || strlen(tok->valuestring) > 8192) {
        reason = "the session answer has no token";
    } else if (!cJSON_IsString(exp) ||
               !segops__rfc3339_parse_ms(exp->valuestring, strlen(exp->valuestring), expires_ms)) {
        reason = "the session answer's expires_at is not an RFC 3339 time";
    } else if (!(*token = segops__strdup(tok->valuestring))) {
        err = SEGOPS_E_NOMEM;
        reason = "out of memory";
    } else {
        err = SEGOPS_OK;
    }
    if (cJSON_IsString(tok)) /* cJSON's copy of the token is freed below: wipe it first */
        segops__secure_wipe(tok->valuestring, strlen(tok->valuestring));
    cJSON_Delete(root);
    if (reason && why && why_len) snprintf(why, why_len, "%s", reason);
    return err;
}
