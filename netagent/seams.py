"""What the agent core needs from the kernel and from ipamd, as typing Protocols.

CniService, NodeRangeHolder, PeerRouteFollower and HostPortKeeper depend on these,
never on pyroute2, nft or gRPC directly. The real implementations are
netagent.dataplane.kernel.KernelDataplane and netagent.ipam_client.IpamClient (which
fits Ipam as it is); unit tests pass small in-memory ones. Importing this module
imports neither pyroute2 nor grpc: the value types are only named for type checking.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from ipaddress import IPv4Address, IPv4Network
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from podnet.v1 import ipam_pb2

    from netagent.dataplane.host_port_rules import HostPortRule
    from netagent.dataplane.model import AttachedVethPair, HostVeth, PodNetworkSpec
    from netagent.dataplane.route_diff import RouteDiff
    from netagent.ipam_client import NodeRange, PeerRangeEvent, PodAddress


# --- the kernel side -------------------------------------------------------------------


class PodAttacher(Protocol):
    """A pod netns opened for one attach, its refusals already made."""

    async def attach(self, spec: PodNetworkSpec) -> AttachedVethPair: ...


class PodLinks(Protocol):
    """The pods' veth pairs in the node namespace and in the pods' namespaces."""

    def prepared_attach(
        self, netns: os.PathLike[str], ifname: str
    ) -> AbstractAsyncContextManager[PodAttacher]: ...

    async def detach(
        self, host_ifname: str, netns: os.PathLike[str] | None, ifname: str
    ) -> bool: ...

    async def verify(self, spec: PodNetworkSpec, expected_pod_mac: str | None) -> None: ...

    async def list_host_veths(self) -> list[HostVeth]: ...


class HostPortTable(Protocol):
    """The node's host port mappings (DNAT map elements)."""

    async def ensure_host_port_table(self) -> None: ...

    async def list_host_ports(self) -> list[HostPortRule]: ...

    async def add_host_ports(self, rules: Sequence[HostPortRule]) -> None: ...

    async def remove_host_ports(self, rules: Sequence[HostPortRule]) -> None: ...


class NodeNetworking(Protocol):
    """Node-wide settings: forwarding, masquerade, routes to peer ranges."""

    async def enable_ipv4_forwarding(self) -> None: ...

    async def apply_masquerade(
        self, cluster_cidr: IPv4Network, pod_range: IPv4Network | None, enabled: bool
    ) -> None: ...

    async def sync_peer_routes(self, desired: Mapping[IPv4Network, IPv4Address]) -> RouteDiff: ...


class Dataplane(PodLinks, HostPortTable, NodeNetworking, Protocol):
    """Everything the agent does to the kernel."""


# --- the ipamd side --------------------------------------------------------------------


class RangeLeases(Protocol):
    """The node's pod range lease."""

    async def acquire_range(self, node: str, node_ip: str) -> NodeRange: ...

    async def renew_range(self, node: str, cidr: IPv4Network) -> NodeRange: ...


class PodAddresses(Protocol):
    """Pod IP allocations of this node."""

    async def allocate(
        self, node_range: NodeRange, container_id: str, ifname: str, pod: ipam_pb2.PodRef
    ) -> PodAddress: ...

    async def release(self, node: str, container_id: str, ifname: str) -> str | None: ...

    async def list_allocations(self, node: str) -> list[PodAddress]: ...


class RangeWatch(Protocol):
    """The stream of live node ranges (the peers to route to)."""

    def watch_ranges(
        self, resume_revision: int, on_open: Callable[[], None]
    ) -> AsyncIterator[PeerRangeEvent]: ...


class Ipam(RangeLeases, PodAddresses, RangeWatch, Protocol):
    """Everything the agent asks of ipamd; each call raises netagent.errors' Ipam* errors."""

    async def close(self) -> None: ...
