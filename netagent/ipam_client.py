"""The agent's client for ipamd: typed calls, gRPC status turned into agent errors."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar, cast

import grpc
import grpc.aio
from podnet.tls.files import WatchedTlsFiles
from podnet.v1 import ipam_pb2, ipam_pb2_grpc

from netagent.errors import (
    IpamBusy,
    IpamFailed,
    IpamRangeExhausted,
    IpamRangeNotHeld,
    IpamRejected,
    IpamUnavailable,
)
from netagent.ipamd_channel import IpamdChannel

T = TypeVar("T")

# Why each status means what it does: docs/cni-errors.md, "ipamd's answers in the agent".
_UNAVAILABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    # ipamd takes this node's certificate no longer (expired): a renewed one works.
    grpc.StatusCode.UNAUTHENTICATED,
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


# ipamd's trailer on RESOURCE_EXHAUSTED when one of its own limits refused the call
# (ipamd.limits): busy, retry, rather than "the range is full".
LIMIT_TRAILER = "podnet-limit"


def agent_error_for(code: grpc.StatusCode, detail: str, limited: bool = False) -> Exception:
    """The agent exception for a gRPC status ipamd (or the channel) answered with."""
    if code in _UNAVAILABLE:
        return IpamUnavailable(f"ipamd unavailable: {code.name}: {detail}")
    if code == grpc.StatusCode.ABORTED or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and limited):
        return IpamBusy(f"ipamd busy: {code.name}: {detail}")
    if code in _FAILED:
        return IpamFailed(f"ipamd failed: {code.name}: {detail}")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return IpamRangeExhausted(detail)
    if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
        return IpamRangeNotHeld(detail)
    return IpamRejected(f"ipamd rejected the request: {code.name}: {detail}")


def _error_of(error: grpc.aio.AioRpcError) -> Exception:
    # A grpc.aio.Metadata at run time: (key, value) pairs (grpc-stubs say otherwise).
    trailers = cast(Iterable[tuple[str, object]], error.trailing_metadata() or ())
    limited = any(key == LIMIT_TRAILER for key, _ in trailers)
    return agent_error_for(error.code(), error.details() or "", limited)


async def _call(awaitable: Awaitable[T]) -> T:
    try:
        return await awaitable
    except grpc.aio.AioRpcError as error:
        raise _error_of(error) from None


def _peer_event(event: ipam_pb2.NodeRangeEvent) -> PeerRangeEvent | None:
    kind = event.WhichOneof("change")
    if kind == "snapshot":
        ranges = tuple(NodeRange.from_message(r) for r in event.snapshot.ranges)
    elif kind == "added":
        ranges = (NodeRange.from_message(event.added),)
    elif kind == "removed":
        ranges = (NodeRange.from_message(event.removed),)
    else:
        return None
    return PeerRangeEvent(kind, ranges, event.revision)


class IpamClient:
    def __init__(self, address: str, timeout: float, tls: WatchedTlsFiles | None = None) -> None:
        """tls None: plaintext (--insecure-plaintext)."""
        self.channel = IpamdChannel(address, tls, grace=timeout)
        self._timeout = timeout

    @property
    def _stub(self) -> ipam_pb2_grpc.IpamAsyncStub:
        return self.channel.stub

    async def close(self) -> None:
        await self.channel.close()

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

        on_open runs once ipamd has accepted the stream, before any event. When the
        channel is rebuilt (a renewed certificate), the stream moves to the new channel
        from the last revision it yielded, without ending.
        """
        revision = resume_revision
        while True:
            replaced = self.channel.replaced
            stream = self._stub.WatchNodeRanges(
                ipam_pb2.WatchNodeRangesRequest(resume_revision=revision)
            )
            moved = asyncio.ensure_future(replaced.wait())
            try:
                await stream.initial_metadata()
                on_open()
                while True:
                    read = asyncio.ensure_future(stream.read())
                    await asyncio.wait({read, moved}, return_when=asyncio.FIRST_COMPLETED)
                    if not read.done():
                        read.cancel()
                        break  # reopen on the new channel
                    message = read.result()
                    if message is grpc.aio.EOF:  # type: ignore[attr-defined]
                        raise IpamUnavailable("ipamd ended the node range stream")
                    event = _peer_event(cast(ipam_pb2.NodeRangeEvent, message))
                    if event is not None:
                        revision = event.revision
                        yield event
            except grpc.aio.AioRpcError as error:
                raise _error_of(error) from None
            finally:
                moved.cancel()
                stream.cancel()
