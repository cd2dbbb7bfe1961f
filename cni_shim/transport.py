"""One unary gRPC call to the agent over its unix socket, in plain HTTP/2.

grpcio costs ~75 ms to import and the shim runs once per CNI call, so this
speaks just enough HTTP/2 (RFC 9113) for one unary call on a fresh
connection: preface and SETTINGS, one HEADERS frame, DATA frames within the
peer's flow-control windows, then frames until the stream ends. `_socket` is
used instead of `socket` because the latter's enum import doubles start-up.
"""

from __future__ import annotations

import _socket
import time

from podnet.shim.wire import Invocation, WireError, decode_outcome, encode_invocation

from cni_shim.hpack import (
    MAX_HEADER_LIST_SIZE,
    HeaderDecoder,
    HpackError,
    encode_literal_headers,
)

INVOKE_PATH = b"/podnet.v1.CniAgent/Invoke"

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_HEADER_SIZE = 9

DATA = 0x0
HEADERS = 0x1
RST_STREAM = 0x3
SETTINGS = 0x4
PUSH_PROMISE = 0x5
PING = 0x6
GOAWAY = 0x7
WINDOW_UPDATE = 0x8
CONTINUATION = 0x9

FLAG_END_STREAM = 0x1
FLAG_ACK = 0x1
FLAG_END_HEADERS = 0x4
FLAG_PADDED = 0x8
FLAG_PRIORITY = 0x20

SETTING_ENABLE_PUSH = 0x2
SETTING_INITIAL_WINDOW_SIZE = 0x4
SETTING_MAX_FRAME_SIZE = 0x5
SETTING_MAX_HEADER_LIST_SIZE = 0x6

STREAM_ID = 1
DEFAULT_WINDOW = 65_535
DEFAULT_MAX_FRAME_SIZE = 16_384
MAX_FRAME_SIZE_LIMIT = (1 << 24) - 1
MAX_WINDOW = (1 << 31) - 1
# The most a header block (HEADERS + CONTINUATIONs) may take before it is decoded.
MAX_HEADER_BLOCK_SIZE = 65_536
# How much the agent may send us without WINDOW_UPDATEs from our side; an
# outcome is a few KiB, so we never need to send any.
RECEIVE_WINDOW = 1 << 24
GRPC_PREFIX_SIZE = 5


class AgentUnreachable(Exception):
    """No outcome from the agent: no socket, refused, deadline, or an RPC failure."""


def invoke(socket_path: str, invocation: Invocation, timeout: float) -> tuple[int, bytes]:
    """(exit_code, stdout) the agent answered for one CNI invocation."""
    deadline = time.monotonic() + timeout
    call = _UnaryCall(deadline)
    try:
        call.connect(socket_path)
        message = call.run(encode_invocation(invocation))
        return decode_outcome(message)
    except TimeoutError as error:
        raise AgentUnreachable(f"deadline of {timeout:g}s exceeded") from error
    except OSError as error:
        raise AgentUnreachable(f"{socket_path}: {error.strerror or error}") from error
    except (HpackError, WireError) as error:
        raise AgentUnreachable(f"undecodable reply: {error}") from error
    finally:
        call.close()


