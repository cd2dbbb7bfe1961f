/* Shared by the fuzz targets: the libFuzzer entry point and a hard failure for broken invariants. */
#ifndef PODNET_FUZZ_H
#define PODNET_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(condition)                                                                       \
    do {                                                                                            \
        if (!(condition)) {                                                                         \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #condition);       \
            abort();                                                                                \
        }                                                                                           \
    } while (0)

#endif
