/* Shared by the fuzz targets: a CHECK that crashes (so libFuzzer keeps the input)
 * and the entry point's prototype (-Wmissing-prototypes). */
#ifndef SEGOPS_FUZZ_COMMON_H
#define SEGOPS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
