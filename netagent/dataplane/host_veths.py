"""The podnet host veths present in the node namespace (for reconcile and GC)."""

from __future__ import annotations

import asyncio

from netagent.dataplane.config import DEFAULT_CONFIG, DataplaneConfig
from netagent.dataplane.errors import DataplaneTimeout
from netagent.dataplane.model import HostVeth
from netagent.dataplane.naming import is_podnet_alias, parse_host_veth_alias
from netagent.dataplane.rtnl import node_rtnl

_HOST_ROUTE_PREFIXLEN = 32


async def list_host_veths(config: DataplaneConfig = DEFAULT_CONFIG) -> list[HostVeth]:
    """Veths carrying podnet's ifalias, with the pod IPs routed through each."""
    try:
        async with asyncio.timeout(config.netlink_timeout), node_rtnl() as node:
            links = await node.links()
            routes = await node.routes()
    except TimeoutError:
        raise DataplaneTimeout(
            f"listing host veths took longer than {config.netlink_timeout}s"
        ) from None
    found = []
    for link in links:
        if not is_podnet_alias(link.alias) or link.kind != "veth":
            continue
        container_id, ifname = parse_host_veth_alias(link.alias) or (None, None)
        pod_ips = tuple(
            route.dst.network_address
            for route in routes
            if route.device == link.name and route.dst.prefixlen == _HOST_ROUTE_PREFIXLEN
        )
        found.append(
            HostVeth(
                name=link.name,
                index=link.index,
                mac=link.mac,
                container_id=container_id,
                ifname=ifname,
                pod_ips=pod_ips,
            )
        )
    return sorted(found, key=lambda veth: veth.name)