def frame(frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return (
        len(payload).to_bytes(3, "big")
        + bytes((frame_type, flags))
        + stream_id.to_bytes(4, "big")
        + payload
    )


def grpc_timeout(seconds: float) -> bytes:
    """The grpc-timeout header value (at most 8 digits plus a unit)."""
    milliseconds = max(1, int(seconds * 1000))
    if milliseconds < 100_000_000:
        return b"%dm" % milliseconds
    return b"%dS" % min(int(seconds), 99_999_999)


def _setting(identifier: int, value: int) -> bytes:
    return identifier.to_bytes(2, "big") + value.to_bytes(4, "big")


class _UnaryCall:
    __slots__ = (
        "_buffer",
        "_continuation",
        "_data",
        "_deadline",
        "_decoder",
        "_first_headers",
        "_last_headers",
        "_peer_initial_window",
        "_peer_max_frame_size",
        "_send_window_connection",
        "_send_window_stream",
        "_socket",
        "_stream_ended",
        "_write_closed",
    )

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline
        self._socket: _socket.socket | None = None
        self._buffer = bytearray()
        self._send_window_connection = DEFAULT_WINDOW
        self._send_window_stream = DEFAULT_WINDOW
        self._peer_initial_window = DEFAULT_WINDOW
        self._peer_max_frame_size = DEFAULT_MAX_FRAME_SIZE
        self._decoder = HeaderDecoder()
        self._continuation: bytearray | None = None  # header block being assembled
        # The response headers and the last block (trailers, or the same block
        # for a trailers-only answer); blocks in between are dropped.
        self._first_headers: list[tuple[bytes, bytes]] | None = None
        self._last_headers: list[tuple[bytes, bytes]] = []
        self._data = bytearray()
        self._stream_ended = False
        # The agent closed the connection while we were still writing; what it
        # sent before closing (a whole reply, or GOAWAY/RST_STREAM) is still
        # ours to read, so writes stop and reading goes on.
        self._write_closed = False

    def connect(self, socket_path: str) -> None:
        self._socket = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        self._socket.settimeout(self._remaining())
        self._socket.connect(socket_path)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()

    def run(self, message: bytes) -> bytes:
        request = b"\x00" + len(message).to_bytes(4, "big") + message
        headers = encode_literal_headers(
            [
                (b":method", b"POST"),
                (b":scheme", b"http"),
                (b":path", INVOKE_PATH),
                (b":authority", b"localhost"),
                (b"content-type", b"application/grpc"),
                (b"te", b"trailers"),
                (b"grpc-timeout", grpc_timeout(self._remaining())),
            ]
        )
        self._send(
            PREFACE
            + frame(
                SETTINGS,
                0,
                0,
                _setting(SETTING_ENABLE_PUSH, 0)
                + _setting(SETTING_INITIAL_WINDOW_SIZE, RECEIVE_WINDOW)
                + _setting(SETTING_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_SIZE),
            )
            + frame(WINDOW_UPDATE, 0, 0, (RECEIVE_WINDOW - DEFAULT_WINDOW).to_bytes(4, "big"))
            + frame(HEADERS, FLAG_END_HEADERS, STREAM_ID, headers)
        )
        self._send_request_body(memoryview(request))
        while not self._complete():
            self._handle_next_frame()
        return self._reply_message()

    def _complete(self) -> bool:
        return self._stream_ended and self._continuation is None

    def _send_request_body(self, body: memoryview) -> None:
        while body and not self._complete() and not self._write_closed:
            allowed = min(
                self._send_window_connection, self._send_window_stream, self._peer_max_frame_size
            )
            if allowed <= 0:
                self._handle_next_frame()
                continue
            chunk, body = body[:allowed], body[allowed:]
            flags = 0 if body else FLAG_END_STREAM
            self._send(frame(DATA, flags, STREAM_ID, bytes(chunk)))
            self._send_window_connection -= len(chunk)
            self._send_window_stream -= len(chunk)

    def _reply_message(self) -> bytes:
        if self._first_headers is None:
            raise AgentUnreachable("stream ended without response headers")
        response_headers = dict(self._first_headers)
        trailers = dict(self._last_headers)
        status = response_headers.get(b":status")
        if status != b"200":
            raise AgentUnreachable(f"HTTP status {_shown(status)}")
        grpc_status = trailers.get(b"grpc-status")
        if grpc_status != b"0":
            detail = trailers.get(b"grpc-message", b"").decode("utf-8", "replace")
            raise AgentUnreachable(f"grpc-status {_shown(grpc_status)}: {detail}")
        data = self._data
        if len(data) < GRPC_PREFIX_SIZE:
            raise AgentUnreachable("no reply message")
        if data[0] != 0:
            raise AgentUnreachable("compressed reply message")
        length = int.from_bytes(data[1:GRPC_PREFIX_SIZE], "big")
        if len(data) != GRPC_PREFIX_SIZE + length:
            raise AgentUnreachable("reply is not exactly one message")
        return bytes(data[GRPC_PREFIX_SIZE:])

    def _remaining(self) -> float:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    def _send(self, data: bytes) -> None:
        assert self._socket is not None
        if self._write_closed:
            return
        self._socket.settimeout(self._remaining())
        try:
            self._socket.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self._write_closed = True

    def _fill(self, size: int) -> None:
        assert self._socket is not None
        while len(self._buffer) < size:
            self._socket.settimeout(self._remaining())
            try:
                chunk = self._socket.recv(1 << 16)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise AgentUnreachable("connection closed before the reply was complete")
            self._buffer += chunk

    def _handle_next_frame(self) -> None:
        self._remaining()  # the deadline holds even while frames keep coming
        self._fill(FRAME_HEADER_SIZE)
        length = int.from_bytes(self._buffer[:3], "big")
        frame_type, flags = self._buffer[3], self._buffer[4]
        stream_id = int.from_bytes(self._buffer[5:9], "big") & 0x7FFFFFFF
        if length > DEFAULT_MAX_FRAME_SIZE:
            raise AgentUnreachable(f"frame of {length} bytes exceeds our maximum frame size")
        self._fill(FRAME_HEADER_SIZE + length)
        payload = bytes(self._buffer[FRAME_HEADER_SIZE : FRAME_HEADER_SIZE + length])
        del self._buffer[: FRAME_HEADER_SIZE + length]
        if self._continuation is not None and (
            frame_type != CONTINUATION or stream_id != STREAM_ID
        ):
            raise AgentUnreachable("header block interrupted")
        if frame_type == SETTINGS:
            self._on_settings(flags, stream_id, payload)
        elif frame_type == PING:
            if len(payload) != 8:
                raise AgentUnreachable("malformed PING frame")
            if not flags & FLAG_ACK:
                self._send(frame(PING, FLAG_ACK, 0, payload))
        elif frame_type == WINDOW_UPDATE:
            self._on_window_update(stream_id, payload)
        elif frame_type == GOAWAY:
            if len(payload) < 8:
                raise AgentUnreachable("malformed GOAWAY frame")
            last_stream_id = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            if last_stream_id < STREAM_ID:
                code = int.from_bytes(payload[4:8], "big")
                raise AgentUnreachable(f"GOAWAY before our call was accepted (error {code})")
        elif frame_type == PUSH_PROMISE:
            raise AgentUnreachable("PUSH_PROMISE although push is disabled")
        elif stream_id != STREAM_ID:
            return
        elif frame_type == RST_STREAM:
            if len(payload) != 4:
                raise AgentUnreachable("malformed RST_STREAM frame")
            raise AgentUnreachable(f"RST_STREAM (error {int.from_bytes(payload, 'big')})")
        elif frame_type == HEADERS:
            self._on_headers(flags, payload)
        elif frame_type == CONTINUATION:
            if self._continuation is None:
                raise AgentUnreachable("CONTINUATION without HEADERS")
            self._add_header_fragment(flags, payload)
        elif frame_type == DATA:
            self._data += _unpadded(flags, payload)
            if len(self._data) > RECEIVE_WINDOW:
                raise AgentUnreachable("reply exceeds the receive window")
            if flags & FLAG_END_STREAM:
                self._stream_ended = True

    def _on_settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id != 0 or len(payload) % 6 or (flags & FLAG_ACK and payload):
            raise AgentUnreachable("malformed SETTINGS frame")
        if flags & FLAG_ACK:
            return
        for offset in range(0, len(payload), 6):
            identifier = int.from_bytes(payload[offset : offset + 2], "big")
            value = int.from_bytes(payload[offset + 2 : offset + 6], "big")
            if identifier == SETTING_ENABLE_PUSH and value > 1:
                raise AgentUnreachable(f"invalid SETTINGS_ENABLE_PUSH {value}")
            if identifier == SETTING_INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise AgentUnreachable(f"invalid SETTINGS_INITIAL_WINDOW_SIZE {value}")
                self._send_window_stream += value - self._peer_initial_window
                self._peer_initial_window = value
                if self._send_window_stream > MAX_WINDOW:
                    raise AgentUnreachable("flow-control window above 2^31-1")
            elif identifier == SETTING_MAX_FRAME_SIZE:
                if not DEFAULT_MAX_FRAME_SIZE <= value <= MAX_FRAME_SIZE_LIMIT:
                    raise AgentUnreachable(f"invalid SETTINGS_MAX_FRAME_SIZE {value}")
                self._peer_max_frame_size = value
        self._send(frame(SETTINGS, FLAG_ACK, 0))

    def _on_window_update(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise AgentUnreachable("malformed WINDOW_UPDATE frame")
        increment = int.from_bytes(payload, "big") & MAX_WINDOW
        if stream_id == 0:
            self._send_window_connection += increment
            window = self._send_window_connection
        elif stream_id == STREAM_ID:
            self._send_window_stream += increment
            window = self._send_window_stream
        else:
            return
        if window > MAX_WINDOW:
            raise AgentUnreachable("flow-control window above 2^31-1")

    def _on_headers(self, flags: int, payload: bytes) -> None:
        fragment = _unpadded(flags, payload)
        if flags & FLAG_PRIORITY:
            fragment = fragment[5:]
        if flags & FLAG_END_STREAM:
            self._stream_ended = True
        self._continuation = bytearray()
        self._add_header_fragment(flags, fragment)

    def _add_header_fragment(self, flags: int, fragment: bytes) -> None:
        assert self._continuation is not None
        if len(self._continuation) + len(fragment) > MAX_HEADER_BLOCK_SIZE:
            raise AgentUnreachable(f"header block larger than {MAX_HEADER_BLOCK_SIZE} bytes")
        self._continuation += fragment
        if flags & FLAG_END_HEADERS:
            headers = self._decoder.decode(bytes(self._continuation))
            if self._first_headers is None:
                self._first_headers = headers
            self._last_headers = headers
            self._continuation = None


def _shown(value: bytes | None) -> str:
    """A header value for a failure message, as the C shim shows it."""
    return "(none)" if value is None else value[:32].decode("utf-8", "replace")


def _unpadded(flags: int, payload: bytes) -> bytes:
    if not flags & FLAG_PADDED:
        return payload
    if not payload or payload[0] >= len(payload):
        raise AgentUnreachable("malformed padding")
    return payload[1 : len(payload) - payload[0]]
