#include "http2.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define FRAME_DATA 0x0
#define FRAME_HEADERS 0x1
#define FRAME_RST_STREAM 0x3
#define FRAME_SETTINGS 0x4
#define FRAME_PUSH_PROMISE 0x5
#define FRAME_PING 0x6
#define FRAME_GOAWAY 0x7
#define FRAME_WINDOW_UPDATE 0x8
#define FRAME_CONTINUATION 0x9
#define FLAG_END_STREAM 0x1
#define FLAG_ACK 0x1
#define FLAG_END_HEADERS 0x4
#define FLAG_PADDED 0x8
#define FLAG_PRIORITY 0x20
#define SETTING_ENABLE_PUSH 0x2
#define SETTING_INITIAL_WINDOW_SIZE 0x4
#define SETTING_MAX_FRAME_SIZE 0x5
#define SETTING_MAX_HEADER_LIST_SIZE 0x6
#define STREAM_ID 1
#define DEFAULT_WINDOW 65535
#define MAX_WINDOW 0x7FFFFFFF
#define MAX_FRAME_SIZE_LIMIT 0xFFFFFF
/* How much the agent may send without WINDOW_UPDATEs from us; an outcome is a few KiB. */
#define RECEIVE_WINDOW (1u << 24)
#define GRPC_PREFIX_SIZE 5
#define INVOKE_PATH "/podnet.v1.CniAgent/Invoke"
#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

bool h2_fail(struct h2_call *call, enum failure_kind kind, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    char message[256];
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    call->failure = kind;
    buf_set(&call->message, message, strlen(message));
    return false;
}

void h2_init(struct h2_call *call)
{
    *call = (struct h2_call){
        .send_window_connection = DEFAULT_WINDOW,
        .send_window_stream = DEFAULT_WINDOW,
        .peer_initial_window = DEFAULT_WINDOW,
        .peer_max_frame_size = DEFAULT_MAX_FRAME_SIZE,
        .decoder = HPACK_DECODER_INIT,
    };
}

void h2_free(struct h2_call *call)
{
    buf_free(&call->message);
    buf_free(&call->outgoing);
    buf_free(&call->header_block);
    buf_free(&call->data);
    header_summary_free(&call->first_block);
    header_summary_free(&call->last_block);
    hpack_free(&call->decoder);
}

static void put_u32(struct buf *out, uint32_t value)
{
    unsigned char bytes[4] = {(unsigned char)(value >> 24), (unsigned char)(value >> 16),
                              (unsigned char)(value >> 8), (unsigned char)value};
    buf_append(out, bytes, 4);
}

static uint32_t get_u32(const unsigned char *bytes)
{
    return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 | bytes[3];
}

static void put_frame_header(struct buf *out, size_t length, unsigned type, unsigned flags, uint32_t stream)
{
    unsigned char header[FRAME_HEADER_SIZE] = {
        (unsigned char)(length >> 16), (unsigned char)(length >> 8), (unsigned char)length,
        (unsigned char)type, (unsigned char)flags, (unsigned char)(stream >> 24),
        (unsigned char)(stream >> 16), (unsigned char)(stream >> 8), (unsigned char)stream,
    };
    buf_append(out, header, sizeof header);
}

static void put_setting(struct buf *out, uint16_t identifier, uint32_t value)
{
    buf_append_byte(out, (unsigned char)(identifier >> 8));
    buf_append_byte(out, (unsigned char)identifier);
    put_u32(out, value);
}

/* HPACK "literal without indexing, new name", raw strings (lengths here stay < 127). */
static void put_literal_header(struct buf *out, const char *name, const char *value)
{
    size_t name_len = strlen(name), value_len = strlen(value);
    buf_append_byte(out, 0x00);
    buf_append_byte(out, (unsigned char)name_len);
    buf_append(out, name, name_len);
    buf_append_byte(out, (unsigned char)value_len);
    buf_append(out, value, value_len);
}

