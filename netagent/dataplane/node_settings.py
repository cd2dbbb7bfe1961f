"""Node-namespace facts and settings the agent needs besides pods and routes.

Both read the calling thread's namespace through /proc/thread-self and a
socket of its own, never /proc/self or /sys (which may show another one).
"""

from __future__ import annotations

import fcntl
import socket
import struct
from pathlib import Path

from netagent.dataplane.errors import DataplaneError

FALLBACK_MTU = 1500
SIOCGIFMTU = 0x8921
_ROUTES = Path("/proc/thread-self/net/route")
_IPV4_FORWARDING = Path("/proc/sys/net/ipv4/ip_forward")


def _default_route_device() -> str | None:
    """Lowest-metric IPv4 default route's device in the main table, from procfs."""
    best: tuple[int, str] | None = None
    for line in _ROUTES.read_text().splitlines()[1:]:
        fields = line.split()
        device, destination, metric, mask = fields[0], fields[1], int(fields[6]), fields[7]
        if destination == "00000000" and mask == "00000000" and (best is None or metric < best[0]):
            best = (metric, device)
    return best[1] if best else None


def _interface_mtu(device: str) -> int:
    request = struct.pack("16si", device.encode(), 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        reply = fcntl.ioctl(sock, SIOCGIFMTU, request)
    mtu: int = struct.unpack("16si", reply)[1]
    return mtu


def default_route_mtu() -> int:
    """MTU of the interface the node's IPv4 default route uses; 1500 if there is none.

    Synchronous and netlink-free, so it can run before or outside the event loop.
    """
    try:
        device = _default_route_device()
        return _interface_mtu(device) if device else FALLBACK_MTU
    except OSError as error:
        raise DataplaneError(f"cannot read the default route's MTU: {error}") from None


def _set_ipv4_forwarding() -> None:
    # /proc/sys writes do not block on I/O.
    if _IPV4_FORWARDING.read_text().strip() != "1":
        _IPV4_FORWARDING.write_text("1\n")


async def enable_ipv4_forwarding() -> None:
    """net.ipv4.ip_forward=1 in the node namespace, needed to route pods.

    /proc/sys/net follows the calling thread's namespace: this is a coroutine
    so that it runs on the agent's event loop thread, the node's.
    """
    try:
        _set_ipv4_forwarding()
    except OSError as error:
        raise DataplaneError(f"cannot enable IPv4 forwarding: {error}") from None
