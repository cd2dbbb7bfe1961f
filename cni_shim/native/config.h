/*
 * The shim's settings: the few top-level members of the network configuration
 * it needs (cni_shim/config_scan.py and settings.py). Nested values are
 * skipped, not decoded; the agent parses the configuration properly.
 */
#ifndef PODNET_CONFIG_H
#define PODNET_CONFIG_H

#include <stddef.h>

#include "buf.h"

struct settings {
    struct buf agent_socket;
    struct buf spool_dir;
    struct buf cni_version; /* "" when absent or not a plain string */
    double timeout_seconds;
    /* Why the shim answers the configuration itself: 0, DECODING_FAILURE or INVALID_NETWORK_CONFIG. */
    int error_code;
    const char *error_msg;
    struct buf error_details;
};

/* Settings from the raw configuration (len may exceed MAX_CONFIG_BYTES: then an error). */
void read_settings(const unsigned char *config, size_t len, struct settings *settings);
double timeout_for(const struct settings *settings, const char *command);
void settings_free(struct settings *settings);

#endif
