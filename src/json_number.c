/* Number formatting for the props builder. Integers are written by hand; most
 * doubles people send (prices, ratios, whole numbers) take an exact shortcut,
 * and the rest go through snprintf/strtod, which honour the C library's correct
 * rounding but also the thread's LC_NUMERIC locale. */
#include "json_number.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

size_t segops__json_int(char out[SEGOPS__JSON_NUMBER_MAX], int64_t v) {
    char digits[20];
    size_t n = 0, len = 0;
    /* Negating in unsigned arithmetic is defined for INT64_MIN too. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) out[len++] = '-';
    while (n) out[len++] = digits[--n];
    out[len] = '\0';
    return len;
}

#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#define EXACT_SHORTCUT 1
/* The shortcut: v is m / 10^k for an integer m of at most 15 digits and k <= 8.
 * m and 10^k are exact doubles, so the division is correctly rounded, exactly
 * as strtod rounds the decimal text: when it gives back v, that text reads back
 * as v. With 15 digits or fewer, it is also what "%.15g" prints (DBL_DIG is 15)
 * as long as "%g" would not switch to an exponent: 1e-4 <= |v| < 1e15. */
static size_t exact_decimal(char *out, double v) {
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
    double mag = fabs(v);
    if (mag == 0) { /* "%.15g" writes -0.0 as "-0", which reads back as -0.0 */
        const char *zero = signbit(v) ? "-0" : "0";
        size_t len = strlen(zero);
        memcpy(out, zero, len + 1);
        return len;
    }
    if (!(mag >= 1e-4 && mag < 1e15)) return 0;
    for (size_t k = 0; k < SEGOPS__ARRAY_LEN(pow10); k++) {
        double m = nearbyint(v * pow10[k]);
        if (fabs(m) >= 1e15) return 0;
        if (m / pow10[k] != v) continue;
        /* m's digits with a point k places from the right ("0.05": m 5, k 2). */
        char digits[SEGOPS__JSON_NUMBER_MAX];
        size_t n = segops__json_int(digits, (int64_t)fabs(m)), len = 0;
        if (v < 0) out[len++] = '-';
        if (n <= k) {
            out[len++] = '0';
            out[len++] = '.';
            for (size_t z = n; z < k; z++) out[len++] = '0';
            memcpy(out + len, digits, n);
            len += n;
        } else {
            memcpy(out + len, digits, n - k);
            len += n - k;
            if (k) {
                out[len++] = '.';
                memcpy(out + len, digits + n - k, k);
                len += k;
            }
        }
        out[len] = '\0';
        return len;
    }
    return 0;
}
#endif

/* Copies snprintf's text, turning the locale's decimal point (one byte or
 * several, the only thing "%g" writes besides digits, signs and 'e') into '.'. */
static size_t copy_with_point(char *out, const char *raw) {
    size_t len = 0;
    bool in_point = false;
    for (const char *p = raw; *p; p++) {
        char c = *p;
        bool plain = (c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e' || c == 'E';
        if (plain) {
            out[len++] = c;
            in_point = false;
        } else if (!in_point) {
            out[len++] = '.';
            in_point = true;
        }
    }
    out[len] = '\0';
    return len;
}

size_t segops__json_double(char out[SEGOPS__JSON_NUMBER_MAX], double v) {
    if (!isfinite(v)) return 0;
#ifdef EXACT_SHORTCUT
    size_t len = exact_decimal(out, v);
    if (len) return len;
#endif
    /* snprintf and strtod use the same (thread's) locale, so the round trip is
     * tested on snprintf's own text; the point is fixed afterwards. */
    int saved_errno = errno; /* strtod sets ERANGE for subnormals */
    char raw[48];
    for (int precision = 15;; precision++) {
        snprintf(raw, sizeof raw, "%.*g", precision, v);
        if (precision == 17 || strtod(raw, NULL) == v) break;
    }
    errno = saved_errno;
    return copy_with_point(out, raw);
}
