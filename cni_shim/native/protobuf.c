#include "protobuf.h"

#include <stdint.h>
#include <string.h>

static void put_varint(struct buf *out, uint64_t value)
{
    while (value > 0x7F) {
        buf_append_byte(out, (unsigned char)((value & 0x7F) | 0x80));
        value >>= 7;
    }
    buf_append_byte(out, (unsigned char)value);
}

static void put_length_delimited(struct buf *out, unsigned field, const void *data, size_t len)
{
    if (!len) /* proto3: empty strings and bytes are not on the wire */
        return;
    put_varint(out, (uint64_t)field << 3 | 2);
    put_varint(out, len);
    buf_append(out, data, len);
}

void encode_invocation(struct buf *out, const struct invocation *invocation)
{
    put_length_delimited(out, 1, invocation->command, strlen(invocation->command));
    put_length_delimited(out, 2, invocation->container_id.data, invocation->container_id.len);
    put_length_delimited(out, 3, invocation->netns.data, invocation->netns.len);
    put_length_delimited(out, 4, invocation->ifname.data, invocation->ifname.len);
    put_length_delimited(out, 5, invocation->args.data, invocation->args.len);
    put_length_delimited(out, 6, invocation->path.data, invocation->path.len);
    put_length_delimited(out, 7, invocation->config, invocation->config_len);
    /* field 8 (replayed) is only ever set by the agent */
}

static bool read_varint(const unsigned char *data, size_t len, size_t *pos, uint64_t *value, struct buf *error)
{
    *value = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (*pos >= len || shift > 63) {
            buf_set(error, "truncated or overlong varint", 28);
            return false;
        }
        unsigned char byte = data[(*pos)++];
        *value |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80))
            return true;
    }
}

bool decode_outcome(const unsigned char *data, size_t len, int *exit_code, struct buf *stdout_bytes,
                    struct buf *error)
{
    *exit_code = 0;
    buf_set(stdout_bytes, "", 0);
    for (size_t pos = 0; pos < len;) {
        uint64_t key, number = 0;
        if (!read_varint(data, len, &pos, &key, error))
            return false;
        uint64_t field = key >> 3;
        unsigned wire_type = key & 7;
        const unsigned char *bytes = NULL;
        size_t size = 0;
        if (field == 0) {
            buf_set(error, "field number 0", 14);
            return false;
        }
        if (wire_type == 0) {
            if (!read_varint(data, len, &pos, &number, error))
                return false;
        } else if (wire_type == 2) {
            uint64_t length;
            if (!read_varint(data, len, &pos, &length, error))
                return false;
            if (length > len - pos) {
                buf_set(error, "truncated length-delimited field", 32);
                return false;
            }
            bytes = data + pos;
            size = (size_t)length;
            pos += size;
        } else if (wire_type == 1 || wire_type == 5) {
            size = wire_type == 1 ? 8 : 4;
            if (size > len - pos) {
                buf_set(error, "truncated fixed-width field", 27);
                return false;
            }
            bytes = data + pos;
            pos += size;
        } else {
            buf_set(error, "", 0);
            buf_printf(error, "unsupported wire type %u", wire_type);
            return false;
        }
        if (field == 1 && wire_type == 0)
            *exit_code = (int)(int32_t)(uint32_t)(number & 0xFFFFFFFFu);
        else if (field == 2 && wire_type == 2)
            buf_set(stdout_bytes, bytes, size);
    }
    return true;
}
