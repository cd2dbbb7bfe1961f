"""`podnetctl nodes` and `podnetctl ips`: what ipamd holds, as a table or JSON."""

from __future__ import annotations

import dataclasses
import ipaddress

from podnetctl.cluster.clients import Cluster
from podnetctl.cluster.model import Allocation, NodeView
from podnetctl.cluster.output import print_json, print_table, short_id
from podnetctl.errors import CommandError


def _lease(node: NodeView) -> str:
    renewed = node.renewed_seconds_ago
    if renewed is None:
        return "lapsed"
    return f"renewed {renewed}s ago (ttl {node.lease_ttl_seconds}s)"


def _quarantine(node: NodeView) -> str:
    if not node.quarantined:
        return "no"
    return f"since {node.quarantined_since}" if node.quarantined_since else "yes"


async def show_nodes(cluster: Cluster, as_json: bool) -> int:
    nodes = sorted(await cluster.nodes(), key=lambda node: node.name)
    if as_json:
        print_json(
            [
                {**dataclasses.asdict(node), "renewed_seconds_ago": node.renewed_seconds_ago}
                for node in nodes
            ]
        )
        return 0
    print_table(
        ("NODE", "RANGE", "NODE IP", "PODS", "LEASE", "QUARANTINED"),
        (
            (
                node.name,
                node.cidr,
                node.node_ip,
                str(node.allocated),
                _lease(node),
                _quarantine(node),
            )
            for node in nodes
        ),
    )
    return 0


def _address_order(
    allocation: Allocation,
) -> tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return allocation.node, ipaddress.ip_address(allocation.address)


async def show_ips(cluster: Cluster, node: str | None, as_json: bool) -> int:
    known = [view.name for view in await cluster.nodes()]
    if node is not None and node not in known:
        raise CommandError(
            f"ipamd knows no node {node!r} (known: {', '.join(sorted(known)) or 'none'})"
        )
    allocations = sorted(
        await cluster.allocations([node] if node is not None else known), key=_address_order
    )
    if as_json:
        print_json([{**dataclasses.asdict(a), "pod": a.pod} for a in allocations])
        return 0
    print_table(
        ("ADDRESS", "NODE", "POD", "CONTAINER", "IFNAME"),
        ((a.address, a.node, a.pod, short_id(a.container_id), a.ifname) for a in allocations),
    )
    return 0
