"""Inputs and outputs of the dataplane: what to build and what was found."""

from __future__ import annotations

import os
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from netagent.dataplane.errors import InvalidPodNetworkSpec
from netagent.dataplane.naming import host_veth_alias
from netagent.mtu import MAX_MTU, MIN_MTU

# rtm_scope values (RT_SCOPE_*)
SCOPE_UNIVERSE = 0
SCOPE_LINK = 253
SCOPE_HOST = 254

MAX_IFNAME_BYTES = 15


@dataclass(frozen=True)
class PodNetworkSpec:
    """One pod interface to attach, in the reference ptp layout."""

    netns: os.PathLike[str]
    """The pod's network namespace: /run/netns/x, /proc/<pid>/ns/net, ... (a NetnsPath
    to resolve it as the calling runtime sees it)."""
    ifname: str
    host_ifname: str
    """Node-side veth name, normally host_veth_name(container_id, ifname)."""
    address: IPv4Interface
    """Pod IP with the range's prefix length, e.g. 10.244.1.2/24."""
    gateway: IPv4Address
    pod_range: IPv4Network
    mtu: int
    container_id: str = ""
    """Recorded in the host veth's ifalias for operators and list_host_veths()."""

    def __post_init__(self) -> None:
        problems = []
        for name in (self.ifname, self.host_ifname):
            if not name or len(name.encode()) > MAX_IFNAME_BYTES:
                problems.append(f"interface name {name!r} is empty or longer than 15 bytes")
        if not MIN_MTU <= self.mtu <= MAX_MTU:
            problems.append(f"mtu {self.mtu} outside {MIN_MTU}..{MAX_MTU}")
        if self.address.network != self.pod_range:
            problems.append(f"pod address {self.address} is not in range {self.pod_range}")
        if self.gateway not in self.pod_range:
            problems.append(f"gateway {self.gateway} is not in range {self.pod_range}")
        if self.gateway == self.address.ip:
            problems.append(f"gateway and pod address are both {self.gateway}")
        if problems:
            raise InvalidPodNetworkSpec("; ".join(problems))

    @property
    def host_alias(self) -> str:
        return host_veth_alias(self.container_id, self.ifname)

    @property
    def pod_ip(self) -> IPv4Address:
        return self.address.ip


@dataclass(frozen=True)
class AttachedVethPair:
    """What attach() built: the two interfaces of the veth pair (CNI result material)."""

    host_ifname: str
    host_mac: str
    pod_ifname: str
    pod_mac: str
    sandbox: str
    mtu: int
    """As the kernel reports it on the pod interface."""


@dataclass(frozen=True)
class InterfaceState:
    name: str
    index: int
    mac: str
    mtu: int
    up: bool
    kind: str | None
    peer_index: int | None
    """IFLA_LINK: for a veth, the peer's ifindex (in the peer's namespace)."""
    addresses: tuple[IPv4Interface, ...]


@dataclass(frozen=True)
class RouteState:
    """An IPv4 route of the main table, as the kernel reports it."""

    dst: IPv4Network
    gateway: IPv4Address | None
    device: str | None
    prefsrc: IPv4Address | None
    scope: int
    protocol: int


@dataclass(frozen=True)
class ObservedAttachment:
    """What exists of one attachment; None/empty where nothing was found."""

    pod_interface: InterfaceState | None
    pod_routes: tuple[RouteState, ...]
    """Main-table routes through the pod interface."""
    host_veth: InterfaceState | None
    host_routes: tuple[RouteState, ...]
    """Main-table routes through the host veth."""


@dataclass(frozen=True)
class HostVeth:
    """A podnet host veth in the node namespace."""

    name: str
    index: int
    mac: str
    container_id: str | None
    ifname: str | None
    """The attachment named in the ifalias; None when it names none."""
    pod_ips: tuple[IPv4Address, ...]
    """Destinations of the /32 routes through this veth."""
