"""One ICMP echo from inside a namespace (what `ping -c1 -W1` does), no ping binary needed."""

from __future__ import annotations

import os
import random
import socket
import struct
import time

from tools.cniexec.namespace import call_in_netns

_ECHO_REQUEST = 8
_ECHO_REPLY = 0


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


def _echo(destination: str, timeout: float) -> float | None:
    identifier = random.getrandbits(16)
    payload = os.urandom(16)
    header = struct.pack("!BBHHH", _ECHO_REQUEST, 0, 0, identifier, 1)
    packet = (
        struct.pack("!BBHHH", _ECHO_REQUEST, 0, _checksum(header + payload), identifier, 1)
        + payload
    )
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        started = time.monotonic()
        deadline = started + timeout
        try:
            sock.sendto(packet, (destination, 0))
        except OSError:
            return None
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                data, (source, _) = sock.recvfrom(2048)
            except (TimeoutError, OSError):
                return None
            header_length = (data[0] & 0x0F) * 4
            kind, _, _, reply_id, _ = struct.unpack(
                "!BBHHH", data[header_length : header_length + 8]
            )
            if (
                kind == _ECHO_REPLY
                and reply_id == identifier
                and source == destination
                and data[header_length + 8 :] == payload
            ):
                return time.monotonic() - started
    return None


def ping_once(netns: str, destination: str, timeout: float = 1.0) -> float | None:
    """Round-trip seconds of one echo from inside netns, or None when unanswered."""
    return call_in_netns(netns, lambda: _echo(destination, timeout))
