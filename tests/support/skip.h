/* A test that cannot run here says why and is counted, never silently passed.
 *
 * SEGOPS_SKIP(reason, cause) prints "skipped: <reason>", appends one line
 * "<program> <test>: <reason>" to $SEGOPS_SKIP_LOG when it is set (scripts/test.sh
 * summarises it) and ends the test as a cmocka skip. Under CI=true a skip whose
 * cause the machine can be given (scripts/deps.sh installs it, or CI runs as
 * root) fails the test instead: CI runs everything. */
#ifndef SEGOPS_TEST_SKIP_H
#define SEGOPS_TEST_SKIP_H

/* No includes: a test includes it after cmocka.h, whose skip() SEGOPS_SKIP
 * expands to where it is used. */

/* Whether the cause of a skip can be fixed on the machine (SKIP_INSTALLABLE) or
 * not (SKIP_MACHINE_CANNOT: a kernel or sanitizer limit). */
#define SKIP_INSTALLABLE 1
#define SKIP_MACHINE_CANNOT 0

/* Prints and records the skip of `test`; fails under CI=true when `installable`.
 * Returns only when the test should skip. */
void skip_record(const char *test, const char *reason, int installable);

#define SEGOPS_SKIP(reason, installable)                                                           \
    do {                                                                                           \
        skip_record(__func__, (reason), (installable));                                            \
        skip();                                                                                    \
    } while (0)

/* Skips unless cond holds. */
#define require_or_skip(cond, reason, installable)                                                 \
    do {                                                                                           \
        if (!(cond)) SEGOPS_SKIP(reason, installable);                                             \
    } while (0)

#endif
