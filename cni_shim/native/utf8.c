#include "utf8.h"

#include <string.h>

size_t utf8_next(const unsigned char *s, size_t n, int32_t *code_point)
{
    unsigned char lead = s[0];
    *code_point = -1;
    if (lead < 0x80) {
        *code_point = lead;
        return 1;
    }
    if (lead < 0xC2 || lead > 0xF4)
        return 1;
    size_t needed = lead < 0xE0 ? 1 : lead < 0xF0 ? 2 : 3;
    unsigned char low = 0x80, high = 0xBF;
    if (lead == 0xE0)
        low = 0xA0;
    else if (lead == 0xED)
        high = 0x9F; /* no surrogates */
    else if (lead == 0xF0)
        low = 0x90;
    else if (lead == 0xF4)
        high = 0x8F;
    int32_t value = lead & (0x3F >> needed);
    for (size_t i = 1; i <= needed; i++) {
        if (i >= n || s[i] < low || s[i] > high)
            return i;
        value = value << 6 | (s[i] & 0x3F);
        low = 0x80;
        high = 0xBF;
    }
    *code_point = value;
    return needed + 1;
}

bool utf8_valid(const unsigned char *s, size_t n, size_t *bad_offset)
{
    for (size_t pos = 0; pos < n;) {
        if (s[pos] < 0x80) { /* the common case, without a call */
            pos++;
            continue;
        }
        int32_t code_point;
        size_t used = utf8_next(s + pos, n - pos, &code_point);
        if (code_point < 0) {
            *bad_offset = pos;
            return false;
        }
        pos += used;
    }
    return true;
}

void utf8_sanitized(struct buf *out, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    buf_set(out, "", 0);
    for (size_t pos = 0; pos < n;) {
        int32_t code_point;
        size_t used = utf8_next(s + pos, n - pos, &code_point);
        if (code_point >= 0)
            buf_append(out, s + pos, used);
        else
            for (size_t i = 0; i < used; i++)
                buf_append_byte(out, '?');
        pos += used;
    }
}

void append_utf8(struct buf *out, uint32_t code_point)
{
    if (code_point < 0x80) {
        buf_append_byte(out, (unsigned char)code_point);
    } else if (code_point < 0x800) {
        buf_append_byte(out, (unsigned char)(0xC0 | code_point >> 6));
        buf_append_byte(out, (unsigned char)(0x80 | (code_point & 0x3F)));
    } else if (code_point < 0x10000) {
        buf_append_byte(out, (unsigned char)(0xE0 | code_point >> 12));
        buf_append_byte(out, (unsigned char)(0x80 | (code_point >> 6 & 0x3F)));
        buf_append_byte(out, (unsigned char)(0x80 | (code_point & 0x3F)));
    } else {
        buf_append_byte(out, (unsigned char)(0xF0 | code_point >> 18));
        buf_append_byte(out, (unsigned char)(0x80 | (code_point >> 12 & 0x3F)));
        buf_append_byte(out, (unsigned char)(0x80 | (code_point >> 6 & 0x3F)));
        buf_append_byte(out, (unsigned char)(0x80 | (code_point & 0x3F)));
    }
}
