/*
 * The HTTP/2 side of one unary gRPC call on a fresh connection (RFC 9113), as
 * cni_shim/transport.py: frames in, state and frames to send out. No I/O here;
 * transport.c moves the bytes, so the fuzzers can drive this directly.
 */
#ifndef PODNET_HTTP2_H
#define PODNET_HTTP2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hpack.h"

#define FRAME_HEADER_SIZE 9
#define DEFAULT_MAX_FRAME_SIZE 16384
/* The most a header block (HEADERS + CONTINUATIONs) may take before it is decoded. */
#define MAX_HEADER_BLOCK_SIZE 65536

enum failure_kind {
    FAILED_NOT,
    FAILED_DEADLINE,
    FAILED_OS,          /* reason: "<socket>: <strerror>" */
    FAILED_PROTOCOL,    /* reason: the message as is */
    FAILED_UNDECODABLE, /* reason: "undecodable reply: <message>" */
};

struct h2_call {
    enum failure_kind failure;
    struct buf message; /* what failed, for FAILED_OS, FAILED_PROTOCOL and FAILED_UNDECODABLE */
    struct buf outgoing; /* frames to send: the opening, DATA, SETTINGS and PING acks */
    int64_t send_window_connection, send_window_stream, peer_initial_window;
    uint32_t peer_max_frame_size;
    struct hpack_decoder decoder;
    bool in_header_block;
    struct buf header_block;
    size_t header_blocks;
    struct header_summary first_block, last_block;
    struct buf data;
    bool stream_ended;
};

void h2_init(struct h2_call *call);
void h2_free(struct h2_call *call);

/* Queues the preface, our SETTINGS, a connection WINDOW_UPDATE and the request HEADERS. */
void h2_open(struct h2_call *call, const char *grpc_timeout);

/* Size of the frame whose header is at data (FRAME_HEADER_SIZE bytes); false if it is too big. */
bool h2_frame_size(struct h2_call *call, const unsigned char *header, size_t *frame_size);

/* Handles one whole frame (header and payload); false with call->failure set when the call failed. */
bool h2_handle_frame(struct h2_call *call, const unsigned char *frame, size_t frame_size);

/* How many body bytes the windows and the peer's frame size allow in the next DATA frame. */
size_t h2_send_allowance(const struct h2_call *call);

/* Queues one DATA frame of the request body (len <= h2_send_allowance). */
void h2_queue_data(struct h2_call *call, const unsigned char *body, size_t len, bool last);

bool h2_complete(const struct h2_call *call);

/*
 * The reply message, checked as transport.py does: HTTP status 200 in the
 * first header block, grpc-status 0 in the last, exactly one uncompressed
 * message in the DATA.
 */
bool h2_reply_message(struct h2_call *call, const unsigned char **message, size_t *length);

bool h2_fail(struct h2_call *call, enum failure_kind kind, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

#endif
