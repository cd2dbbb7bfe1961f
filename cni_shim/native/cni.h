/* CNI spec versions and the error codes the shim answers itself (cni_shim/replies.py). */
#ifndef PODNET_CNI_H
#define PODNET_CNI_H

#include <stddef.h>

extern const char *const SUPPORTED_VERSIONS[];
extern const size_t SUPPORTED_VERSION_COUNT;
#define LATEST_VERSION "1.1.0"

enum cni_code {
    INVALID_ENVIRONMENT = 4,
    IO_FAILURE = 5,
    DECODING_FAILURE = 6,
    INVALID_NETWORK_CONFIG = 7,
    TRY_AGAIN_LATER = 11,
    NOT_AVAILABLE = 50,
};

#endif
