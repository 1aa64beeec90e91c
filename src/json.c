/* Response parsing with cJSON. */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <strings.h>

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

static bool word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '+' || c == '/';
}

static bool is_word(const char *w, size_t n, const char *word) {
    return n == strlen(word) && strncasecmp(w, word, n) == 0;
}

/* A word of a server's message that may be a credential: the key itself, any
 * sk_/pk_ key, what follows "Bearer" or "ApiKey", a JWT, a long hex string (a
 * token, a signature or an HMAC secret) or a long mix of letters and digits. */
static bool looks_secret(const char *w, size_t n, const char *prev, size_t prev_n,
                         const char *secret) {
    if (secret && n == strlen(secret) && !memcmp(w, secret, n)) return true;
    if (n > 3 && (!memcmp(w, "sk_", 3) || !memcmp(w, "pk_", 3))) return true;
    if (prev && (is_word(prev, prev_n, "Bearer") || is_word(prev, prev_n, "ApiKey"))) return true;
    if (n > 8 && !memcmp(w, "eyJ", 3)) return true;
    size_t hex = 0, digits = 0;
    for (size_t i = 0; i < n; i++) {
        hex += (w[i] >= '0' && w[i] <= '9') || (w[i] >= 'a' && w[i] <= 'f') ||
               (w[i] >= 'A' && w[i] <= 'F');
        digits += w[i] >= '0' && w[i] <= '9';
    }
    return (n >= 24 && hex == n) || (n >= 32 && digits > 0 && digits < n);
}

/* Copies at most len bytes of text into out as one line, every word that may
 * be a credential replaced. */
static void copy_line(const char *text, size_t len, const char *secret, char *out, size_t out_len) {
    static const char redacted[] = "[redacted]";
    const char *prev = NULL;
    size_t prev_n = 0, n = 0, i = 0;
    len = strnlen(text, len);
    while (i < len && n + 1 < out_len) {
        if (!word_char(text[i])) {
            unsigned char c = (unsigned char)text[i++];
            out[n++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
            continue;
        }
        size_t w = i;
        while (i < len && word_char(text[i])) i++;
        const char *word =
            looks_secret(text + w, i - w, prev, prev_n, secret) ? redacted : text + w;
        size_t k = SEGOPS__MIN(word == redacted ? sizeof redacted - 1 : i - w, out_len - 1 - n);
        memcpy(out + n, word, k);
        n += k;
        prev = text + w;
        prev_n = i - w;
    }
    while (n > 0 && out[n - 1] == ' ') n--;
    out[n] = '\0';
    if (secret && *secret && strstr(out, secret)) out[0] = '\0'; /* never, but never say it */
}

void segops__json_error_detail(const char *body, size_t len, const char *secret, char *out,
                               size_t out_len) {
    if (!out_len) return;
    out[0] = '\0';
    if (!body || !len) return;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, NULL, false);
    if (cJSON_IsObject(root)) {
        static const char *const fields[] = {"detail", "message", "error"};
        for (size_t i = 0; i < SEGOPS__ARRAY_LEN(fields); i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, fields[i]);
            if (cJSON_IsString(v) && v->valuestring[0]) {
                copy_line(v->valuestring, strlen(v->valuestring), secret, out, out_len);
                break;
            }
        }
    } else if (!root && len <= 512 && body[0] != '<') { /* plain text, not an HTML page */
        copy_line(body, len, secret, out, out_len);
    }
    cJSON_Delete(root);
}
