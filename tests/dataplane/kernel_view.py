"""Reading kernel state back the way an operator would: iproute2 JSON, nft JSON, ping."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tools.lab.icmp import ping_once


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


def ping(netns: str, destination: str, timeout: float = 2.0) -> bool:
    """One ICMP echo from inside netns; True when the reply arrives."""
    return ping_once(netns, destination, timeout) is not None
