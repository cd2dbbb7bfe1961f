"""Partitions inside a lab namespace: an nft table that drops the namespace's TCP traffic
with chosen endpoints, or all its traffic on eth0. Only ever in lab namespaces."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from tools.lab.netns import in_netns

TABLE = "podnet-lab-cut"


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def endpoint_cut_rules(addresses: Sequence[str]) -> str:
    """An nft script dropping TCP to and from each HOST:PORT, both ways, so neither
    side's packets (SYNs, data, ACKs, keepalives) get through on existing connections."""
    endpoints = sorted({_split(address) for address in addresses})
    outgoing = "".join(f"    ip daddr {host} tcp dport {port} drop\n" for host, port in endpoints)
    incoming = "".join(f"    ip saddr {host} tcp sport {port} drop\n" for host, port in endpoints)
    return _table(outgoing, incoming)


def isolation_rules(interface: str = "eth0") -> str:
    """An nft script dropping everything in and out of interface."""
    return _table(f'    oifname "{interface}" drop\n', f'    iifname "{interface}" drop\n')


def _table(outgoing: str, incoming: str) -> str:
    # Declaring then deleting the table makes the replacement atomic and idempotent.
    return (
        f"table ip {TABLE}\n"
        f"delete table ip {TABLE}\n"
        f"table ip {TABLE} {{\n"
        "  chain out {\n    type filter hook output priority 0; policy accept;\n"
        f"{outgoing}  }}\n"
        "  chain in {\n    type filter hook input priority 0; policy accept;\n"
        f"{incoming}  }}\n"
        "}\n"
    )


def apply_cut(netns: str, rules: str) -> None:
    """Installs rules in netns, replacing any cut there."""
    done = subprocess.run(
        in_netns(netns, ["nft", "-f", "-"]),
        input=rules, capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"nft in {netns}: {done.stderr.strip()}")


def remove_cut(netns: str) -> bool:
    """Removes the cut from netns; False if there was none."""
    done = subprocess.run(
        in_netns(netns, ["nft", "delete", "table", "ip", TABLE]),
        capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    return done.returncode == 0
