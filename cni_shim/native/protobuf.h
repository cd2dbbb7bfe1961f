/* Hand-written protobuf for podnet.v1.CniInvocation (out) and CniOutcome (in), as podnet.shim.wire. */
#ifndef PODNET_PROTOBUF_H
#define PODNET_PROTOBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct invocation {
    const char *command;
    struct buf container_id, netns, ifname, args, path; /* valid UTF-8 */
    const unsigned char *config;
    size_t config_len;
};

void encode_invocation(struct buf *out, const struct invocation *invocation);

/* exit_code (int32, field 1) and stdout (bytes, field 2); unknown fields are skipped. */
bool decode_outcome(const unsigned char *data, size_t len, int *exit_code, struct buf *stdout_bytes,
                    struct buf *error);

#endif