void h2_open(struct h2_call *call, const char *grpc_timeout)
{
    struct buf settings = {0}, headers = {0};
    put_setting(&settings, SETTING_ENABLE_PUSH, 0);
    put_setting(&settings, SETTING_INITIAL_WINDOW_SIZE, RECEIVE_WINDOW);
    put_setting(&settings, SETTING_MAX_HEADER_LIST_SIZE, HPACK_MAX_HEADER_LIST_SIZE);
    put_literal_header(&headers, ":method", "POST");
    put_literal_header(&headers, ":scheme", "http");
    put_literal_header(&headers, ":path", INVOKE_PATH);
    put_literal_header(&headers, ":authority", "localhost");
    put_literal_header(&headers, "content-type", "application/grpc");
    put_literal_header(&headers, "te", "trailers");
    put_literal_header(&headers, "grpc-timeout", grpc_timeout);
    buf_append_str(&call->outgoing, PREFACE);
    put_frame_header(&call->outgoing, settings.len, FRAME_SETTINGS, 0, 0);
    buf_append(&call->outgoing, settings.data, settings.len);
    put_frame_header(&call->outgoing, 4, FRAME_WINDOW_UPDATE, 0, 0);
    put_u32(&call->outgoing, RECEIVE_WINDOW - DEFAULT_WINDOW);
    put_frame_header(&call->outgoing, headers.len, FRAME_HEADERS, FLAG_END_HEADERS, STREAM_ID);
    buf_append(&call->outgoing, headers.data, headers.len);
    buf_free(&settings);
    buf_free(&headers);
}

bool h2_frame_size(struct h2_call *call, const unsigned char *header, size_t *frame_size)
{
    size_t length = (size_t)header[0] << 16 | (size_t)header[1] << 8 | header[2];
    if (length > DEFAULT_MAX_FRAME_SIZE)
        return h2_fail(call, FAILED_PROTOCOL, "frame of %zu bytes exceeds our maximum frame size", length);
    *frame_size = FRAME_HEADER_SIZE + length;
    return true;
}

static bool unpadded(struct h2_call *call, unsigned flags, const unsigned char **payload, size_t *length)
{
    if (!(flags & FLAG_PADDED))
        return true;
    if (!*length || (*payload)[0] >= *length)
        return h2_fail(call, FAILED_PROTOCOL, "malformed padding");
    size_t padding = (*payload)[0];
    *length -= 1 + padding;
    *payload += 1;
    return true;
}

static bool finish_header_block(struct h2_call *call)
{
    struct header_summary summary = {0};
    struct buf error = {0};
    bool ok = hpack_decode(&call->decoder, call->header_block.data, call->header_block.len, &summary, &error);
    if (!ok) {
        h2_fail(call, FAILED_UNDECODABLE, "%s", buf_str(&error));
        header_summary_free(&summary);
    } else {
        if (call->header_blocks == 0) {
            call->first_block.has_status = summary.has_status;
            buf_set(&call->first_block.status, summary.status.data, summary.status.len);
        }
        call->header_blocks++;
        header_summary_free(&call->last_block);
        call->last_block = summary;
    }
    buf_free(&error);
    call->in_header_block = false;
    call->header_block.len = 0;
    return ok;
}

static bool add_header_fragment(struct h2_call *call, unsigned flags, const unsigned char *fragment, size_t length)
{
    if (length > MAX_HEADER_BLOCK_SIZE - call->header_block.len)
        return h2_fail(call, FAILED_PROTOCOL, "header block larger than %d bytes", MAX_HEADER_BLOCK_SIZE);
    buf_append(&call->header_block, fragment, length);
    return !(flags & FLAG_END_HEADERS) || finish_header_block(call);
}

