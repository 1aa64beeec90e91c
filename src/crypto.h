/* The internal face of sign.c, the only file that includes OpenSSL. */
#ifndef SEGOPS_CRYPTO_H
#define SEGOPS_CRYPTO_H

#include "common.h"

/* Overwrites len bytes in a way the compiler cannot elide (OPENSSL_cleanse). */
void segops__secure_wipe(void *p, size_t len);
/* Wipes and frees a NUL-terminated secret string; NULL-safe. */
void segops__secret_free(char *secret);
/* HMAC-SHA256 of msg under the raw key bytes. SEGOPS_E_CRYPTO on failure. */
segops_err_t segops__hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                                 unsigned char out[32]);
/* Fills buf with cryptographically random bytes. SEGOPS_E_CRYPTO on failure. */
segops_err_t segops__random_bytes(void *buf, size_t len);
/* Writes the 2*n lowercase hex digits of in[0..n) and a NUL into out[2*n + 1]. */
void segops__hex_encode(const unsigned char *in, size_t n, char *out);

#endif
