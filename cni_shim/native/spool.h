/* The DEL spool (podnet.shim.spool; format in docs/spool-format.md). */
#ifndef PODNET_SPOOL_H
#define PODNET_SPOOL_H

#include <stdbool.h>

#include "buf.h"
#include "protobuf.h"

/*
 * Durably records a DEL as its CniInvocation bytes, replacing an earlier one
 * for the same attachment: <hex container id>-<hex ifname>.del, written to a
 * temp file, fsynced, renamed, directory fsynced; 0600 in a 0700 directory.
 * On success `target` is the file's path; on failure `error` says why.
 */
bool spool_del(const char *spool_dir, const struct invocation *invocation, struct buf *target, struct buf *error);

#endif
