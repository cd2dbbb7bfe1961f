"""nftables text for pods' host ports (pure): one table, two maps, DNAT by lookup.

Each host port is one map element `proto . port : pod ip . container port`
(keyed by destination address too when the mapping names a host IP), so
adding or removing a pod's ports is one element operation, whatever the number
of pods, and the rules never change after setup.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

ANY_ADDRESS_MAP = "any_ip"
BY_ADDRESS_MAP = "by_ip"


@dataclass(frozen=True, order=True)
class HostPortRule:
    protocol: str
    host_port: int
    pod_ip: ipaddress.IPv4Address
    container_port: int
    host_ip: ipaddress.IPv4Address | None = None

    @property
    def map_name(self) -> str:
        return BY_ADDRESS_MAP if self.host_ip else ANY_ADDRESS_MAP

    @property
    def key(self) -> str:
        prefix = f"{self.host_ip} . " if self.host_ip else ""
        return f"{prefix}{self.protocol} . {self.host_port}"

    @property
    def element(self) -> str:
        return f"{self.key} : {self.pod_ip} . {self.container_port}"


def setup_script(table: str) -> str:
    """Creates the table, maps and chains if missing; rewrites the rules; keeps elements."""
    lookups = (
        f"fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @{BY_ADDRESS_MAP}",
        f"fib daddr type local dnat ip to meta l4proto . th dport map @{ANY_ADDRESS_MAP}",
    )
    lines = [
        f"add table ip {table}",
        f"add map ip {table} {ANY_ADDRESS_MAP} "
        "{ type inet_proto . inet_service : ipv4_addr . inet_service ; }",
        f"add map ip {table} {BY_ADDRESS_MAP} "
        "{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service ; }",
        # prerouting: traffic arriving at the node; output: connections made on the node.
        f"add chain ip {table} prerouting {{ type nat hook prerouting priority dstnat ; }}",
        f"add chain ip {table} output {{ type nat hook output priority -100 ; }}",
        f"flush chain ip {table} prerouting",
        f"flush chain ip {table} output",
    ]
    for chain in ("prerouting", "output"):
        lines += [f"add rule ip {table} {chain} {lookup}" for lookup in lookups]
    return "\n".join(lines) + "\n"


def _elements_by_map(rules: Iterable[HostPortRule], with_values: bool) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for rule in rules:
        grouped.setdefault(rule.map_name, []).append(rule.element if with_values else rule.key)
    return grouped


def add_script(table: str, rules: Sequence[HostPortRule]) -> str:
    """`create`: fails (and changes nothing) if another pod holds one of the host ports."""
    return "".join(
        f"create element ip {table} {name} {{ {', '.join(items)} }}\n"
        for name, items in _elements_by_map(rules, with_values=True).items()
    )


def remove_script(table: str, rules: Sequence[HostPortRule]) -> str:
    return "".join(
        f"delete element ip {table} {name} {{ {', '.join(items)} }}\n"
        for name, items in _elements_by_map(rules, with_values=False).items()
    )


def parse_listed_rules(items: Sequence[dict[str, Any]]) -> list[HostPortRule]:
    """HostPortRules from `nft -j list table ip <table>`'s map objects."""
    rules: list[HostPortRule] = []
    for item in items:
        listed_map = item.get("map")
        if not listed_map or listed_map.get("name") not in (ANY_ADDRESS_MAP, BY_ADDRESS_MAP):
            continue
        for key, value in listed_map.get("elem", []):
            key_parts = key["concat"]
            pod_ip, container_port = value["concat"]
            host_ip = ipaddress.IPv4Address(key_parts[0]) if len(key_parts) == 3 else None
            protocol, host_port = key_parts[-2], key_parts[-1]
            rules.append(
                HostPortRule(
                    protocol=str(protocol),
                    host_port=int(host_port),
                    pod_ip=ipaddress.IPv4Address(pod_ip),
                    container_port=int(container_port),
                    host_ip=host_ip,
                )
            )
    return sorted(rules)
