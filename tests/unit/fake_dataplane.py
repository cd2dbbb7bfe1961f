"""An in-memory Dataplane (netagent.seams): veths, host ports, routes as plain sets.

It keeps the few rules the agent relies on (attach refuses a missing netns or an
existing pod interface, a host port is held once per node, detach is idempotent) and
records every call. `fail` makes an operation raise, for as long as it is set;
`fail_detach` the detach of one veth.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

from netagent.dataplane.errors import (
    AttachmentMismatch,
    HostPortTaken,
    InterfaceExists,
    NetnsNotFound,
)
from netagent.dataplane.host_port_rules import HostPortRule
from netagent.dataplane.model import AttachedVethPair, HostVeth, PodNetworkSpec
from netagent.dataplane.naming import host_veth_name
from netagent.dataplane.route_diff import PeerRoute, RouteDiff, diff_peer_routes

OUTSIDE_ANY_RANGE = IPv4Interface("10.99.0.2/24")


@dataclass(frozen=True)
class Veth:
    container_id: str
    ifname: str
    netns: Path
    address: IPv4Interface


@dataclass
class FakeDataplane:
    netns: set[Path] = field(default_factory=set)
    veths: dict[str, Veth] = field(default_factory=dict)
    host_ports: set[HostPortRule] = field(default_factory=set)
    peer_routes: dict[IPv4Network, IPv4Address] = field(default_factory=dict)
    masquerade: tuple[IPv4Network, IPv4Network | None, bool] | None = None
    forwarding: bool = False
    calls: list[tuple[str, object]] = field(default_factory=list)
    fail: dict[str, BaseException] = field(default_factory=dict)
    fail_detach: dict[str, BaseException] = field(default_factory=dict)

    def add_netns(self, path: str) -> str:
        self.netns.add(Path(path))
        return path

    def add_veth(self, container_id: str, address: IPv4Interface = OUTSIDE_ANY_RANGE) -> str:
        """A veth (ifname eth0) the agent made before it was restarted."""
        name = host_veth_name(container_id, "eth0")
        self.veths[name] = Veth(container_id, "eth0", Path(f"/run/netns/{container_id}"), address)
        return name

    def calls_to(self, operation: str) -> list[object]:
        return [argument for name, argument in self.calls if name == operation]

    def _enter(self, operation: str, argument: object) -> None:
        self.calls.append((operation, argument))
        error = self.fail.get(operation)
        if error is not None:
            raise error

    # --- PodLinks -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def prepared_attach(
        self, pod_netns: os.PathLike[str], ifname: str
    ) -> AsyncIterator[FakeAttacher]:
        netns = Path(os.fspath(pod_netns))
        self._enter("prepared_attach", (netns, ifname))
        if netns not in self.netns:
            raise NetnsNotFound(str(netns))
        if any(v.netns == netns and v.ifname == ifname for v in self.veths.values()):
            raise InterfaceExists(ifname, f"netns {netns}")
        yield FakeAttacher(self)

    async def detach(self, host_ifname: str, netns: os.PathLike[str] | None, ifname: str) -> bool:
        self._enter("detach", host_ifname)
        if host_ifname in self.fail_detach:
            raise self.fail_detach[host_ifname]
        return self.veths.pop(host_ifname, None) is not None

    async def verify(self, spec: PodNetworkSpec, expected_pod_mac: str | None) -> None:
        self._enter("verify", spec.host_ifname)
        veth = self.veths.get(spec.host_ifname)
        if veth is None or veth.address != spec.address:
            raise AttachmentMismatch([f"{spec.host_ifname} is missing or has another address"])

    async def list_host_veths(self) -> list[HostVeth]:
        self._enter("list_host_veths", None)
        return [
            HostVeth(name, 0, "", v.container_id, v.ifname, (v.address.ip,))
            for name, v in sorted(self.veths.items())
        ]

    # --- HostPortTable --------------------------------------------------------------

    async def ensure_host_port_table(self) -> None:
        self._enter("ensure_host_port_table", None)

    async def list_host_ports(self) -> list[HostPortRule]:
        self._enter("list_host_ports", None)
        return sorted(self.host_ports)

    async def add_host_ports(self, rules: Sequence[HostPortRule]) -> None:
        self._enter("add_host_ports", tuple(rules))
        held = {(r.protocol, r.host_port, r.host_ip) for r in self.host_ports}
        taken = [
            f"{r.protocol}/{r.host_port}"
            for r in rules
            if (r.protocol, r.host_port, r.host_ip) in held
        ]
        if taken:
            raise HostPortTaken(taken)
        self.host_ports.update(rules)

    async def remove_host_ports(self, rules: Sequence[HostPortRule]) -> None:
        self._enter("remove_host_ports", tuple(rules))
        self.host_ports.difference_update(rules)

    # --- NodeNetworking -------------------------------------------------------------

    async def enable_ipv4_forwarding(self) -> None:
        self._enter("enable_ipv4_forwarding", None)
        self.forwarding = True

    async def apply_masquerade(
        self, cluster_cidr: IPv4Network, pod_range: IPv4Network | None, enabled: bool
    ) -> None:
        self._enter("apply_masquerade", (cluster_cidr, pod_range, enabled))
        self.masquerade = (cluster_cidr, pod_range, enabled)

    async def sync_peer_routes(self, desired: Mapping[IPv4Network, IPv4Address]) -> RouteDiff:
        self._enter("sync_peer_routes", dict(desired))
        actual = [PeerRoute(dst, via) for dst, via in self.peer_routes.items()]
        diff = diff_peer_routes(desired, actual)
        self.peer_routes = dict(desired)
        return diff


class FakeAttacher:
    def __init__(self, dataplane: FakeDataplane) -> None:
        self._dataplane = dataplane

    async def attach(self, spec: PodNetworkSpec) -> AttachedVethPair:
        # A failed attach undoes its own partial work (as PodAttacher does): nothing stays.
        self._dataplane._enter("attach", spec.host_ifname)
        self._dataplane.veths[spec.host_ifname] = Veth(
            spec.container_id, spec.ifname, Path(os.fspath(spec.netns)), spec.address
        )
        return AttachedVethPair(
            host_ifname=spec.host_ifname,
            host_mac="02:00:00:00:00:01",
            pod_ifname=spec.ifname,
            pod_mac="02:00:00:00:00:02",
            sandbox=str(spec.netns),
            mtu=spec.mtu,
        )
