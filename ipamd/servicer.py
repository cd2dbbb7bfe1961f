"""The podnet.v1.Ipam gRPC service: protobuf in and out, and the only place where ipamd's
exceptions become gRPC status codes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import grpc
from podnet.logs import log_event
from podnet.tls.errors import InvalidIdentity
from podnet.tls.identity import Role
from podnet.tls.peer import peer_identity
from podnet.v1 import ipam_pb2, ipam_pb2_grpc
from podnet.version import podnet_version

from ipamd.addressing import gateway_of, parse_network
from ipamd.allocator import Allocator, NodeRangeGrant, PodAttachment
from ipamd.errors import (
    Contention,
    InvalidRequest,
    IpamError,
    NodeRangeGone,
    NodeRangeNotHeld,
    RangeExhausted,
    StoreUnavailable,
)
from ipamd.metrics import IpamdMetrics
from ipamd.range_stream import LiveRange, RangeAdded, RangeEvent, RangeSnapshot, live_range_events
from ipamd.records import PodRef
from ipamd.replica_status import ReplicaStatus
from ipamd.store import EtcdStore, NodeOverview

log = logging.getLogger(__name__)

T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]

_STATUS_BY_ERROR: tuple[tuple[type[IpamError], grpc.StatusCode], ...] = (
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (RangeExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (NodeRangeNotHeld, grpc.StatusCode.FAILED_PRECONDITION),
    (NodeRangeGone, grpc.StatusCode.NOT_FOUND),
    (Contention, grpc.StatusCode.ABORTED),
    (StoreUnavailable, grpc.StatusCode.UNAVAILABLE),
)


def status_for(error: IpamError) -> grpc.StatusCode:
    for error_type, code in _STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return code
    return grpc.StatusCode.INTERNAL


def _node_range_message(grant: NodeRangeGrant) -> ipam_pb2.NodeRange:
    return ipam_pb2.NodeRange(
        node=grant.node,
        cidr=str(grant.cidr),
        gateway=str(grant.gateway),
        node_ip=grant.node_ip,
        cluster_cidr=str(grant.cluster_cidr),
        lease_ttl_seconds=grant.lease_ttl_seconds,
    )


def _allocation_message(attachment: PodAttachment) -> ipam_pb2.PodIpAllocation:
    return ipam_pb2.PodIpAllocation(
        address=str(attachment.address),
        prefix_length=attachment.node_range.prefixlen,
        gateway=str(attachment.gateway),
        cidr=str(attachment.node_range),
        node=attachment.node,
        container_id=attachment.container_id,
        ifname=attachment.ifname,
        pod=ipam_pb2.PodRef(
            k8s_namespace=attachment.pod.namespace,
            k8s_name=attachment.pod.name,
            k8s_uid=attachment.pod.uid,
        ),
    )


def _live_range_message(live: LiveRange, cluster_cidr: str, ttl: int) -> ipam_pb2.NodeRange:
    gateway = str(gateway_of(parse_network(live.cidr))) if live.cidr else ""
    return ipam_pb2.NodeRange(
        node=live.node,
        cidr=live.cidr,
        gateway=gateway,
        node_ip=live.node_ip,
        cluster_cidr=cluster_cidr,
        lease_ttl_seconds=ttl,
    )


def _node_info_message(node: NodeOverview) -> ipam_pb2.NodeInfo:
    lease = node.heartbeat
    return ipam_pb2.NodeInfo(
        node=node.node,
        cidr=node.record.cidr,
        node_ip=node.record.node_ip,
        live=lease is not None,
        lease_ttl_seconds=lease.ttl if lease else 0,
        lease_remaining_seconds=lease.remaining if lease else 0,
        quarantined=node.quarantined_since is not None,
        quarantined_since=node.quarantined_since or "",
        allocated=node.allocated,
    )


class IpamServicer(ipam_pb2_grpc.IpamServicer):
    def __init__(
        self,
        allocator: Allocator,
        store: EtcdStore,
        cluster_cidr: str,
        lease_ttl: int,
        metrics: IpamdMetrics,
        *,
        replica: ReplicaStatus | None = None,
        trust_domain: str | None = None,
    ) -> None:
        """trust_domain: callers' identities are checked against it; None when ipamd
        serves without TLS, where callers have no identity and every call is allowed."""
        self._metrics = metrics
        self._allocator = allocator
        self._store = store
        self._cluster_cidr = cluster_cidr
        self._lease_ttl = lease_ttl
        self._replica = replica
        self._trust_domain = trust_domain
        self._shutting_down = asyncio.Event()

    async def _require_admin(self, context: Context, method: str) -> None:
        """Aborts the call unless an admin identity makes it."""
        if self._trust_domain is None:
            return
        try:
            identity = peer_identity(context, self._trust_domain)
        except InvalidIdentity as error:
            log_event(log, "call_refused", logging.WARNING, method=method, error=error)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
        if identity.role is not Role.ADMIN:
            log_event(log, "call_refused", logging.WARNING, method=method, caller=str(identity))
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{method} is for admin identities; the caller is {identity}",
            )

    def end_streams(self) -> None:
        """Ends every open WatchNodeRanges stream (at shutdown: they never end by themselves).

        Clients see the stream end and resume from their last revision, here or elsewhere.
        """
        self._shutting_down.set()

    async def _answer(
        self, context: Context, method: str, operation: Awaitable[T], **fields: Any
    ) -> T:
        started = time.perf_counter()
        code = grpc.StatusCode.UNKNOWN  # unless the operation ends in a way named below
        try:
            result = await operation
            code = grpc.StatusCode.OK
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except IpamError as error:
            code = status_for(error)
            internal = code is grpc.StatusCode.INTERNAL
            log_event(
                log,
                "rpc_failed",
                logging.ERROR if internal else logging.INFO,
                method=method,
                code=code.name,
                reason=str(error),
                error=error if internal else None,
                **fields,
            )
            await context.abort(code, str(error))
        finally:
            self._metrics.rpcs.labels(method, code.name).inc()
            self._metrics.rpc_latency.labels(method).observe(time.perf_counter() - started)
        log_event(
            log,
            "rpc_done",
            logging.DEBUG,
            method=method,
            ms=round((time.perf_counter() - started) * 1e3, 2),
            **fields,
        )
        return result

    async def AcquireNodeRange(
        self, request: ipam_pb2.AcquireNodeRangeRequest, context: Context
    ) -> ipam_pb2.NodeRange:
        grant = await self._answer(
            context,
            "AcquireNodeRange",
            self._allocator.acquire_node_range(request.node, request.node_ip),
            node=request.node,
        )
        return _node_range_message(grant)

    async def RenewNodeRange(
        self, request: ipam_pb2.RenewNodeRangeRequest, context: Context
    ) -> ipam_pb2.NodeRange:
        grant = await self._answer(
            context,
            "RenewNodeRange",
            self._allocator.renew_node_range(request.node, request.cidr),
            node=request.node,
        )
        return _node_range_message(grant)

    async def AllocatePodIp(
        self, request: ipam_pb2.AllocatePodIpRequest, context: Context
    ) -> ipam_pb2.PodIpAllocation:
        pod = PodRef(request.pod.k8s_namespace, request.pod.k8s_name, request.pod.k8s_uid)
        attachment = await self._answer(
            context,
            "AllocatePodIp",
            self._allocator.allocate_pod_ip(
                request.node, request.cidr, request.container_id, request.ifname, pod
            ),
            node=request.node,
            container_id=request.container_id,
            ifname=request.ifname,
            pod=f"{pod.namespace}/{pod.name}",
        )
        return _allocation_message(attachment)

    async def ReleasePodIp(
        self, request: ipam_pb2.ReleasePodIpRequest, context: Context
    ) -> ipam_pb2.ReleasePodIpReply:
        released = await self._answer(
            context,
            "ReleasePodIp",
            self._allocator.release_pod_ip(
                request.node, request.container_id, request.ifname, request.address
            ),
            node=request.node,
            container_id=request.container_id,
            ifname=request.ifname,
        )
        if released is None:
            return ipam_pb2.ReleasePodIpReply(released=False)
        return ipam_pb2.ReleasePodIpReply(released=True, address=released.address)

    async def ListAllocations(
        self, request: ipam_pb2.ListAllocationsRequest, context: Context
    ) -> ipam_pb2.ListAllocationsReply:
        allocations = await self._answer(
            context,
            "ListAllocations",
            self._allocator.list_allocations(request.node),
            node=request.node,
        )
        return ipam_pb2.ListAllocationsReply(
            allocations=[_allocation_message(a) for a in allocations]
        )

    async def ListNodes(
        self, request: ipam_pb2.ListNodesRequest, context: Context
    ) -> ipam_pb2.ListNodesReply:
        await self._require_admin(context, "ListNodes")
        nodes = await self._answer(context, "ListNodes", self._store.node_overview())
        return ipam_pb2.ListNodesReply(
            nodes=[_node_info_message(node) for node in sorted(nodes, key=lambda n: n.node)],
            cluster_cidr=self._cluster_cidr,
        )

    async def GetStatus(
        self, request: ipam_pb2.GetIpamStatusRequest, context: Context
    ) -> ipam_pb2.IpamStatus:
        await self._require_admin(context, "GetStatus")
        status = ipam_pb2.IpamStatus(version=podnet_version(), cluster_cidr=self._cluster_cidr)
        if self._replica is not None:
            status.etcd_reachable = self._replica.etcd_reachable()
            status.etcd_endpoint = self._replica.etcd_endpoint()
        return status

    def _event_message(self, event: RangeEvent) -> ipam_pb2.NodeRangeEvent:
        def message(live: LiveRange) -> ipam_pb2.NodeRange:
            return _live_range_message(live, self._cluster_cidr, self._lease_ttl)

        if isinstance(event, RangeSnapshot):
            return ipam_pb2.NodeRangeEvent(
                snapshot=ipam_pb2.NodeRangeSnapshot(ranges=[message(r) for r in event.ranges]),
                revision=event.revision,
            )
        if isinstance(event, RangeAdded):
            return ipam_pb2.NodeRangeEvent(added=message(event.range), revision=event.revision)
        return ipam_pb2.NodeRangeEvent(removed=message(event.range), revision=event.revision)

    async def WatchNodeRanges(
        self, request: ipam_pb2.WatchNodeRangesRequest, context: Context
    ) -> AsyncIterator[ipam_pb2.NodeRangeEvent]:
        log_event(log, "range_watch_opened", resume_revision=request.resume_revision)
        # Headers now, so a resuming client knows the stream is up before any change.
        await context.send_initial_metadata(())
        events = aiter(live_range_events(self._store, request.resume_revision))
        shutdown = asyncio.ensure_future(self._shutting_down.wait())
        self._metrics.range_streams_open.inc()
        code = grpc.StatusCode.UNKNOWN
        try:
            while True:
                next_event = asyncio.ensure_future(anext(events))
                await asyncio.wait({next_event, shutdown}, return_when=asyncio.FIRST_COMPLETED)
                if not next_event.done():
                    next_event.cancel()
                    code = grpc.StatusCode.OK
                    return
                yield self._event_message(next_event.result())
        except (asyncio.CancelledError, GeneratorExit):
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            shutdown.cancel()
            self._metrics.range_streams_open.dec()
            self._metrics.rpcs.labels("WatchNodeRanges", code.name).inc()
