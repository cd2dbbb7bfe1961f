#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cni.h"

void out_of_memory(void)
{
    static const char reply[] =
        "{\"cniVersion\":\"" LATEST_VERSION "\",\"code\":5,\"msg\":\"out of memory\",\"details\":\"\"}\n";
    ssize_t ignored = write(STDOUT_FILENO, reply, sizeof reply - 1);
    (void)ignored;
    _exit(1);
}

void buf_reserve(struct buf *b, size_t extra)
{
    if (b->cap - b->len > extra)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= extra) {
        if (cap > SIZE_MAX / 2)
            out_of_memory();
        cap *= 2;
    }
    unsigned char *data = realloc(b->data, cap);
    if (!data)
        out_of_memory();
    b->data = data;
    b->cap = cap;
}

void buf_append(struct buf *b, const void *data, size_t len)
{
    buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
}

void buf_append_str(struct buf *b, const char *text) { buf_append(b, text, strlen(text)); }

void buf_append_byte(struct buf *b, unsigned char byte) { buf_append(b, &byte, 1); }

void buf_printf(struct buf *b, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int needed = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (needed < 0)
        return;
    buf_reserve(b, (size_t)needed + 1);
    va_start(args, format);
    vsnprintf((char *)b->data + b->len, (size_t)needed + 1, format, args);
    va_end(args);
    b->len += (size_t)needed;
}

void buf_set(struct buf *b, const void *data, size_t len)
{
    b->len = 0;
    buf_append(b, data, len);
}

const char *buf_str(const struct buf *b) { return b->data ? (const char *)b->data : ""; }

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
