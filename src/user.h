/* The identity a get_user callback fills for a pk_ session mint. */
#ifndef SEGOPS_USER_H
#define SEGOPS_USER_H

#include "common.h"

#include "buf.h"

struct segops_user {
    char *user_id;      /* NULL = absent */
    char *anonymous_id; /* NULL = absent */
    char user_id_sig[65];
    int64_t user_id_ts; /* 0 = no signature */
};

/* Frees what the setters copied and empties the user. */
void segops__user_clear(segops_user_t *user);

/* Appends the mint body: a JSON object with only the fields that are set
 * ("user_id_ts" as a JSON integer). */
segops_err_t segops__user_mint_body(const segops_user_t *user, segops__buf_t *out);

#endif
