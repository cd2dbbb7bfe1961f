#include "replies.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cni.h"
#include "utf8.h"

const char *const SUPPORTED_VERSIONS[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
const size_t SUPPORTED_VERSION_COUNT = sizeof SUPPORTED_VERSIONS / sizeof SUPPORTED_VERSIONS[0];

void json_string(struct buf *out, const unsigned char *s, size_t n)
{
    buf_append_byte(out, '"');
    for (size_t pos = 0; pos < n;) {
        int32_t code_point;
        pos += utf8_next(s + pos, n - pos, &code_point);
        if (code_point < 0)
            code_point = 0xFFFD;
        if (code_point == '"')
            buf_append_str(out, "\\\"");
        else if (code_point == '\\')
            buf_append_str(out, "\\\\");
        else if (code_point == '\n')
            buf_append_str(out, "\\n");
        else if (code_point == '\r')
            buf_append_str(out, "\\r");
        else if (code_point == '\t')
            buf_append_str(out, "\\t");
        else if (code_point >= ' ' && code_point <= '~')
            buf_append_byte(out, (unsigned char)code_point);
        else if (code_point > 0xFFFF)
            buf_printf(out, "\\u%04x\\u%04x", 0xD800 + ((code_point - 0x10000) >> 10),
                       0xDC00 + ((code_point - 0x10000) & 0x3FF));
        else
            buf_printf(out, "\\u%04x", (unsigned)code_point);
    }
    buf_append_byte(out, '"');
}

void json_cstring(struct buf *out, const char *text)
{
    json_string(out, (const unsigned char *)text, strlen(text));
}

void version_reply(struct buf *out)
{
    buf_append_str(out, "{\"cniVersion\":\"" LATEST_VERSION "\",\"supportedVersions\":[");
    for (size_t i = 0; i < SUPPORTED_VERSION_COUNT; i++) {
        if (i)
            buf_append_byte(out, ',');
        json_cstring(out, SUPPORTED_VERSIONS[i]);
    }
    buf_append_str(out, "]}\n");
}

const char *reply_version(const char *requested)
{
    for (size_t i = 0; i < SUPPORTED_VERSION_COUNT; i++)
        if (strcmp(requested, SUPPORTED_VERSIONS[i]) == 0)
            return requested;
    return LATEST_VERSION;
}

void write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len) {
        ssize_t written = write(fd, p, len);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += written;
        len -= (size_t)written;
    }
}

void write_error_reply(const char *cni_version, int code, const char *msg, const char *details)
{
    struct buf out = {0};
    buf_append_str(&out, "{\"cniVersion\":");
    json_cstring(&out, reply_version(cni_version));
    buf_printf(&out, ",\"code\":%d,\"msg\":", code);
    json_cstring(&out, msg);
    buf_append_str(&out, ",\"details\":");
    json_cstring(&out, details);
    buf_append_str(&out, "}\n");
    write_all(STDOUT_FILENO, out.data, out.len);
    buf_free(&out);
}

void write_log_line(const char *level, const char *msg, const char *const *fields)
{
    struct buf out = {0};
    buf_append_str(&out, "{\"level\":");
    json_cstring(&out, level);
    buf_append_str(&out, ",\"logger\":\"podnet-shim\",\"msg\":");
    json_cstring(&out, msg);
    for (size_t i = 0; fields[i]; i += 2) {
        buf_append_byte(&out, ',');
        json_cstring(&out, fields[i]);
        buf_append_byte(&out, ':');
        json_cstring(&out, fields[i + 1]);
    }
    buf_append_str(&out, "}\n");
    write_all(STDERR_FILENO, out.data, out.len);
    buf_free(&out);
}
