"""Reading kernel state back the way an operator would: iproute2 JSON, nft JSON, ping."""

from __future__ import annotations

import json
import secrets
import socket
import struct
import subprocess
import time
from typing import Any

from tests.dataplane.netns_thread import call_in_netns

ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0


def ip_json(netns: str, *args: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["ip", "-n", netns, "-j", *args], capture_output=True, text=True, check=True, timeout=10
    )
    parsed: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    return parsed


def links(netns: str) -> dict[str, dict[str, Any]]:
    return {link["ifname"]: link for link in ip_json(netns, "-d", "link", "show")}


def ipv4_addresses(netns: str, ifname: str) -> list[str]:
    found = ip_json(netns, "-4", "addr", "show", "dev", ifname)
    return [f"{a['local']}/{a['prefixlen']}" for entry in found for a in entry["addr_info"]]


def ipv4_routes(netns: str) -> list[dict[str, Any]]:
    return ip_json(netns, "-4", "route", "show", "table", "main")


def ip(netns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", netns, *args], check=True, capture_output=True, timeout=10)


def sysctl(netns: str, key: str) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", netns, "sysctl", "-n", key],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return done.stdout.strip()


def nft_table(netns: str, table: str) -> list[dict[str, Any]] | None:
    """`nft -j list table ip <table>` items inside netns; None when the table is absent."""
    done = subprocess.run(
        ["ip", "netns", "exec", netns, "nft", "-j", "list", "table", "ip", table],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    if done.returncode != 0:
        return None
    items: list[dict[str, Any]] = json.loads(done.stdout)["nftables"]
    return items


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


def _echo(destination: str, timeout: float) -> bool:
    # A fresh id per echo: a new conntrack entry, so NAT changes take effect.
    ident = secrets.randbelow(0xFFFF) + 1
    payload = b"podnet-test"
    header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, 1)
    checksum = _checksum(header + payload)
    packet = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, checksum, ident, 1) + payload
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (destination, 0))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, (source, _) = sock.recvfrom(2048)
            except TimeoutError:
                return False
            header_len = (data[0] & 0x0F) * 4
            kind, _, _, reply_ident, _ = struct.unpack_from("!BBHHH", data, header_len)
            if kind == ICMP_ECHO_REPLY and reply_ident == ident and source == destination:
                return True
    return False


def ping(netns: str, destination: str, timeout: float = 2.0) -> bool:
    """One ICMP echo from inside netns; True when the reply arrives."""
    return call_in_netns(netns, _echo, destination, timeout)
