#define _GNU_SOURCE /* MSG_NOSIGNAL, SOCK_CLOEXEC */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "http2.h"

struct unary_call {
    int fd;
    double deadline;
    struct h2_call h2;
    struct buf received;
    size_t consumed;
    /* The agent closed while we were still writing; what it sent before closing
     * (a whole reply, or GOAWAY/RST_STREAM) is still ours to read. */
    bool write_closed;
};

static double monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static bool fail_os(struct unary_call *call, int error)
{
    return h2_fail(&call->h2, FAILED_OS, "%s", strerror(error));
}

static bool remaining_ms(struct unary_call *call, int *milliseconds)
{
    double remaining = call->deadline - monotonic_seconds();
    if (remaining <= 0) {
        call->h2.failure = FAILED_DEADLINE;
        return false;
    }
    double ms = remaining * 1000 + 1; /* rounded up: never wake before the deadline */
    *milliseconds = ms > 1e9 ? 1000000000 : (int)ms;
    return true;
}

static bool wait_for(struct unary_call *call, short events)
{
    for (;;) {
        int timeout;
        if (!remaining_ms(call, &timeout))
            return false;
        struct pollfd poller = {.fd = call->fd, .events = events};
        int ready = poll(&poller, 1, timeout);
        if (ready > 0)
            return true;
        if (ready < 0 && errno != EINTR)
            return fail_os(call, errno);
    }
}

/* Sends (and empties) the frames the HTTP/2 side queued. */
static bool flush(struct unary_call *call)
{
    const unsigned char *data = call->h2.outgoing.data;
    size_t len = call->h2.outgoing.len;
    call->h2.outgoing.len = 0;
    while (len && !call->write_closed) {
        int unused;
        if (!remaining_ms(call, &unused))
            return false;
        ssize_t sent = send(call->fd, data, len, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE || errno == ECONNRESET) {
                call->write_closed = true;
                return true;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return fail_os(call, errno);
            if (!wait_for(call, POLLOUT))
                return false;
            continue;
        }
        data += sent;
        len -= (size_t)sent;
    }
    return true;
}

/* The grpc-timeout header value (at most 8 digits plus a unit). */
static void grpc_timeout(char *out, size_t size, double seconds)
{
    long long milliseconds = (long long)(seconds * 1000);
    if (milliseconds < 1)
        milliseconds = 1;
    if (milliseconds < 100000000)
        snprintf(out, size, "%lldm", milliseconds);
    else
        snprintf(out, size, "%lldS", (long long)seconds < 99999999 ? (long long)seconds : 99999999LL);
}

