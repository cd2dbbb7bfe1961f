"""DEL: remove one pod's veth pair; succeeds whenever there is nothing left to remove."""

from __future__ import annotations

import asyncio
import logging
import os

from podnet.logs import log_event

from netagent.dataplane.config import DEFAULT_CONFIG, DataplaneConfig
from netagent.dataplane.errors import DataplaneTimeout, NetnsNotFound, NotANetns
from netagent.dataplane.namespaces import open_pod_netns
from netagent.dataplane.rtnl import node_rtnl, pod_rtnl

log = logging.getLogger(__name__)


async def detach(
    host_ifname: str,
    netns: str | os.PathLike[str] | None,
    ifname: str,
    config: DataplaneConfig = DEFAULT_CONFIG,
) -> bool:
    """Deletes the pair; True if something was deleted.

    The host veth is found by name, so the pod netns is not needed: deleting it
    takes the pod end and the pod's /32 route with it. Only when there is no
    host veth is ifname looked for in netns (skipped when either is empty). A
    missing, empty or non-netns path is not an error.
    """
    netns_path = os.fspath(netns) if netns else ""
    try:
        async with asyncio.timeout(config.netlink_timeout):
            async with node_rtnl() as node:
                deleted = await node.delete_link(host_ifname)
            if not deleted and netns and netns_path and ifname:
                deleted = await _delete_pod_interface(netns, ifname)
    except TimeoutError:
        raise DataplaneTimeout(
            f"detach {host_ifname} took longer than {config.netlink_timeout}s"
        ) from None
    log_event(
        log,
        "pod_detached" if deleted else "pod_already_detached",
        netns=netns_path,
        ifname=ifname,
        host_veth=host_ifname,
    )
    return deleted


async def _delete_pod_interface(netns: str | os.PathLike[str], ifname: str) -> bool:
    try:
        with open_pod_netns(netns) as netns_fd:
            async with pod_rtnl(netns_fd, os.fspath(netns)) as pod:
                return await pod.delete_link(ifname)
    except (NetnsNotFound, NotANetns):
        return False