static bool on_settings(struct h2_call *call, unsigned flags, uint32_t stream, const unsigned char *payload,
                        size_t length)
{
    if (stream != 0 || length % 6 || ((flags & FLAG_ACK) && length))
        return h2_fail(call, FAILED_PROTOCOL, "malformed SETTINGS frame");
    if (flags & FLAG_ACK)
        return true;
    for (size_t offset = 0; offset < length; offset += 6) {
        unsigned identifier = (unsigned)payload[offset] << 8 | payload[offset + 1];
        uint32_t value = get_u32(payload + offset + 2);
        if (identifier == SETTING_ENABLE_PUSH && value > 1)
            return h2_fail(call, FAILED_PROTOCOL, "invalid SETTINGS_ENABLE_PUSH %u", value);
        if (identifier == SETTING_INITIAL_WINDOW_SIZE) {
            if (value > MAX_WINDOW)
                return h2_fail(call, FAILED_PROTOCOL, "invalid SETTINGS_INITIAL_WINDOW_SIZE %u", value);
            call->send_window_stream += (int64_t)value - call->peer_initial_window;
            call->peer_initial_window = value;
            if (call->send_window_stream > MAX_WINDOW)
                return h2_fail(call, FAILED_PROTOCOL, "flow-control window above 2^31-1");
        } else if (identifier == SETTING_MAX_FRAME_SIZE) {
            if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_FRAME_SIZE_LIMIT)
                return h2_fail(call, FAILED_PROTOCOL, "invalid SETTINGS_MAX_FRAME_SIZE %u", value);
            call->peer_max_frame_size = value;
        }
    }
    put_frame_header(&call->outgoing, 0, FRAME_SETTINGS, FLAG_ACK, 0);
    return true;
}

static bool on_window_update(struct h2_call *call, uint32_t stream, const unsigned char *payload, size_t length)
{
    if (length != 4)
        return h2_fail(call, FAILED_PROTOCOL, "malformed WINDOW_UPDATE frame");
    uint32_t increment = get_u32(payload) & MAX_WINDOW;
    int64_t *window = stream == 0           ? &call->send_window_connection
                      : stream == STREAM_ID ? &call->send_window_stream
                                            : NULL;
    if (!window)
        return true;
    *window += increment;
    if (*window > MAX_WINDOW)
        return h2_fail(call, FAILED_PROTOCOL, "flow-control window above 2^31-1");
    return true;
}

static bool on_headers(struct h2_call *call, unsigned flags, const unsigned char *payload, size_t length)
{
    if (!unpadded(call, flags, &payload, &length))
        return false;
    if (flags & FLAG_PRIORITY) {
        size_t skipped = length < 5 ? length : 5;
        payload += skipped;
        length -= skipped;
    }
    if (flags & FLAG_END_STREAM)
        call->stream_ended = true;
    call->in_header_block = true;
    call->header_block.len = 0;
    return add_header_fragment(call, flags, payload, length);
}

bool h2_handle_frame(struct h2_call *call, const unsigned char *frame, size_t frame_size)
{
    const unsigned char *payload = frame + FRAME_HEADER_SIZE;
    size_t length = frame_size - FRAME_HEADER_SIZE;
    unsigned type = frame[3], flags = frame[4];
    uint32_t stream = get_u32(frame + 5) & 0x7FFFFFFF;

    if (call->in_header_block && (type != FRAME_CONTINUATION || stream != STREAM_ID))
        return h2_fail(call, FAILED_PROTOCOL, "header block interrupted");
    switch (type) {
    case FRAME_SETTINGS:
        return on_settings(call, flags, stream, payload, length);
    case FRAME_PING:
        if (length != 8)
            return h2_fail(call, FAILED_PROTOCOL, "malformed PING frame");
        if (!(flags & FLAG_ACK)) {
            put_frame_header(&call->outgoing, 8, FRAME_PING, FLAG_ACK, 0);
            buf_append(&call->outgoing, payload, 8);
        }
        return true;
    case FRAME_WINDOW_UPDATE:
        return on_window_update(call, stream, payload, length);
    case FRAME_GOAWAY:
        if (length < 8)
            return h2_fail(call, FAILED_PROTOCOL, "malformed GOAWAY frame");
        if ((get_u32(payload) & 0x7FFFFFFF) < STREAM_ID)
            return h2_fail(call, FAILED_PROTOCOL, "GOAWAY before our call was accepted (error %u)",
                           get_u32(payload + 4));
        return true;
    case FRAME_PUSH_PROMISE:
        return h2_fail(call, FAILED_PROTOCOL, "PUSH_PROMISE although push is disabled");
    default:
        break;
    }
    if (stream != STREAM_ID)
        return true;
    switch (type) {
    case FRAME_RST_STREAM:
        if (length != 4)
            return h2_fail(call, FAILED_PROTOCOL, "malformed RST_STREAM frame");
        return h2_fail(call, FAILED_PROTOCOL, "RST_STREAM (error %u)", get_u32(payload));
    case FRAME_HEADERS:
        return on_headers(call, flags, payload, length);
    case FRAME_CONTINUATION:
        if (!call->in_header_block)
            return h2_fail(call, FAILED_PROTOCOL, "CONTINUATION without HEADERS");
        return add_header_fragment(call, flags, payload, length);
    case FRAME_DATA:
        if (!unpadded(call, flags, &payload, &length))
            return false;
        if (length > RECEIVE_WINDOW - call->data.len)
            return h2_fail(call, FAILED_PROTOCOL, "reply exceeds the receive window");
        buf_append(&call->data, payload, length);
        if (flags & FLAG_END_STREAM)
            call->stream_ended = true;
        return true;
    default:
        return true;
    }
}

