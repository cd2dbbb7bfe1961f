/* One unary gRPC call to the agent over its unix socket (cni_shim/transport.py). */
#ifndef PODNET_TRANSPORT_H
#define PODNET_TRANSPORT_H

#include <stdbool.h>

#include "buf.h"
#include "protobuf.h"

/*
 * One Invoke call: true with the agent's (exit_code, stdout), or false with
 * `reason` saying why the agent counts as unreachable.
 */
bool invoke(const char *socket_path, const struct invocation *invocation, double timeout, int *exit_code,
            struct buf *stdout_bytes, struct buf *reason);

#endif
