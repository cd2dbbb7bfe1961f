"""podnetctl's gRPC calls: to ipamd (the first replica that answers) and to each node's
agent admin service (mutual TLS with the operator's admin certificate)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from podnet.tls.files import TlsMaterial, load_material
from podnet.tls.grpc_credentials import channel_credentials
from podnet.v1 import agent_admin_pb2, agent_admin_pb2_grpc, ipam_pb2, ipam_pb2_grpc

from podnetctl.cluster.config import ClusterConfig
from podnetctl.cluster.model import Allocation, AttachedInterface, NodeView
from podnetctl.errors import CommandError

T = TypeVar("T")

# An unreachable peer: try the next ipamd replica; for an agent, its node is unchecked.
_UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


class Unreachable(CommandError):
    """No answer from a component (down, refused, timed out, refused our certificate)."""


def describe(error: grpc.aio.AioRpcError) -> str:
    details = " ".join((error.details() or "").split())
    return f"{error.code().name}: {details}" if details else error.code().name


@dataclass(frozen=True)
class HealthView:
    endpoint: str
    health: str  # SERVING, NOT_SERVING, ... or UNREACHABLE
    error: str = ""


@dataclass(frozen=True)
class IpamdStatusView:
    endpoint: str
    health: str
    version: str = ""
    etcd_reachable: bool = False
    etcd_endpoint: str = ""
    error: str = ""


@dataclass(frozen=True)
class AgentStatusView:
    name: str
    endpoint: str
    health: str
    node: str = ""
    version: str = ""
    cidr: str = ""
    fenced: bool = False
    serving_adds: bool = False
    ipamd_connected: bool = False
    ready: bool = False
    readiness: str = ""
    error: str = ""


def _allocation(message: ipam_pb2.PodIpAllocation) -> Allocation:
    return Allocation(
        address=message.address,
        node=message.node,
        container_id=message.container_id,
        ifname=message.ifname,
        pod_namespace=message.pod.k8s_namespace,
        pod_name=message.pod.k8s_name,
    )


def _node(message: ipam_pb2.NodeInfo) -> NodeView:
    return NodeView(
        name=message.node,
        cidr=message.cidr,
        node_ip=message.node_ip,
        live=message.live,
        lease_ttl_seconds=message.lease_ttl_seconds,
        lease_remaining_seconds=message.lease_remaining_seconds,
        quarantined=message.quarantined,
        quarantined_since=message.quarantined_since,
        allocated=message.allocated,
    )


def _attached(node: str, message: agent_admin_pb2.Attachment) -> AttachedInterface:
    since = ""
    if message.HasField("since"):
        since = message.since.ToDatetime().isoformat(timespec="seconds") + "Z"
    return AttachedInterface(
        node=node,
        container_id=message.container_id,
        ifname=message.ifname,
        addresses=tuple(message.addresses),
        host_veth=message.host_veth,
        pod_netns=message.pod_netns,
        since=since,
    )


class Cluster:
    """Channels made on first use, closed by close()."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self._material: TlsMaterial | None = (
            load_material(config.tls) if config.tls is not None else None
        )
        self._channels: dict[str, grpc.aio.Channel] = {}

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(None)
        self._channels.clear()

    def _channel(self, endpoint: str, secure: bool) -> grpc.aio.Channel:
        key = f"{'tls' if secure else 'plain'}:{endpoint}"
        channel = self._channels.get(key)
        if channel is None:
            if secure:
                assert self._material is not None
                credentials = channel_credentials(self._material)
                channel = grpc.aio.secure_channel(endpoint, credentials)
            else:
                channel = grpc.aio.insecure_channel(endpoint)
            self._channels[key] = channel
        return channel

    def _ipamd_channel(self, endpoint: str) -> grpc.aio.Channel:
        secure = self._material is not None and not self.config.ipamd_insecure_plaintext
        return self._channel(endpoint, secure)

    def _agent_channel(self, name: str) -> tuple[str, grpc.aio.Channel]:
        endpoint = self.config.agents.get(name)
        if endpoint is None:
            raise Unreachable(f"no address for the agent of node {name} (--agent {name}=HOST:PORT)")
        self.config.require_agent_tls()
        return endpoint, self._channel(endpoint, secure=True)

    # --- ipamd ------------------------------------------------------------------------

    async def _ipamd(self, call: Callable[[ipam_pb2_grpc.IpamAsyncStub], Awaitable[T]]) -> T:
        """call on the first replica that answers, in the order configured."""
        failures = []
        for endpoint in self.config.require_ipamd():
            stub = ipam_pb2_grpc.IpamStub(self._ipamd_channel(endpoint))
            try:
                return await call(stub)
            except grpc.aio.AioRpcError as error:
                if error.code() not in _UNREACHABLE:
                    raise CommandError(f"ipamd {endpoint}: {describe(error)}") from None
                failures.append(f"{endpoint}: {describe(error)}")
        raise Unreachable(f"no ipamd replica answered ({'; '.join(failures)})")

    async def nodes(self) -> list[NodeView]:
        timeout = self.config.timeout
        reply = await self._ipamd(
            lambda stub: stub.ListNodes(ipam_pb2.ListNodesRequest(), timeout=timeout)
        )
        return [_node(message) for message in reply.nodes]

    async def allocations(self, nodes: Sequence[str]) -> list[Allocation]:
        timeout = self.config.timeout

        async def of(node: str) -> list[Allocation]:
            reply = await self._ipamd(
                lambda stub: stub.ListAllocations(
                    ipam_pb2.ListAllocationsRequest(node=node), timeout=timeout
                )
            )
            return [_allocation(message) for message in reply.allocations]

        per_node = await asyncio.gather(*(of(node) for node in nodes))
        return [allocation for allocations in per_node for allocation in allocations]

    async def release(self, allocation: Allocation) -> ipam_pb2.ReleasePodIpReply:
        request = ipam_pb2.ReleasePodIpRequest(
            node=allocation.node,
            container_id=allocation.container_id,
            ifname=allocation.ifname,
            address=allocation.address,
        )
        timeout = self.config.timeout
        reply: ipam_pb2.ReleasePodIpReply = await self._ipamd(
            lambda stub: stub.ReleasePodIp(request, timeout=timeout)
        )
        return reply

    async def _health(self, channel: grpc.aio.Channel, endpoint: str) -> HealthView:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=self.config.timeout
            )
        except grpc.aio.AioRpcError as error:
            return HealthView(endpoint, "UNREACHABLE", describe(error))
        return HealthView(endpoint, health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))

    async def ipamd_status(self, endpoint: str) -> IpamdStatusView:
        channel = self._ipamd_channel(endpoint)
        health = await self._health(channel, endpoint)
        if health.error:
            return IpamdStatusView(endpoint, health.health, error=health.error)
        try:
            status = await ipam_pb2_grpc.IpamStub(channel).GetStatus(
                ipam_pb2.GetIpamStatusRequest(), timeout=self.config.timeout
            )
        except grpc.aio.AioRpcError as error:
            return IpamdStatusView(endpoint, health.health, error=describe(error))
        return IpamdStatusView(
            endpoint,
            health.health,
            version=status.version,
            etcd_reachable=status.etcd_reachable,
            etcd_endpoint=status.etcd_endpoint,
        )

    # --- agents -----------------------------------------------------------------------

    async def attachments(self, name: str) -> list[AttachedInterface]:
        """What the agent of node name reports wired; Unreachable when it cannot say."""
        endpoint, channel = self._agent_channel(name)
        try:
            reply = await agent_admin_pb2_grpc.AgentAdminStub(channel).ListAttachments(
                agent_admin_pb2.ListAttachmentsRequest(), timeout=self.config.timeout
            )
        except grpc.aio.AioRpcError as error:
            raise Unreachable(f"agent {name} at {endpoint}: {describe(error)}") from None
        if reply.node != name:
            raise Unreachable(
                f"agent at {endpoint} is node {reply.node!r}, not {name!r}: check --agent"
            )
        return [_attached(name, message) for message in reply.attachments]

    async def agent_status(self, name: str) -> AgentStatusView:
        try:
            endpoint, channel = self._agent_channel(name)
        except CommandError as error:
            return AgentStatusView(
                name, self.config.agents.get(name, ""), "UNKNOWN", error=str(error)
            )
        health = await self._health(channel, endpoint)
        if health.error:
            return AgentStatusView(name, endpoint, health.health, error=health.error)
        try:
            status = await agent_admin_pb2_grpc.AgentAdminStub(channel).GetStatus(
                agent_admin_pb2.GetAgentStatusRequest(), timeout=self.config.timeout
            )
        except grpc.aio.AioRpcError as error:
            return AgentStatusView(name, endpoint, health.health, error=describe(error))
        return AgentStatusView(
            name,
            endpoint,
            health.health,
            node=status.node,
            version=status.version,
            cidr=status.cidr,
            fenced=status.fenced,
            serving_adds=status.serving_adds,
            ipamd_connected=status.ipamd_connected,
            ready=status.ready,
            readiness=status.readiness,
            error="" if status.node == name else f"answers as node {status.node!r}",
        )
