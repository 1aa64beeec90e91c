/* Signed user ids, anonymous ids and secret hygiene. The only file that
 * includes OpenSSL: everything else reaches crypto through crypto.h. */
#include "common.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "clock.h"
#include "crypto.h"
#include "last_error.h"
#include "json_text.h"

#define MAC_LEN 32
#define SIG_HEX_LEN (2 * MAC_LEN)
/* SHA-256's block size: HMAC hashes any longer key down first (RFC 2104 §2). */
#define KEY_BLOCK 64
/* "|" plus an int64 in decimal ("-9223372036854775808" is 20 chars) plus NUL. */
#define TS_SUFFIX_MAX 22
/* Messages for user ids up to this long are built on the stack. */
#define STACK_MSG 512

static const char hex_lower[] = "0123456789abcdef";

/* ---- internal API (crypto.h) -------------------------------------------- */

void segops__secure_wipe(void *p, size_t len) {
    if (p && len) OPENSSL_cleanse(p, len);
}

void segops__secret_free(char *secret) {
    if (!secret) return;
    OPENSSL_cleanse(secret, strlen(secret));
    segops__free(secret);
}

segops_err_t segops__hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                                 unsigned char out[32]) {
    /* HMAC() falls back to a static buffer on a NULL out: not thread-safe. */
    if (!out || (!key && key_len) || (!msg && msg_len)) return SEGOPS_E_INVALID_ARG;
    if (key_len > INT_MAX) return SEGOPS_E_CRYPTO;
    /* Some OpenSSL versions reject NULL even for zero lengths. */
    static const unsigned char empty[1] = {0};
    unsigned int out_len = 0;
    if (!HMAC(EVP_sha256(), key ? key : empty, (int)key_len, msg ? msg : empty, msg_len, out,
              &out_len) ||
        out_len != MAC_LEN)
        return SEGOPS_E_CRYPTO;
    return SEGOPS_OK;
}

segops_err_t segops__random_bytes(void *buf, size_t len) {
    if (!buf && len) return SEGOPS_E_INVALID_ARG;
    unsigned char *p = buf;
    while (len) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(p, chunk) != 1) return SEGOPS_E_CRYPTO;
        p += chunk;
        len -= (size_t)chunk;
    }
    return SEGOPS_OK;
}

/* ---- hex ----------------------------------------------------------------- */

/* Value of one hex digit (either case) or -1. Branch-free, so decoding the
 * secret does not leak its digits through timing. */
static int hex_value(unsigned char c) {
    int digit = (int)c - '0';
    int letter = (int)(c | 0x20) - 'a';
    int is_digit = -((digit >= 0) & (digit <= 9));
    int is_letter = -((letter >= 0) & (letter <= 5));
    return (digit & is_digit) | ((letter + 10) & is_letter) | ~(is_digit | is_letter);
}

/* Decodes 2*n hex digits into out[0..n); false if any digit was not hex. */
static bool hex_decode(const char *hex, size_t n, unsigned char *out) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value((unsigned char)hex[2 * i]);
        int lo = hex_value((unsigned char)hex[2 * i + 1]);
        bad |= hi | lo; /* -1 sets the sign bit */
        out[i] = (unsigned char)(((hi & 0x0f) << 4) | (lo & 0x0f));
    }
    return bad >= 0;
}

