"""A scripted HTTP/2 peer on a unix socket, for framing cases grpcio never produces.

It plays the agent's side of one connection frame by frame: it can hold back
flow-control credit, interleave PINGs, split header blocks into CONTINUATION
frames, pad frames, or end the call with RST_STREAM or GOAWAY. It records what
the shim sent so tests can check the shim obeyed the windows.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from podnet.shim.wire import decode_invocation, encode_outcome

from cni_shim.hpack import encode_literal_headers
from cni_shim.huffman import huffman_encode
from cni_shim.transport import (
    CONTINUATION,
    DATA,
    FLAG_ACK,
    FLAG_END_HEADERS,
    FLAG_END_STREAM,
    FLAG_PADDED,
    GOAWAY,
    HEADERS,
    PING,
    PREFACE,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    frame,
)

DEFAULT_WINDOW = 65_535
SO_SNDBUFFORCE = 32  # <asm-generic/socket.h>
PING_PAYLOAD = b"podnet!!"


@dataclass
class Frame:
    frame_type: int
    flags: int
    stream_id: int
    payload: bytes


@dataclass
class PeerRecord:
    frames: list[Frame] = field(default_factory=list)
    data_before_credit: int = 0  # DATA bytes received before we granted more than the default
    stalled: bool = False  # the client stopped sending while it had no credit
    error: str = ""

    def request_body(self) -> bytes:
        return b"".join(f.payload for f in self.frames if f.frame_type == DATA)

    def has(self, frame_type: int, flags: int) -> bool:
        return any(f.frame_type == frame_type and f.flags & flags for f in self.frames)


class ScriptedPeer:
    """Serves one connection on socket_path with `script`, in a thread."""

    def __init__(self, socket_path: Path, script: Callable[[ScriptedPeer], None]) -> None:
        self.record = PeerRecord()
        self._script = script
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(socket_path))
        self._listener.listen(1)
        self._listener.settimeout(10)
        self._connection: socket.socket | None = None
        self._buffer = b""
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ScriptedPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.join(timeout=15)
        self._listener.close()
        if self._connection is not None:
            self._connection.close()

    def _serve(self) -> None:
        try:
            self._connection, _ = self._listener.accept()
            self._connection.settimeout(5)
            preface = self._read_exactly(len(PREFACE))
            if preface != PREFACE:
                raise AssertionError(f"bad preface {preface!r}")
            self._script(self)
        except Exception as error:  # reported through the record, checked by the test
            self.record.error = repr(error)
        finally:
            if self._connection is not None:
                self._connection.close()

    def _read_exactly(self, size: int) -> bytes:
        assert self._connection is not None
        while len(self._buffer) < size:
            chunk = self._connection.recv(1 << 16)
            if not chunk:
                raise EOFError("client closed")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def read_frame(self) -> Frame:
        header = self._read_exactly(9)
        length = int.from_bytes(header[:3], "big")
        received = Frame(
            header[3], header[4], int.from_bytes(header[5:9], "big"), self._read_exactly(length)
        )
        self.record.frames.append(received)
        return received

    def read_until(self, done: Callable[[Frame], bool]) -> Frame:
        while True:
            received = self.read_frame()
            if done(received):
                return received

    def frames_within(self, seconds: float) -> list[Frame]:
        """Every complete frame the client sends in the next `seconds`."""
        assert self._connection is not None
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            self._connection.settimeout(remaining)
            try:
                chunk = self._connection.recv(1 << 16)
            except TimeoutError:
                break
            if not chunk:
                break
            self._buffer += chunk
        self._connection.settimeout(5)
        frames = []
        while len(self._buffer) >= 9:
            length = int.from_bytes(self._buffer[:3], "big")
            if len(self._buffer) < 9 + length:
                break
            frames.append(self.read_frame())
        return frames

    def send(self, data: bytes) -> None:
        assert self._connection is not None
        self._connection.sendall(data)

    def enlarge_send_buffer(self, size: int) -> None:
        """Lets `size` bytes queue up unread at the client (SO_SNDBUFFORCE: root only)."""
        assert self._connection is not None
        self._connection.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, size)

    def send_until_closed(self, data: bytes, seconds: float) -> float:
        """Sends data over and over until the client closes or `seconds` pass; the time taken."""
        assert self._connection is not None
        started = time.monotonic()
        try:
            while time.monotonic() - started < seconds:
                self._connection.sendall(data)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        return time.monotonic() - started


def response_blocks(stdout: bytes, exit_code: int) -> tuple[bytes, bytes, bytes]:
    """Response headers, DATA payload (one gRPC message) and trailers for an outcome.

    The header blocks mix what real servers send: an indexed static entry,
    Huffman-coded literals entered in the dynamic table, and a later reference
    to a dynamic entry.
    """
    message = encode_outcome(exit_code, stdout)
    grpc_message = b"\x00" + len(message).to_bytes(4, "big") + message
    application_grpc = huffman_encode(b"application/grpc")
    headers = (
        b"\x88"  # :status 200 (static index 8)
        + b"\x5f"  # literal with incremental indexing, name = static 31 (content-type)
        + bytes((0x80 | len(application_grpc),))
        + application_grpc
        + encode_literal_headers([(b"x-scripted", b"yes")])
    )
    status_value = huffman_encode(b"0")
    trailers = (
        b"\x40\x0bgrpc-status"  # literal with incremental indexing, new name
        + bytes((0x80 | len(status_value),))
        + status_value
        + b"\xbf"  # dynamic index 63: content-type, entered by the headers block
    )
    return headers, grpc_message, trailers


def padded(payload: bytes, padding: int) -> bytes:
    return bytes((padding,)) + payload + b"\x00" * padding


def answer_after_stalling(peer: ScriptedPeer, stdout: bytes, exit_code: int) -> None:
    """Grants no credit beyond the default windows, checks the client stalls, then answers."""
    peer.send(frame(SETTINGS, 0, 0) + frame(PING, 0, 0, PING_PAYLOAD))
    received = 0
    while received < DEFAULT_WINDOW:
        got = peer.read_frame()
        if got.frame_type == DATA:
            received += len(got.payload)
            if got.flags & FLAG_END_STREAM:
                break
    peer.record.data_before_credit = received
    peer.record.stalled = not any(f.frame_type == DATA for f in peer.frames_within(0.3))
    credit = (10 << 20).to_bytes(4, "big")
    peer.send(frame(WINDOW_UPDATE, 0, 0, credit) + frame(WINDOW_UPDATE, 0, 1, credit))
    if not any(f.frame_type == DATA and f.flags & FLAG_END_STREAM for f in peer.record.frames):
        peer.read_until(lambda f: f.frame_type == DATA and bool(f.flags & FLAG_END_STREAM))
    decode_invocation(peer.record.request_body()[5:])  # the request is one valid message
    headers, message, trailers = response_blocks(stdout, exit_code)
    split = len(headers) // 2
    peer.send(
        frame(HEADERS, FLAG_PADDED, 1, padded(headers[:split], 3))
        + frame(CONTINUATION, FLAG_END_HEADERS, 1, headers[split:])
        + frame(DATA, FLAG_PADDED, 1, padded(message[:7], 200))
        + frame(DATA, 0, 1, message[7:])
        + frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, trailers)
    )
    peer.frames_within(0.5)  # lets the client read, ack and close


def answer_without_reading_the_body(peer: ScriptedPeer, stdout: bytes, exit_code: int) -> None:
    """Grants a large window, answers once the request headers are in, and closes unread.

    The client is still writing its body when the connection goes, as when an
    agent answers early or restarts; the reply it already sent must be read.
    """
    credit = (16 << 20).to_bytes(4, "big")
    peer.send(
        frame(SETTINGS, 0, 0, (0x4).to_bytes(2, "big") + credit)
        + frame(WINDOW_UPDATE, 0, 0, credit)
    )
    peer.read_until(lambda f: f.frame_type == HEADERS)
    headers, message, trailers = response_blocks(stdout, exit_code)
    peer.send(
        frame(HEADERS, FLAG_END_HEADERS, 1, headers)
        + frame(DATA, 0, 1, message)
        + frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, trailers)
    )


def reset_stream(peer: ScriptedPeer) -> None:
    peer.read_until(lambda f: f.frame_type == HEADERS)
    peer.send(frame(SETTINGS, 0, 0) + frame(RST_STREAM, 0, 1, (2).to_bytes(4, "big")))
    peer.frames_within(1)


def go_away_before_accepting(peer: ScriptedPeer) -> None:
    peer.read_until(lambda f: f.frame_type == HEADERS)
    peer.send(frame(GOAWAY, 0, 0, (0).to_bytes(4, "big") + (11).to_bytes(4, "big")))
    peer.frames_within(1)


def close_after_headers(peer: ScriptedPeer) -> None:
    peer.read_until(lambda f: f.frame_type == HEADERS)
    headers, _, _ = response_blocks(b"", 0)
    peer.send(frame(HEADERS, FLAG_END_HEADERS, 1, headers))


# Literal with incremental indexing, new name "x-big", a 4000-byte raw value
# (length 127 + 3873 in HPACK's 7-bit prefix integer): dynamic index 62 after it.
BIG_ENTRY = b"\x40\x05x-big\x7f\xa1\x1e" + b"v" * 4000


def flood_after_headers(peer: ScriptedPeer) -> None:
    """Never answers, but never falls silent either: header blocks, non-stop, each cheap to
    send and dear to decode (16 references to a 4000-byte dynamic-table entry, just under
    the announced list size), queued deep enough that the client always has one to read."""
    peer.read_until(lambda f: f.frame_type == HEADERS)
    peer.enlarge_send_buffer(64 << 20)
    peer.send(frame(HEADERS, FLAG_END_HEADERS, 1, b"\x88" + BIG_ENTRY))
    burst = frame(HEADERS, FLAG_END_HEADERS, 1, b"\xbe" * 16) * 4000
    peer.send_until_closed(burst, seconds=8)


def endless_header_block(peer: ScriptedPeer) -> None:
    """A response header block that CONTINUATION frames keep growing, never ending."""
    peer.read_until(lambda f: f.frame_type == HEADERS)
    fragment = b"\x00" * 16_000
    peer.send(frame(HEADERS, 0, 1, fragment))
    peer.send_until_closed(frame(CONTINUATION, 0, 1, fragment), seconds=8)


def sends_settings(identifier: int, value: int) -> Callable[[ScriptedPeer], None]:
    """A peer whose first SETTINGS frame carries one (possibly invalid) value."""

    def script(peer: ScriptedPeer) -> None:
        setting = identifier.to_bytes(2, "big") + value.to_bytes(4, "big")
        peer.send(frame(SETTINGS, 0, 0, setting))
        peer.frames_within(2)

    return script


def overflows_the_send_window(peer: ScriptedPeer) -> None:
    """Credit beyond 2^31-1 on the connection window (RFC 9113 section 6.9.1)."""
    peer.send(frame(WINDOW_UPDATE, 0, 0, ((1 << 31) - 1).to_bytes(4, "big")))
    peer.frames_within(2)


def huge_header_list(peer: ScriptedPeer) -> None:
    """A small header block that decodes to far more than the announced list size:
    one 4000-byte entry in the dynamic table, then 20 one-byte references to it."""
    peer.read_until(lambda f: f.frame_type == HEADERS)
    peer.send(frame(HEADERS, FLAG_END_HEADERS, 1, b"\x88" + BIG_ENTRY + b"\xbe" * 20))
    peer.frames_within(2)


__all__ = [
    "FLAG_ACK",
    "PING_PAYLOAD",
    "ScriptedPeer",
    "answer_after_stalling",
    "answer_without_reading_the_body",
    "close_after_headers",
    "endless_header_block",
    "flood_after_headers",
    "go_away_before_accepting",
    "huge_header_list",
    "overflows_the_send_window",
    "reset_stream",
    "sends_settings",
]
