/* Growable byte buffers, always NUL-terminated so they can be read as C strings. */
#ifndef PODNET_BUF_H
#define PODNET_BUF_H

#include <stddef.h>

struct buf {
    unsigned char *data;
    size_t len;
    size_t cap;
};

/* Answers the runtime with CNI code 5 and exits: the shim has no way on without memory. */
_Noreturn void out_of_memory(void);

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *text);
void buf_append_byte(struct buf *b, unsigned char byte);
void buf_printf(struct buf *b, const char *format, ...) __attribute__((format(printf, 2, 3)));
void buf_set(struct buf *b, const void *data, size_t len);
const char *buf_str(const struct buf *b);
void buf_free(struct buf *b);

#endif
