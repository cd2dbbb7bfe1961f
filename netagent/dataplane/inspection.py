"""What exists of one attachment, read from both namespaces (for CNI CHECK)."""

from __future__ import annotations

import asyncio
import os

from netagent.dataplane.attachment_check import attachment_problems
from netagent.dataplane.config import DEFAULT_CONFIG, DataplaneConfig
from netagent.dataplane.errors import AttachmentMismatch, DataplaneTimeout
from netagent.dataplane.model import (
    InterfaceState,
    ObservedAttachment,
    PodNetworkSpec,
    RouteState,
)
from netagent.dataplane.namespaces import open_pod_netns
from netagent.dataplane.rtnl import Rtnl, node_rtnl, pod_rtnl


async def _interface_and_routes(
    rtnl: Rtnl, name: str
) -> tuple[InterfaceState | None, tuple[RouteState, ...]]:
    link = await rtnl.link(name)
    if link is None:
        return None, ()
    addresses = (await rtnl.addresses()).get(link.index, ())
    routes = tuple(route for route in await rtnl.routes() if route.device == name)
    state = InterfaceState(
        name=link.name,
        index=link.index,
        mac=link.mac,
        mtu=link.mtu,
        up=link.up,
        kind=link.kind,
        peer_index=link.peer_index,
        addresses=addresses,
    )
    return state, routes


async def inspect_attachment(
    host_ifname: str,
    netns: str | os.PathLike[str],
    ifname: str,
    config: DataplaneConfig = DEFAULT_CONFIG,
) -> ObservedAttachment:
    """Raises NetnsNotFound / NotANetns when the pod netns is gone or wrong."""
    netns_path = os.fspath(netns)
    with open_pod_netns(netns) as netns_fd:
        try:
            async with asyncio.timeout(config.netlink_timeout):
                async with node_rtnl() as node, pod_rtnl(netns_fd, netns_path) as pod:
                    pod_interface, pod_routes = await _interface_and_routes(pod, ifname)
                    host_interface, host_routes = await _interface_and_routes(node, host_ifname)
        except TimeoutError:
            raise DataplaneTimeout(
                f"inspecting {ifname} in {netns_path} took longer than {config.netlink_timeout}s"
            ) from None
    return ObservedAttachment(
        pod_interface=pod_interface,
        pod_routes=pod_routes,
        host_veth=host_interface,
        host_routes=host_routes,
    )


async def verify(
    spec: PodNetworkSpec,
    expected_pod_mac: str | None = None,
    config: DataplaneConfig = DEFAULT_CONFIG,
) -> None:
    """CNI CHECK: raises AttachmentMismatch naming every difference from spec's layout."""
    observed = await inspect_attachment(spec.host_ifname, spec.netns, spec.ifname, config)
    problems = attachment_problems(spec, observed, expected_pod_mac)
    if problems:
        raise AttachmentMismatch(problems)
