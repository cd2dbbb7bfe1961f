"""An in-memory Ipam (netagent.seams): node ranges, pod addresses and the range stream.

Answers as ipamd does for one cluster (allocation is idempotent per attachment, release
of an unknown attachment is None) and raises the agent's Ipam* errors: every call
raises IpamUnavailable while `reachable` is False, and `fail` / `fail_release` make
single operations raise. Every call is recorded in `calls`.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from podnet.v1 import ipam_pb2

from netagent.errors import IpamRangeExhausted, IpamRangeNotHeld, IpamUnavailable
from netagent.ipam_client import NodeRange, PeerRangeEvent, PodAddress

CLUSTER_CIDR = ipaddress.IPv4Network("10.244.0.0/16")

AttachmentKey = tuple[str, str]


class FakeIpamd:
    def __init__(self, lease_ttl_seconds: int = 30) -> None:
        self.lease_ttl_seconds = lease_ttl_seconds
        self.reachable = True
        self.ranges: dict[str, NodeRange] = {}
        self.reclaimed: set[str] = set()
        self.allocations: dict[AttachmentKey, PodAddress] = {}
        self.released: list[AttachmentKey] = []
        self.calls: list[str] = []
        self.fail: dict[str, BaseException] = {}
        self.fail_release: dict[AttachmentKey, BaseException] = {}
        self.list_gate: asyncio.Event | None = None
        self.closed = False
        self._stream: asyncio.Queue[PeerRangeEvent | None] = asyncio.Queue()
        self._revision = 0

    def _enter(self, operation: str) -> None:
        self.calls.append(operation)
        if not self.reachable:
            raise IpamUnavailable(f"ipamd unavailable: UNAVAILABLE: {operation}")
        error = self.fail.get(operation)
        if error is not None:
            raise error

    def go_down(self) -> None:
        self.reachable = False
        self._stream.put_nowait(None)

    def publish(self, kind: str, node_range: NodeRange) -> None:
        """One change on the open range stream ("added" or "removed")."""
        self._revision += 1
        self._stream.put_nowait(PeerRangeEvent(kind, (node_range,), self._revision))

    def come_back(self) -> None:
        self.reachable = True

    def reclaim(self, node: str) -> None:
        """What ipamd does to a node silent for too long: range and allocations gone."""
        self.reclaimed.add(node)
        node_range = self.ranges.pop(node)
        self.allocations = {
            key: a for key, a in self.allocations.items() if a.address.ip not in node_range.cidr
        }

    def give(self, node_range: NodeRange, container_id: str, ifname: str = "eth0") -> PodAddress:
        """An allocation made earlier (before the agent started, or by a lost ADD)."""
        address = address_of(node_range, self._next_free(node_range), container_id, ifname)
        self.allocations[(container_id, ifname)] = address
        return address

    # --- RangeLeases ----------------------------------------------------------------

    async def acquire_range(self, node: str, node_ip: str) -> NodeRange:
        self._enter("acquire_range")
        self.reclaimed.discard(node)
        if node not in self.ranges:
            cidr = ipaddress.IPv4Network(f"10.244.{len(self.ranges) + 1}.0/24")
            self.ranges[node] = NodeRange(
                node=node,
                cidr=cidr,
                gateway=cidr.network_address + 1,
                node_ip=ipaddress.IPv4Address(node_ip),
                cluster_cidr=CLUSTER_CIDR,
                lease_ttl_seconds=self.lease_ttl_seconds,
            )
        self.ranges[node] = replace(self.ranges[node], lease_ttl_seconds=self.lease_ttl_seconds)
        return self.ranges[node]

    async def renew_range(self, node: str, cidr: ipaddress.IPv4Network) -> NodeRange:
        self._enter("renew_range")
        held = self.ranges.get(node)
        if held is None or held.cidr != cidr:
            raise IpamRangeNotHeld(f"node {node} no longer holds {cidr}")
        return held

    # --- PodAddresses ---------------------------------------------------------------

    async def allocate(
        self, node_range: NodeRange, container_id: str, ifname: str, pod: ipam_pb2.PodRef
    ) -> PodAddress:
        self._enter("allocate")
        if self.ranges.get(node_range.node) != node_range:
            raise IpamRangeNotHeld(f"node {node_range.node} does not hold {node_range.cidr}")
        existing = self.allocations.get((container_id, ifname))
        if existing is not None:
            return existing
        return self.give(node_range, container_id, ifname)

    async def release(self, node: str, container_id: str, ifname: str) -> str | None:
        self._enter("release")
        error = self.fail_release.get((container_id, ifname))
        if error is not None:
            raise error
        released = self.allocations.pop((container_id, ifname), None)
        if released is None:
            return None
        self.released.append((container_id, ifname))
        return str(released.address.ip)

    async def list_allocations(self, node: str) -> list[PodAddress]:
        self._enter("list_allocations")
        if self.list_gate is not None:
            await self.list_gate.wait()
        node_range = self.ranges.get(node)
        if node_range is None:
            return []
        return [a for a in self.allocations.values() if a.address.ip in node_range.cidr]

    # --- RangeWatch -----------------------------------------------------------------

    async def watch_ranges(
        self, resume_revision: int, on_open: Callable[[], None]
    ) -> AsyncIterator[PeerRangeEvent]:
        self._enter("watch_ranges")
        self._stream = asyncio.Queue()
        on_open()
        self._revision += 1
        yield PeerRangeEvent("snapshot", tuple(self.ranges.values()), self._revision)
        while (event := await self._stream.get()) is not None:
            yield event
        raise IpamUnavailable("ipamd ended the node range stream")

    async def close(self) -> None:
        self.closed = True

    def _next_free(self, node_range: NodeRange) -> ipaddress.IPv4Address:
        taken = {a.address.ip for a in self.allocations.values()}
        for host in list(node_range.cidr.hosts())[1:]:
            if host not in taken:
                return host
        raise IpamRangeExhausted(f"node range {node_range.cidr} has no free pod address")


def address_of(
    node_range: NodeRange, address: ipaddress.IPv4Address, container_id: str, ifname: str
) -> PodAddress:
    return PodAddress(
        address=ipaddress.IPv4Interface(f"{address}/{node_range.cidr.prefixlen}"),
        gateway=node_range.gateway,
        container_id=container_id,
        ifname=ifname,
    )
