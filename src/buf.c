/* Growable byte buffer: doubling growth, reused across requests by its owner. */
#include "buf.h"

segops_err_t segops__buf_reserve(segops__buf_t *b, size_t extra) {
    if (extra > SIZE_MAX - b->len - 1) return SEGOPS_E_NOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return SEGOPS_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *grown = segops__realloc(b->data, cap);
    if (!grown) return SEGOPS_E_NOMEM;
    b->data = grown;
    b->cap = cap;
    return SEGOPS_OK;
}

segops_err_t segops__buf_append(segops__buf_t *b, const void *data, size_t len) {
    segops_err_t err = segops__buf_reserve(b, len);
    if (err != SEGOPS_OK) return err;
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return SEGOPS_OK;
}

segops_err_t segops__buf_append_str(segops__buf_t *b, const char *s) {
    return segops__buf_append(b, s, strlen(s));
}

void segops__buf_clear(segops__buf_t *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void segops__buf_free(segops__buf_t *b) {
    segops__free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
