"""The real Dataplane (netagent.seams): this package's functions, with one DataplaneConfig."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from ipaddress import IPv4Address, IPv4Network

from netagent.dataplane.attach import PodAttacher, prepared_attach
from netagent.dataplane.config import DataplaneConfig
from netagent.dataplane.detach import detach
from netagent.dataplane.host_port_rules import HostPortRule
from netagent.dataplane.host_port_table import (
    add_host_ports,
    ensure_host_port_table,
    list_host_ports,
    remove_host_ports,
)
from netagent.dataplane.host_veths import list_host_veths
from netagent.dataplane.inspection import verify
from netagent.dataplane.masquerade import apply_masquerade
from netagent.dataplane.model import HostVeth, PodNetworkSpec
from netagent.dataplane.node_settings import enable_ipv4_forwarding
from netagent.dataplane.peer_route_sync import sync_peer_routes
from netagent.dataplane.route_diff import RouteDiff


class KernelDataplane:
    def __init__(self, config: DataplaneConfig) -> None:
        self.config = config

    def prepared_attach(
        self, netns: os.PathLike[str], ifname: str
    ) -> AbstractAsyncContextManager[PodAttacher]:
        return prepared_attach(netns, ifname, self.config)

    async def detach(self, host_ifname: str, netns: os.PathLike[str] | None, ifname: str) -> bool:
        return await detach(host_ifname, netns, ifname, self.config)

    async def verify(self, spec: PodNetworkSpec, expected_pod_mac: str | None) -> None:
        await verify(spec, expected_pod_mac, self.config)

    async def list_host_veths(self) -> list[HostVeth]:
        return await list_host_veths(self.config)

    async def ensure_host_port_table(self) -> None:
        await ensure_host_port_table(self.config)

    async def list_host_ports(self) -> list[HostPortRule]:
        return await list_host_ports(self.config)

    async def add_host_ports(self, rules: Sequence[HostPortRule]) -> None:
        await add_host_ports(rules, self.config)

    async def remove_host_ports(self, rules: Sequence[HostPortRule]) -> None:
        await remove_host_ports(rules, self.config)

    async def enable_ipv4_forwarding(self) -> None:
        await enable_ipv4_forwarding()

    async def apply_masquerade(
        self, cluster_cidr: IPv4Network, pod_range: IPv4Network | None, enabled: bool
    ) -> None:
        await apply_masquerade(cluster_cidr, pod_range, enabled, self.config)

    async def sync_peer_routes(self, desired: Mapping[IPv4Network, IPv4Address]) -> RouteDiff:
        return await sync_peer_routes(desired, self.config)
