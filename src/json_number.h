/* Numbers as JSON text that reads back as the same value: integers exactly,
 * doubles in their shortest round-trip form. For the props builder. */
#ifndef SEGOPS_JSON_NUMBER_H
#define SEGOPS_JSON_NUMBER_H

#include "common.h"

/* Room for any number these functions write, with its NUL. */
#define SEGOPS__JSON_NUMBER_MAX 32

/* Writes v in decimal (INT64_MIN included) and a NUL; returns its length. */
size_t segops__json_int(char out[SEGOPS__JSON_NUMBER_MAX], int64_t v);

/* Writes a finite v as the first of "%.15g", "%.16g", "%.17g" that strtod reads
 * back as v (so 0.1 -> "0.1", 42.5 -> "42.5", 42.0 -> "42", 1e300 -> "1e+300",
 * -0.0 -> "-0"), with '.' as the decimal point whatever the locale, and a NUL.
 * Returns its length, or 0 when v is NaN or infinite (JSON cannot hold them). */
size_t segops__json_double(char out[SEGOPS__JSON_NUMBER_MAX], double v);

#endif