size_t h2_send_allowance(const struct h2_call *call)
{
    int64_t allowed = call->send_window_connection;
    if (call->send_window_stream < allowed)
        allowed = call->send_window_stream;
    if ((int64_t)call->peer_max_frame_size < allowed)
        allowed = call->peer_max_frame_size;
    return allowed > 0 ? (size_t)allowed : 0;
}

void h2_queue_data(struct h2_call *call, const unsigned char *body, size_t len, bool last)
{
    put_frame_header(&call->outgoing, len, FRAME_DATA, last ? FLAG_END_STREAM : 0, STREAM_ID);
    buf_append(&call->outgoing, body, len);
    call->send_window_connection -= (int64_t)len;
    call->send_window_stream -= (int64_t)len;
}

bool h2_complete(const struct h2_call *call) { return call->stream_ended && !call->in_header_block; }

/* A header value as text for a failure message: "(none)" when absent. */
static const char *shown(const struct buf *value, bool present)
{
    return present ? buf_str(value) : "(none)";
}

bool h2_reply_message(struct h2_call *call, const unsigned char **message, size_t *length)
{
    if (!call->header_blocks)
        return h2_fail(call, FAILED_PROTOCOL, "stream ended without response headers");
    const struct header_summary *first = &call->first_block, *last = &call->last_block;
    if (!first->has_status || first->status.len != 3 || memcmp(first->status.data, "200", 3) != 0)
        return h2_fail(call, FAILED_PROTOCOL, "HTTP status %.32s", shown(&first->status, first->has_status));
    if (!last->has_grpc_status || last->grpc_status.len != 1 || last->grpc_status.data[0] != '0') {
        struct buf text = {0};
        buf_printf(&text, "grpc-status %.32s: ", shown(&last->grpc_status, last->has_grpc_status));
        buf_append(&text, last->grpc_message.data, last->grpc_message.len);
        call->failure = FAILED_PROTOCOL;
        buf_set(&call->message, text.data, text.len);
        buf_free(&text);
        return false;
    }
    if (call->data.len < GRPC_PREFIX_SIZE)
        return h2_fail(call, FAILED_PROTOCOL, "no reply message");
    if (call->data.data[0] != 0)
        return h2_fail(call, FAILED_PROTOCOL, "compressed reply message");
    uint32_t declared = get_u32(call->data.data + 1);
    if (call->data.len - GRPC_PREFIX_SIZE != declared)
        return h2_fail(call, FAILED_PROTOCOL, "reply is not exactly one message");
    *message = call->data.data + GRPC_PREFIX_SIZE;
    *length = declared;
    return true;
}
