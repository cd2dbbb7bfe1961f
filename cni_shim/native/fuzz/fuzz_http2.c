/*
 * The agent's side of the connection -> the HTTP/2 state machine, frame by
 * frame, as transport.c drives it: the request body goes out whenever the
 * windows allow, and a finished call's reply goes through decode_outcome.
 */
#include <string.h>

#include "../http2.h"
#include "../protobuf.h"
#include "../replies.h"
#include "fuzz.h"

#define BODY_SIZE 100000
#define MAX_WINDOW 0x7FFFFFFF

static void check_state(const struct h2_call *call)
{
    FUZZ_CHECK(call->send_window_connection <= MAX_WINDOW);
    FUZZ_CHECK(call->send_window_stream <= MAX_WINDOW);
    FUZZ_CHECK(call->peer_max_frame_size >= DEFAULT_MAX_FRAME_SIZE);
    FUZZ_CHECK(call->header_block.len <= MAX_HEADER_BLOCK_SIZE);
    FUZZ_CHECK(call->data.len <= (1u << 24));
}

/* A failure reason goes into the CNI error JSON: it must come out as printable ASCII. */
static void check_reason(const struct buf *reason)
{
    struct buf json = {0};
    json_string(&json, reason->data, reason->len);
    for (size_t i = 0; i < json.len; i++)
        FUZZ_CHECK(json.data[i] >= ' ' && json.data[i] <= '~');
    buf_free(&json);
}

static void send_body(struct h2_call *call, size_t *sent)
{
    static const unsigned char body[BODY_SIZE];
    size_t allowed;
    while (*sent < BODY_SIZE && (allowed = h2_send_allowance(call)) > 0) {
        size_t chunk = BODY_SIZE - *sent < allowed ? BODY_SIZE - *sent : allowed;
        FUZZ_CHECK(chunk <= call->peer_max_frame_size);
        h2_queue_data(call, body + *sent, chunk, *sent + chunk == BODY_SIZE);
        *sent += chunk;
        call->outgoing.len = 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct h2_call call;
    h2_init(&call);
    h2_open(&call, "1000m");
    call.outgoing.len = 0;
    size_t pos = 0, sent = 0;
    bool failed = false;
    while (!h2_complete(&call)) {
        send_body(&call, &sent);
        size_t frame_size;
        if (size - pos < FRAME_HEADER_SIZE)
            break;
        if (!h2_frame_size(&call, data + pos, &frame_size)) {
            failed = true;
            break;
        }
        if (size - pos < frame_size)
            break;
        unsigned char *frame = malloc(frame_size); /* exact size: over-reads are reported */
        FUZZ_CHECK(frame != NULL);
        memcpy(frame, data + pos, frame_size);
        failed = !h2_handle_frame(&call, frame, frame_size);
        free(frame);
        pos += frame_size;
        if (failed)
            break;
        check_state(&call);
        call.outgoing.len = 0;
    }
    if (failed) {
        FUZZ_CHECK(call.failure != FAILED_NOT && call.message.len > 0);
        check_reason(&call.message);
    } else if (h2_complete(&call)) {
        const unsigned char *message;
        size_t length;
        if (h2_reply_message(&call, &message, &length)) {
            int exit_code;
            struct buf stdout_bytes = {0}, error = {0};
            decode_outcome(message, length, &exit_code, &stdout_bytes, &error);
            buf_free(&stdout_bytes);
            buf_free(&error);
        } else {
            FUZZ_CHECK(call.failure == FAILED_PROTOCOL && call.message.len > 0);
            check_reason(&call.message); /* carries the agent's grpc-message */
        }
    }
    h2_free(&call);
    return 0;
}
