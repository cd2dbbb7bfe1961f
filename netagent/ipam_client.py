"""The agent's client for ipamd: typed calls, gRPC status turned into agent errors."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc
import grpc.aio
from podnet.v1 import ipam_pb2, ipam_pb2_grpc

from netagent.errors import (
    IpamBusy,
    IpamFailed,
    IpamRangeExhausted,
    IpamRangeNotHeld,
    IpamRejected,
    IpamUnavailable,
)

T = TypeVar("T")

# Why each status means what it does: docs/cni-errors.md, "ipamd's answers in the agent".
_UNAVAILABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
}
_FAILED = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}


@dataclass(frozen=True)
class NodeRange:
    node: str
    cidr: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    node_ip: ipaddress.IPv4Address
    cluster_cidr: ipaddress.IPv4Network
    lease_ttl_seconds: int

    @classmethod
    def from_message(cls, msg: ipam_pb2.NodeRange) -> NodeRange:
        cidr = ipaddress.IPv4Network(msg.cidr)
        return cls(
            node=msg.node,
            cidr=cidr,
            gateway=ipaddress.IPv4Address(msg.gateway or cidr.network_address + 1),
            node_ip=ipaddress.IPv4Address(msg.node_ip or "0.0.0.0"),
            cluster_cidr=ipaddress.IPv4Network(msg.cluster_cidr or msg.cidr),
            lease_ttl_seconds=msg.lease_ttl_seconds,
        )


@dataclass(frozen=True)
class PodAddress:
    address: ipaddress.IPv4Interface
    gateway: ipaddress.IPv4Address
    container_id: str
    ifname: str

    @classmethod
    def from_message(cls, msg: ipam_pb2.PodIpAllocation) -> PodAddress:
        return cls(
            address=ipaddress.IPv4Interface(f"{msg.address}/{msg.prefix_length}"),
            gateway=ipaddress.IPv4Address(msg.gateway),
            container_id=msg.container_id,
            ifname=msg.ifname,
        )


@dataclass(frozen=True)
class PeerRangeEvent:
    """One change in the set of live node ranges (snapshot replaces all)."""

    kind: str  # "snapshot" | "added" | "removed"
    ranges: tuple[NodeRange, ...]
    revision: int


def agent_error_for(code: grpc.StatusCode, detail: str) -> Exception:
    """The agent exception for a gRPC status ipamd (or the channel) answered with."""
    if code in _UNAVAILABLE:
        return IpamUnavailable(f"ipamd unavailable: {code.name}: {detail}")
    if code == grpc.StatusCode.ABORTED:
        return IpamBusy(f"ipamd busy: {code.name}: {detail}")
    if code in _FAILED:
        return IpamFailed(f"ipamd failed: {code.name}: {detail}")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return IpamRangeExhausted(detail)
    if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
        return IpamRangeNotHeld(detail)
    return IpamRejected(f"ipamd rejected the request: {code.name}: {detail}")


async def _call(awaitable: Awaitable[T]) -> T:
    try:
        return await awaitable
    except grpc.aio.AioRpcError as error:
        raise agent_error_for(error.code(), error.details() or "") from None


class IpamClient:
    def __init__(self, address: str, timeout: float) -> None:
        self._channel = grpc.aio.insecure_channel(
            address,
            options=[
                ("grpc.keepalive_time_ms", 10_000),
                ("grpc.keepalive_timeout_ms", 5_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.initial_reconnect_backoff_ms", 200),
                ("grpc.max_reconnect_backoff_ms", 2_000),
            ],
        )
        self._stub = ipam_pb2_grpc.IpamStub(self._channel)
        self._timeout = timeout

    async def close(self) -> None:
        await self._channel.close(grace=None)

    async def acquire_range(self, node: str, node_ip: str) -> NodeRange:
        request = ipam_pb2.AcquireNodeRangeRequest(node=node, node_ip=node_ip)
        reply = await _call(
            self._stub.AcquireNodeRange(request, timeout=self._timeout, wait_for_ready=True)
        )
        return NodeRange.from_message(reply)

    async def renew_range(self, node: str, cidr: ipaddress.IPv4Network) -> NodeRange:
        request = ipam_pb2.RenewNodeRangeRequest(node=node, cidr=str(cidr))
        reply = await _call(
            self._stub.RenewNodeRange(request, timeout=self._timeout, wait_for_ready=True)
        )
        return NodeRange.from_message(reply)

    async def allocate(
        self,
        node_range: NodeRange,
        container_id: str,
        ifname: str,
        pod: ipam_pb2.PodRef,
    ) -> PodAddress:
        request = ipam_pb2.AllocatePodIpRequest(
            node=node_range.node,
            cidr=str(node_range.cidr),
            container_id=container_id,
            ifname=ifname,
            pod=pod,
        )
        reply = await _call(
            self._stub.AllocatePodIp(request, timeout=self._timeout, wait_for_ready=True)
        )
        return PodAddress.from_message(reply)

    async def release(self, node: str, container_id: str, ifname: str) -> str | None:
        request = ipam_pb2.ReleasePodIpRequest(node=node, container_id=container_id, ifname=ifname)
        reply = await _call(
            self._stub.ReleasePodIp(request, timeout=self._timeout, wait_for_ready=True)
        )
        return reply.address if reply.released else None

    async def list_allocations(self, node: str) -> list[PodAddress]:
        request = ipam_pb2.ListAllocationsRequest(node=node)
        reply = await _call(
            self._stub.ListAllocations(request, timeout=self._timeout, wait_for_ready=True)
        )
        return [PodAddress.from_message(a) for a in reply.allocations]

    async def watch_ranges(
        self, resume_revision: int, on_open: Callable[[], None]
    ) -> AsyncIterator[PeerRangeEvent]:
        """Yields range events until the stream breaks (raises IpamUnavailable).

        on_open runs once ipamd has accepted the stream, before any event.
        """
        request = ipam_pb2.WatchNodeRangesRequest(resume_revision=resume_revision)
        stream = self._stub.WatchNodeRanges(request)
        try:
            await stream.initial_metadata()
            on_open()
            async for event in stream:
                kind = event.WhichOneof("change")
                if kind == "snapshot":
                    ranges = tuple(NodeRange.from_message(r) for r in event.snapshot.ranges)
                elif kind == "added":
                    ranges = (NodeRange.from_message(event.added),)
                elif kind == "removed":
                    ranges = (NodeRange.from_message(event.removed),)
                else:
                    continue
                yield PeerRangeEvent(kind, ranges, event.revision)
        except grpc.aio.AioRpcError as error:
            raise agent_error_for(error.code(), error.details() or "") from None
        finally:
            stream.cancel()
        raise IpamUnavailable("ipamd ended the node range stream")