void segops__hex_encode(const unsigned char *in, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_lower[in[i] >> 4];
        out[2 * i + 1] = hex_lower[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

/* True when s is exactly SIG_HEX_LEN hex digits; reads at most SIG_HEX_LEN + 1 bytes. */
static bool is_sig_hex(const char *s) {
    for (size_t i = 0; i < SIG_HEX_LEN; i++)
        if (hex_value((unsigned char)s[i]) < 0) return false; /* also stops at NUL */
    return s[SIG_HEX_LEN] == '\0';
}

/* ---- the SegOps signature ------------------------------------------------ */

/* Hex-decodes the secret into the raw HMAC key. Keys longer than a block are
 * hashed here chunk by chunk, exactly as HMAC would, so no key size needs the
 * heap. The caller wipes key[]. */
static segops_err_t load_key(const char *secret_hex, unsigned char key[KEY_BLOCK],
                             size_t *key_len) {
    size_t hex_len = strlen(secret_hex);
    if (hex_len == 0 || hex_len % 2 != 0) return SEGOPS_E_INVALID_ARG;
    size_t raw_len = hex_len / 2;
    if (raw_len <= KEY_BLOCK) {
        *key_len = raw_len;
        return hex_decode(secret_hex, raw_len, key) ? SEGOPS_OK : SEGOPS_E_INVALID_ARG;
    }

    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md) return SEGOPS_E_CRYPTO;
    segops_err_t err = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? SEGOPS_OK : SEGOPS_E_CRYPTO;
    bool valid = true;
    for (size_t done = 0; err == SEGOPS_OK && done < raw_len; done += KEY_BLOCK) {
        size_t n = SEGOPS__MIN((size_t)KEY_BLOCK, raw_len - done);
        valid &= hex_decode(secret_hex + 2 * done, n, key);
        if (EVP_DigestUpdate(md, key, n) != 1) err = SEGOPS_E_CRYPTO;
    }
    unsigned int digest_len = 0;
    if (err == SEGOPS_OK &&
        (EVP_DigestFinal_ex(md, key, &digest_len) != 1 || digest_len != MAC_LEN))
        err = SEGOPS_E_CRYPTO;
    EVP_MD_CTX_free(md); /* cleanses its state */
    if (err == SEGOPS_OK && !valid) err = SEGOPS_E_INVALID_ARG;
    *key_len = MAC_LEN;
    return err;
}

static bool user_id_ok(const char *user_id) {
    return user_id && user_id[0] && segops__utf8_valid(user_id, strlen(user_id));
}

/* HMAC-SHA256(hex_decode(secret), "<user_id>|<ts>") into mac. Validates both
 * strings; the one piece of code behind sign and verify. */
static segops_err_t compute_mac(const char *secret_hex, const char *user_id, int64_t ts,
                                unsigned char mac[MAC_LEN]) {
    if (!secret_hex || !user_id_ok(user_id)) return SEGOPS_E_INVALID_ARG;

    char suffix[TS_SUFFIX_MAX];
    int suffix_len = snprintf(suffix, sizeof suffix, "|%" PRId64, ts);
    if (suffix_len < 0 || (size_t)suffix_len >= sizeof suffix) return SEGOPS_E_INTERNAL;
    size_t id_len = strlen(user_id);
    if (id_len > SIZE_MAX - sizeof suffix) return SEGOPS_E_INVALID_ARG;
    size_t msg_len = id_len + (size_t)suffix_len;

    unsigned char key[KEY_BLOCK];
    size_t key_len = 0;
    segops_err_t err = load_key(secret_hex, key, &key_len);
    if (err == SEGOPS_OK) {
        char stack_msg[STACK_MSG + TS_SUFFIX_MAX];
        char *msg = msg_len < sizeof stack_msg ? stack_msg : segops__malloc(msg_len);
        if (!msg) {
            err = SEGOPS_E_NOMEM;
        } else {
            memcpy(msg, user_id, id_len);
            memcpy(msg + id_len, suffix, (size_t)suffix_len);
            err = segops__hmac_sha256(key, key_len, msg, msg_len, mac);
            if (msg != stack_msg) segops__free(msg);
        }
    }
    OPENSSL_cleanse(key, sizeof key);
    return err;
}

static int64_t now_s(void) { return segops__clock_realtime_ms() / 1000; }

/* The reason for a failed compute_mac, in the words of function fn. The
 * secret is described, never quoted. */
static segops_err_t explain(segops_err_t err, const char *fn, const char *secret_hex,
                            const char *user_id) {
    if (err != SEGOPS_E_INVALID_ARG) return segops__failed(err, fn);
    if (!secret_hex || !*secret_hex)
        return segops__fail(err, "%s: hmac_secret_hex is %s", fn, secret_hex ? "empty" : "NULL");
    if (!user_id_ok(user_id))
        return segops__fail(err, "%s: user_id is %s", fn, user_id ? "empty or not UTF-8" : "NULL");
    if (strlen(secret_hex) % 2)
        return segops__fail(err, "%s: hmac_secret_hex has an odd number of hex digits", fn);
    return segops__fail(err, "%s: hmac_secret_hex is not hex (0-9, a-f)", fn);
}

/* ---- public API ---------------------------------------------------------- */

segops_err_t segops_sign_user_id(const char *hmac_secret_hex, const char *user_id, int64_t unix_ts,
                                 segops_signed_user_t *out) {
    if (!out) return segops__fail(SEGOPS_E_INVALID_ARG, "segops_sign_user_id: out is NULL");
    int64_t ts = unix_ts > 0 ? unix_ts : now_s();
    unsigned char mac[MAC_LEN];
    segops_err_t err = compute_mac(hmac_secret_hex, user_id, ts, mac);
    if (err != SEGOPS_OK) return explain(err, "segops_sign_user_id", hmac_secret_hex, user_id);
    segops__hex_encode(mac, MAC_LEN, out->user_id_sig);
    out->user_id_ts = ts;
    return SEGOPS_OK;
}

segops_err_t segops_verify_user_id(const char *hmac_secret_hex, const char *user_id,
                                   const char *user_id_sig, int64_t user_id_ts, int64_t now,
                                   int64_t tolerance_s) {
    if (!user_id_sig || !is_sig_hex(user_id_sig))
        return segops__fail(SEGOPS_E_INVALID_ARG,
                            "segops_verify_user_id: user_id_sig is not 64 hex digits");
    if (user_id_ts <= 0 || tolerance_s < 0)
        return segops__fail(SEGOPS_E_INVALID_ARG, "segops_verify_user_id: %s is negative%s",
                            user_id_ts <= 0 ? "user_id_ts" : "tolerance_s",
                            user_id_ts <= 0 ? " or zero" : "");
    unsigned char given[MAC_LEN];
    hex_decode(user_id_sig, MAC_LEN, given); /* accepts either case */

    unsigned char expected[MAC_LEN];
    segops_err_t err = compute_mac(hmac_secret_hex, user_id, user_id_ts, expected);
    if (err == SEGOPS_OK) {
        bool match = CRYPTO_memcmp(given, expected, MAC_LEN) == 0;
        /* Both are positive, so the difference cannot overflow. */
        int64_t skew = (now > 0 ? now : now_s()) - user_id_ts;
        bool fresh = skew <= tolerance_s && -skew <= tolerance_s;
        err = match && fresh ? SEGOPS_OK : SEGOPS_E_AUTH;
        if (!match)
            segops__fail(err, "segops_verify_user_id: the signature does not match");
        else if (!fresh)
            segops__fail(err,
                         "segops_verify_user_id: user_id_ts is %lld s from now, over the "
                         "tolerance of %lld s",
                         (long long)(skew < 0 ? -skew : skew), (long long)tolerance_s);
    } else {
        explain(err, "segops_verify_user_id", hmac_secret_hex, user_id);
    }
    /* A valid signature for this user is a credential; do not leave it behind. */
    OPENSSL_cleanse(expected, sizeof expected);
    return err;
}

segops_err_t segops_signed_user_json(const char *user_id, const segops_signed_user_t *signed_user,
                                     char *buf, size_t buflen, size_t *needed) {
    static const char head[] = "{\"user_id\":\"";
    static const char mid_sig[] = "\",\"user_id_sig\":\"";
    static const char mid_ts[] = "\",\"user_id_ts\":";

    const char *why = !user_id_ok(user_id) ? "user_id is NULL, empty or not UTF-8"
                      : !signed_user       ? "signed_user is NULL"
                      : !buf && buflen     ? "buf is NULL with a buflen"
                      : !is_sig_hex(signed_user->user_id_sig) ? "user_id_sig is not 64 hex digits"
                      : signed_user->user_id_ts <= 0          ? "user_id_ts is not positive"
                                                              : NULL;
    if (why) return segops__fail(SEGOPS_E_INVALID_ARG, "segops_signed_user_json: %s", why);

    char ts[TS_SUFFIX_MAX];
    int ts_len = snprintf(ts, sizeof ts, "%" PRId64, signed_user->user_id_ts);
    if (ts_len < 0 || (size_t)ts_len >= sizeof ts)
        return segops__failed(SEGOPS_E_INTERNAL, "segops_signed_user_json");

    size_t id_len = strlen(user_id);
    size_t esc_len = segops__json_escaped_len(user_id, id_len);
    size_t fixed = (sizeof head - 1) + (sizeof mid_sig - 1) + SIG_HEX_LEN + (sizeof mid_ts - 1) +
                   (size_t)ts_len + 2; /* '}' and NUL */
    if (esc_len > SIZE_MAX - fixed)
        return segops__fail(SEGOPS_E_INVALID_ARG, "segops_signed_user_json: user_id is too long");
    size_t total = fixed + esc_len;
    if (needed) *needed = total;
    if (buflen < total)
        return segops__fail(SEGOPS_E_TOO_LARGE,
                            "segops_signed_user_json: buflen %zu is below the %zu bytes needed",
                            buflen, total);

    char *p = buf;
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    p += segops__json_escape(p, user_id, id_len);
    memcpy(p, mid_sig, sizeof mid_sig - 1);
    p += sizeof mid_sig - 1;
    memcpy(p, signed_user->user_id_sig, SIG_HEX_LEN);
    p += SIG_HEX_LEN;
    memcpy(p, mid_ts, sizeof mid_ts - 1);
    p += sizeof mid_ts - 1;
    memcpy(p, ts, (size_t)ts_len);
    p += ts_len;
    *p++ = '}';
    *p = '\0';
    return SEGOPS_OK;
}

segops_err_t segops_new_anonymous_id(char out[37]) {
    if (!out) return segops__fail(SEGOPS_E_INVALID_ARG, "segops_new_anonymous_id: out is NULL");
    unsigned char b[16];
    if (segops__random_bytes(b, sizeof b) != SEGOPS_OK) {
        out[0] = '\0';
        return segops__fail(SEGOPS_E_CRYPTO,
                            "segops_new_anonymous_id: the random number generator failed");
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */

    char *p = out;
    for (size_t i = 0; i < sizeof b; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
        *p++ = hex_lower[b[i] >> 4];
        *p++ = hex_lower[b[i] & 0x0f];
    }
    *p = '\0';
    return SEGOPS_OK;
}
