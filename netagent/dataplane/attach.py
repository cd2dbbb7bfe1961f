"""ADD: build one pod's veth pair in the reference ptp layout, all or nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from ipaddress import IPv4Interface, IPv4Network

from podnet.logs import log_event

from netagent.dataplane.config import DEFAULT_CONFIG, DataplaneConfig
from netagent.dataplane.errors import (
    DataplaneError,
    DataplaneTimeout,
    InterfaceExists,
    NetlinkOperationFailed,
)
from netagent.dataplane.model import (
    SCOPE_HOST,
    SCOPE_LINK,
    SCOPE_UNIVERSE,
    AttachedVethPair,
    PodNetworkSpec,
)
from netagent.dataplane.namespaces import open_pod_netns
from netagent.dataplane.rtnl import (
    PROTO_BOOT,
    LinkInfo,
    Rtnl,
    node_rtnl,
    pod_rtnl,
)

log = logging.getLogger(__name__)

_DEFAULT_ROUTE = IPv4Network("0.0.0.0/0")


class PodAttacher:
    """Node and pod sockets opened once for one ADD: refusals checked, then attach()."""

    def __init__(
        self, netns_path: str, netns_fd: int, node: Rtnl, pod: Rtnl, config: DataplaneConfig
    ) -> None:
        self._netns_path = netns_path
        self._netns_fd = netns_fd
        self._node = node
        self._pod = pod
        self._config = config

    async def attach(self, spec: PodNetworkSpec) -> AttachedVethPair:
        """Creates the veth pair and configures both ends.

        Raises InterfaceExists (nothing changed) when the host veth exists; any other
        failure deletes the veth pair before raising.
        """
        config = self._config
        phase = "checking"
        try:
            async with asyncio.timeout(config.netlink_timeout):
                if await self._node.link(spec.host_ifname) is not None:
                    raise InterfaceExists(spec.host_ifname, "the node netns")
                phase = "creating"
                await self._node.create_veth(
                    spec.host_ifname, spec.ifname, self._netns_fd, spec.mtu
                )
                phase = "configuring"
                attachment = await _configure(spec, self._node, self._pod)
        except BaseException as error:
            # A refused creation made nothing; an interrupted one may have.
            refused = phase == "creating" and isinstance(error, NetlinkOperationFailed)
            if phase == "configuring" or (phase == "creating" and not refused):
                await _undo(spec, config, error)
            if isinstance(error, TimeoutError):
                raise DataplaneTimeout(
                    f"attach {spec.host_ifname} took longer than {config.netlink_timeout}s"
                ) from None
            raise
        log_event(
            log,
            "pod_attached",
            container_id=spec.container_id,
            netns=self._netns_path,
            ifname=spec.ifname,
            host_veth=spec.host_ifname,
            pod_address=str(spec.address),
        )
        return attachment


@contextlib.asynccontextmanager
async def prepared_attach(
    netns: str | os.PathLike[str], ifname: str, config: DataplaneConfig = DEFAULT_CONFIG
) -> AsyncIterator[PodAttacher]:
    """Opens the pod netns once and makes attach()'s refusals before anything is spent
    (e.g. an address allocated): NetnsNotFound, NotANetns, InterfaceExists for ifname.
    """
    path = os.fspath(netns)
    with open_pod_netns(netns) as netns_fd:
        async with node_rtnl() as node, pod_rtnl(netns_fd, path) as pod:
            try:
                async with asyncio.timeout(config.netlink_timeout):
                    if await pod.link(ifname) is not None:
                        raise InterfaceExists(ifname, f"netns {path}")
            except TimeoutError:
                raise DataplaneTimeout(f"looking for {ifname} in {path} timed out") from None
            yield PodAttacher(path, netns_fd, node, pod, config)


async def attach(
    spec: PodNetworkSpec, config: DataplaneConfig = DEFAULT_CONFIG
) -> AttachedVethPair:
    """Creates the veth pair and configures both ends (see PodAttacher.attach)."""
    async with prepared_attach(spec.netns, spec.ifname, config) as attacher:
        return await attacher.attach(spec)


async def _required_link(rtnl: Rtnl, name: str) -> LinkInfo:
    link = await rtnl.link(name)
    if link is None:
        raise DataplaneError(f"{name} vanished from {rtnl.where} while being configured")
    return link


async def _configure(spec: PodNetworkSpec, node: Rtnl, pod: Rtnl) -> AttachedVethPair:
    pod_link = await _required_link(pod, spec.ifname)
    host_link = await _required_link(node, spec.host_ifname)
    pod_ip = spec.pod_ip
    gateway = spec.gateway

    # Pod side. The address gets no prefix route: the range is reached via the
    # gateway, and the gateway through a link-scope host route, as ptp leaves it.
    await pod.set_up(pod_link.index)
    await pod.add_address(pod_link.index, spec.address, prefix_route=False)
    await pod.add_route(
        IPv4Network(gateway),
        device_index=pod_link.index,
        scope=SCOPE_LINK,
        prefsrc=pod_ip,
        protocol=PROTO_BOOT,
    )
    await pod.add_route(
        spec.pod_range,
        device_index=pod_link.index,
        gateway=gateway,
        prefsrc=pod_ip,
        scope=SCOPE_UNIVERSE,
        protocol=PROTO_BOOT,
    )
    await pod.add_route(
        _DEFAULT_ROUTE,
        device_index=pod_link.index,
        gateway=gateway,
        scope=SCOPE_UNIVERSE,
        protocol=PROTO_BOOT,
    )

    # Node side. The pod IP is ipamd's to give: a stale /32 left by a dead pod
    # is taken over, not failed on.
    await node.set_up(host_link.index, alias=spec.host_alias)
    await node.add_address(host_link.index, IPv4Interface(gateway), prefix_route=True)
    await node.add_route(
        IPv4Network(pod_ip),
        device_index=host_link.index,
        scope=SCOPE_HOST,
        protocol=PROTO_BOOT,
        replace=True,
    )
    return AttachedVethPair(
        host_ifname=host_link.name,
        host_mac=host_link.mac,
        pod_ifname=pod_link.name,
        pod_mac=pod_link.mac,
        sandbox=str(spec.netns),
        mtu=pod_link.mtu,
    )


async def _undo(spec: PodNetworkSpec, config: DataplaneConfig, cause: BaseException) -> None:
    """Deletes the pair (the host end takes the peer and the /32 route with it)."""
    try:
        async with asyncio.timeout(config.undo_timeout), node_rtnl() as node:
            await node.delete_link(spec.host_ifname)
    except (DataplaneError, TimeoutError, OSError) as error:
        log_event(
            log,
            "attach_undo_failed",
            logging.ERROR,
            host_veth=spec.host_ifname,
            cause=repr(cause),
            error=error,
        )
    else:
        log_event(
            log,
            "attach_undone",
            logging.WARNING,
            host_veth=spec.host_ifname,
            netns=str(spec.netns),
            cause=repr(cause),
        )
