"""Routes to other nodes' pod ranges, reconciled in the node namespace.

Only routes carrying podnet's rtm_protocol are ever listed, changed or deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Network

from podnet.logs import log_event

from netagent.dataplane.config import DEFAULT_CONFIG, DataplaneConfig
from netagent.dataplane.errors import DataplaneTimeout, NetlinkOperationFailed, PeerRouteSyncFailed
from netagent.dataplane.model import SCOPE_UNIVERSE
from netagent.dataplane.route_diff import PeerRoute, RouteDiff, diff_peer_routes
from netagent.dataplane.rtnl import Rtnl, node_rtnl

log = logging.getLogger(__name__)


async def podnet_peer_routes(node: Rtnl, protocol: int) -> list[PeerRoute]:
    return [
        PeerRoute(route.dst, route.gateway)
        for route in await node.routes()
        if route.protocol == protocol
    ]


async def sync_peer_routes(
    desired: Mapping[IPv4Network, IPv4Address], config: DataplaneConfig = DEFAULT_CONFIG
) -> RouteDiff:
    """Makes podnet's peer routes equal desired; returns the changes it made.

    Keeps going past individual failures (e.g. an unreachable next hop) and
    raises PeerRouteSyncFailed listing them at the end; a later call retries.
    """
    protocol = config.peer_route_protocol
    failures: list[str] = []
    try:
        async with asyncio.timeout(config.netlink_timeout), node_rtnl() as node:
            diff = diff_peer_routes(desired, await podnet_peer_routes(node, protocol))
            for route in diff.delete:
                try:
                    await node.delete_route(route.dst, route.via, protocol)
                except NetlinkOperationFailed as error:
                    failures.append(str(error))
            changes = [(route, True) for route in diff.replace]
            changes += [(route, False) for route in diff.add]
            for route, replace in changes:
                try:
                    await node.add_route(
                        route.dst,
                        gateway=route.via,
                        scope=SCOPE_UNIVERSE,
                        protocol=protocol,
                        replace=replace,
                    )
                except NetlinkOperationFailed as error:
                    failures.append(str(error))
    except TimeoutError:
        raise DataplaneTimeout(
            f"syncing peer routes took longer than {config.netlink_timeout}s"
        ) from None
    if not diff.is_empty:
        log_event(
            log,
            "peer_routes_applied",
            deleted=[str(r.dst) for r in diff.delete],
            replaced=[f"{r.dst} via {r.via}" for r in diff.replace],
            added=[f"{r.dst} via {r.via}" for r in diff.add],
            failures=failures,
        )
    if failures:
        raise PeerRouteSyncFailed(failures)
    return diff
