"""Pure IPv4 address arithmetic for node ranges and pod addresses. No I/O."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator


def parse_network(text: str) -> ipaddress.IPv4Network:
    """Parses 'a.b.c.d/n' strictly (host bits must be zero); raises ValueError."""
    network = ipaddress.ip_network(text, strict=True)
    if not isinstance(network, ipaddress.IPv4Network):
        raise ValueError(f"{text!r} is not an IPv4 network")
    return network


def node_ranges(
    cluster_cidr: ipaddress.IPv4Network, prefix_length: int
) -> Iterator[ipaddress.IPv4Network]:
    """Every node range of the cluster CIDR, lowest first."""
    return cluster_cidr.subnets(new_prefix=prefix_length)


def gateway_of(node_range: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """The first host address: the node side of every pod's veth."""
    return node_range.network_address + 1


def pod_host_offsets(node_range: ipaddress.IPv4Network) -> range:
    """Offsets (from the network address) a pod may get: not network, gateway or broadcast."""
    return range(2, node_range.num_addresses - 1)


def address_at(node_range: ipaddress.IPv4Network, offset: int) -> ipaddress.IPv4Address:
    return node_range.network_address + offset


def offset_of(node_range: ipaddress.IPv4Network, address: ipaddress.IPv4Address) -> int:
    """Offset of address inside node_range; ValueError when outside."""
    if address not in node_range:
        raise ValueError(f"{address} is not in {node_range}")
    return int(address) - int(node_range.network_address)


def is_node_range_of(
    node_range: ipaddress.IPv4Network,
    cluster_cidr: ipaddress.IPv4Network,
    prefix_length: int,
) -> bool:
    return node_range.prefixlen == prefix_length and node_range.subnet_of(cluster_cidr)
