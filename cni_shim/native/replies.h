/* The only bytes the shim writes itself: VERSION, local CNI errors, log lines (replies.py). */
#ifndef PODNET_REPLIES_H
#define PODNET_REPLIES_H

#include <stddef.h>

#include "buf.h"

/* A JSON string literal, ASCII only; invalid UTF-8 becomes U+FFFD. */
void json_string(struct buf *out, const unsigned char *s, size_t n);
void json_cstring(struct buf *out, const char *text);

void version_reply(struct buf *out);
/* The requested version if the shim speaks it, else the latest. */
const char *reply_version(const char *requested);

void write_all(int fd, const void *data, size_t len);
void write_error_reply(const char *cni_version, int code, const char *msg, const char *details);
/* One JSON log line on stderr; fields are (key, value) pairs ending with NULL. */
void write_log_line(const char *level, const char *msg, const char *const *fields);

#endif
