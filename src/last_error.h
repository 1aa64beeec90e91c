/* The reason for the last failed public call, kept per thread (see
 * segops_last_error in segops.h for why per thread). Every public function
 * that returns an error sets it through these two helpers. */
#ifndef SEGOPS_LAST_ERROR_H
#define SEGOPS_LAST_ERROR_H

#include "common.h"

/* Sets this thread's reason to one formatted line and returns err. Control
 * characters become spaces. Never pass a key, token or secret in the
 * arguments. */
segops_err_t segops__fail(segops_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* For a call with no more specific reason: when err is not SEGOPS_OK, sets
 * "<function>: <segops_strerror(err)>". Returns err. */
segops_err_t segops__failed(segops_err_t err, const char *function);

#endif