static bool call_connect(struct unary_call *call, const char *socket_path)
{
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof address.sun_path)
        return h2_fail(&call->h2, FAILED_OS, "AF_UNIX path too long");
    strcpy(address.sun_path, socket_path);
    call->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (call->fd < 0)
        return fail_os(call, errno);
    int milliseconds;
    if (!remaining_ms(call, &milliseconds))
        return false;
    /* A unix connect blocks only while the listen backlog is full; SO_SNDTIMEO bounds that wait. */
    struct timeval limit = {.tv_sec = milliseconds / 1000, .tv_usec = (milliseconds % 1000) * 1000};
    setsockopt(call->fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    while (connect(call->fd, (struct sockaddr *)&address, sizeof address) < 0) {
        if (errno == EINTR)
            continue;
        if ((errno == EAGAIN || errno == EINPROGRESS) && !remaining_ms(call, &milliseconds))
            return false;
        return fail_os(call, errno);
    }
    int flags = fcntl(call->fd, F_GETFL);
    if (flags < 0 || fcntl(call->fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return fail_os(call, errno);
    return true;
}

/* Makes at least `size` unconsumed bytes available. */
static bool fill(struct unary_call *call, size_t size)
{
    while (call->received.len - call->consumed < size) {
        if (call->consumed) { /* keep only the unconsumed tail */
            memmove(call->received.data, call->received.data + call->consumed,
                    call->received.len - call->consumed);
            call->received.len -= call->consumed;
            call->consumed = 0;
        }
        buf_reserve(&call->received, 1 << 16);
        ssize_t got = recv(call->fd, call->received.data + call->received.len, 1 << 16, 0);
        if (got > 0) {
            call->received.len += (size_t)got;
            continue;
        }
        if (got == 0 || (got < 0 && errno == ECONNRESET))
            return h2_fail(&call->h2, FAILED_PROTOCOL, "connection closed before the reply was complete");
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return fail_os(call, errno);
        if (!wait_for(call, POLLIN))
            return false;
    }
    return true;
}

/* Reads and handles one frame. The deadline holds even while frames keep coming. */
static bool next_frame(struct unary_call *call)
{
    int unused;
    size_t frame_size;
    if (!remaining_ms(call, &unused) || !fill(call, FRAME_HEADER_SIZE) ||
        !h2_frame_size(&call->h2, call->received.data + call->consumed, &frame_size) ||
        !fill(call, frame_size))
        return false;
    const unsigned char *frame = call->received.data + call->consumed;
    call->consumed += frame_size;
    return h2_handle_frame(&call->h2, frame, frame_size) && flush(call);
}

static bool send_request_body(struct unary_call *call, const unsigned char *body, size_t len)
{
    while (len && !h2_complete(&call->h2) && !call->write_closed) {
        size_t allowed = h2_send_allowance(&call->h2);
        if (!allowed) {
            if (!next_frame(call))
                return false;
            continue;
        }
        size_t chunk = allowed < len ? allowed : len;
        h2_queue_data(&call->h2, body, chunk, chunk == len);
        if (!flush(call))
            return false;
        body += chunk;
        len -= chunk;
    }
    return true;
}

static bool call_run(struct unary_call *call, const struct buf *message, const unsigned char **reply,
                     size_t *reply_length)
{
    struct buf request = {0};
    bool ok = false;
    unsigned char prefix[5] = {0, (unsigned char)(message->len >> 24), (unsigned char)(message->len >> 16),
                               (unsigned char)(message->len >> 8), (unsigned char)message->len};
    buf_append(&request, prefix, sizeof prefix);
    buf_append(&request, message->data, message->len);

    int unused;
    if (!remaining_ms(call, &unused))
        goto done;
    char timeout_text[32];
    grpc_timeout(timeout_text, sizeof timeout_text, call->deadline - monotonic_seconds());
    h2_open(&call->h2, timeout_text);
    if (!flush(call) || !send_request_body(call, request.data, request.len))
        goto done;
    while (!h2_complete(&call->h2))
        if (!next_frame(call))
            goto done;
    ok = h2_reply_message(&call->h2, reply, reply_length);
done:
    buf_free(&request);
    return ok;
}

bool invoke(const char *socket_path, const struct invocation *invocation, double timeout, int *exit_code,
            struct buf *stdout_bytes, struct buf *reason)
{
    struct unary_call call = {.fd = -1, .deadline = monotonic_seconds() + timeout};
    h2_init(&call.h2);
    struct buf message = {0};
    encode_invocation(&message, invocation);
    const unsigned char *reply = NULL;
    size_t reply_length = 0;
    bool ok = call_connect(&call, socket_path) && call_run(&call, &message, &reply, &reply_length);
    if (ok) {
        struct buf error = {0};
        ok = decode_outcome(reply, reply_length, exit_code, stdout_bytes, &error);
        if (!ok)
            h2_fail(&call.h2, FAILED_UNDECODABLE, "%s", buf_str(&error));
        buf_free(&error);
    }
    if (!ok) {
        switch (call.h2.failure) {
        case FAILED_DEADLINE:
            buf_printf(reason, "deadline of %gs exceeded", timeout);
            break;
        case FAILED_OS:
            buf_printf(reason, "%s: %s", socket_path, buf_str(&call.h2.message));
            break;
        case FAILED_UNDECODABLE:
            buf_printf(reason, "undecodable reply: %s", buf_str(&call.h2.message));
            break;
        default:
            buf_append(reason, call.h2.message.data, call.h2.message.len);
            break;
        }
    }
    if (call.fd >= 0)
        close(call.fd);
    buf_free(&message);
    buf_free(&call.received);
    h2_free(&call.h2);
    return ok;
}
