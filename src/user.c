/* segops_user_t setters and the session mint body. */
#include "user.h"

#include <stdio.h>

#include "json_text.h"
#include "last_error.h"

static segops_err_t set_text(char **slot, const char *value, const char *fn) {
    const char *why = !value                                      ? "is NULL"
                      : !*value                                   ? "is empty"
                      : strlen(value) > 4096                      ? "is longer than 4096 bytes"
                      : !segops__utf8_valid(value, strlen(value)) ? "is not valid UTF-8"
                                                                  : NULL;
    if (why) return segops__fail(SEGOPS_E_INVALID_ARG, "%s: the id %s", fn, why);
    char *copy = segops__strdup(value);
    if (!copy) return segops__fail(SEGOPS_E_NOMEM, "%s: out of memory", fn);
    segops__free(*slot);
    *slot = copy;
    return SEGOPS_OK;
}

segops_err_t segops_user_set_id(segops_user_t *user, const char *user_id) {
    return user ? set_text(&user->user_id, user_id, "segops_user_set_id")
                : segops__fail(SEGOPS_E_INVALID_ARG, "segops_user_set_id: user is NULL");
}

segops_err_t segops_user_set_anonymous_id(segops_user_t *user, const char *anonymous_id) {
    return user ? set_text(&user->anonymous_id, anonymous_id, "segops_user_set_anonymous_id")
                : segops__fail(SEGOPS_E_INVALID_ARG, "segops_user_set_anonymous_id: user is NULL");
}

segops_err_t segops_user_set_signature(segops_user_t *user, const char *user_id_sig,
                                       int64_t user_id_ts) {
    if (!user || user_id_ts <= 0)
        return segops__fail(SEGOPS_E_INVALID_ARG, "segops_user_set_signature: %s",
                            user ? "user_id_ts is not positive" : "user is NULL");
    if (!user_id_sig || strlen(user_id_sig) != 64)
        return segops__fail(SEGOPS_E_INVALID_ARG,
                            "segops_user_set_signature: user_id_sig is not 64 hex digits");
    /* Validate the whole signature first: a refused call must leave a signature
     * set earlier untouched. */
    char sig[65];
    for (size_t i = 0; i < 64; i++) {
        char c = user_id_sig[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!hex)
            return segops__fail(SEGOPS_E_INVALID_ARG,
                                "segops_user_set_signature: user_id_sig is not 64 hex digits");
        sig[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
    }
    sig[64] = '\0';
    memcpy(user->user_id_sig, sig, sizeof sig);
    user->user_id_ts = user_id_ts;
    return SEGOPS_OK;
}

void segops__user_clear(segops_user_t *user) {
    segops__free(user->user_id);
    segops__free(user->anonymous_id);
    memset(user, 0, sizeof *user);
}

static segops_err_t append_field(segops__buf_t *out, bool *first, const char *key,
                                 const char *value) {
    size_t len = strlen(value);
    size_t esc = segops__json_escaped_len(value, len);
    segops_err_t err = segops__buf_reserve(out, strlen(key) + esc + 8);
    if (err != SEGOPS_OK) return err;
    segops__buf_append_str(out, *first ? "{\"" : ",\"");
    segops__buf_append_str(out, key);
    segops__buf_append_str(out, "\":\"");
    out->len += segops__json_escape(out->data + out->len, value, len);
    segops__buf_append_str(out, "\"");
    *first = false;
    return SEGOPS_OK;
}

segops_err_t segops__user_mint_body(const segops_user_t *user, segops__buf_t *out) {
    bool first = true;
    segops_err_t err = SEGOPS_OK;
    if (user->user_id) err = append_field(out, &first, "user_id", user->user_id);
    if (!err && user->anonymous_id)
        err = append_field(out, &first, "anonymous_id", user->anonymous_id);
    if (!err && user->user_id_ts > 0) {
        err = append_field(out, &first, "user_id_sig", user->user_id_sig);
        char ts[40];
        snprintf(ts, sizeof ts, ",\"user_id_ts\":%lld", (long long)user->user_id_ts);
        if (!err) err = segops__buf_append_str(out, ts);
    }
    if (!err) err = segops__buf_append_str(out, first ? "{}" : "}");
    return err;
}
