"""Where each record lives in etcd (see docs/etcd-layout.md). Pure, no I/O."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

# Both run for every allocation and every watched change; a cluster has few node ranges.
_RANGE_CACHE_SIZE = 1 << 16


@functools.lru_cache(maxsize=_RANGE_CACHE_SIZE)
def range_id(node_range: ipaddress.IPv4Network) -> str:
    """'10.244.1.0/24' -> '10.244.1.0-24' (a key segment without '/')."""
    return f"{node_range.network_address}-{node_range.prefixlen}"


@functools.lru_cache(maxsize=_RANGE_CACHE_SIZE)
def range_from_id(text: str) -> ipaddress.IPv4Network:
    address, _, length = text.partition("-")
    return ipaddress.IPv4Network(f"{address}/{length}")


@dataclass(frozen=True)
class KeyLayout:
    prefix: str

    @property
    def config(self) -> str:
        return f"{self.prefix}/config"

    @property
    def compactor_lock(self) -> str:
        return f"{self.prefix}/compactor"

    @property
    def nodes(self) -> str:
        return f"{self.prefix}/nodes/"

    @property
    def claims(self) -> str:
        return f"{self.prefix}/ranges/"

    @property
    def heartbeats(self) -> str:
        return f"{self.prefix}/heartbeats/"

    @property
    def quarantines(self) -> str:
        return f"{self.prefix}/quarantine/"

    @property
    def ips(self) -> str:
        return f"{self.prefix}/ips/"

    def node(self, node: str) -> str:
        return self.nodes + node

    def claim(self, node_range: ipaddress.IPv4Network) -> str:
        return self.claims + range_id(node_range)

    def heartbeat(self, node: str) -> str:
        return self.heartbeats + node

    def quarantine(self, node: str) -> str:
        return self.quarantines + node

    def ips_of(self, node_range: ipaddress.IPv4Network) -> str:
        return f"{self.ips}{range_id(node_range)}/"

    def ip(self, node_range: ipaddress.IPv4Network, address: ipaddress.IPv4Address) -> str:
        return f"{self.ips_of(node_range)}{address}"

    def attachments_of(self, node_range: ipaddress.IPv4Network) -> str:
        return f"{self.prefix}/attachments/{range_id(node_range)}/"

    def attachment(self, node_range: ipaddress.IPv4Network, container_id: str, ifname: str) -> str:
        return f"{self.attachments_of(node_range)}{container_id}/{ifname}"

    @staticmethod
    def last_segment(key: str) -> str:
        return key.rsplit("/", 1)[-1]

    def parse_ip_key(self, key: str) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Address]:
        """'<prefix>/ips/10.244.1.0-24/10.244.1.7' -> (range, address); ValueError if not one."""
        if not key.startswith(self.ips):
            raise ValueError(f"not an ip record key: {key!r}")
        range_text, _, address = key[len(self.ips) :].partition("/")
        return range_from_id(range_text), ipaddress.IPv4Address(address)
