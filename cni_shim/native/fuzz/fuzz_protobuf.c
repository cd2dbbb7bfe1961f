/* A reply message -> decode_outcome (CniOutcome). */
#include <string.h>

#include "../protobuf.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *copy = malloc(size ? size : 1);
    FUZZ_CHECK(copy != NULL);
    if (size)
        memcpy(copy, data, size);
    int exit_code = 0;
    struct buf stdout_bytes = {0}, error = {0};
    if (decode_outcome(copy, size, &exit_code, &stdout_bytes, &error))
        FUZZ_CHECK(stdout_bytes.len <= size);
    else
        FUZZ_CHECK(error.len > 0);
    buf_free(&stdout_bytes);
    buf_free(&error);
    free(copy);
    return 0;
}
