"""Follows ipamd's stream of node ranges and keeps one route per peer range.

The desired set is rebuilt from the stream (snapshot, then changes) and the
kernel is reconciled against it after every change, so a missed or repeated
event can never leave a wrong route behind for longer than one pass.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Mapping

from podnet.logs import log_event

from netagent.errors import IpamFailed, IpamUnavailable
from netagent.ipam_client import NodeRange, PeerRangeEvent
from netagent.seams import RangeWatch

logger = logging.getLogger("podnet.agent.peers")

SETTLE_SECONDS = 0.02
RETRY_SECONDS = 1.0

RouteSync = Callable[[Mapping[ipaddress.IPv4Network, ipaddress.IPv4Address]], Awaitable[object]]


def apply_event(known: dict[str, NodeRange], event: PeerRangeEvent) -> dict[str, NodeRange]:
    """Returns the live ranges by node after event (pure)."""
    if event.kind == "snapshot":
        return {r.node: r for r in event.ranges}
    updated = dict(known)
    for node_range in event.ranges:
        if event.kind == "added":
            updated[node_range.node] = node_range
        elif event.kind == "removed" and (
            node_range.node in updated and updated[node_range.node].cidr == node_range.cidr
        ):
            del updated[node_range.node]
    return updated


def desired_routes(
    live: Mapping[str, NodeRange], own_node: str
) -> dict[ipaddress.IPv4Network, ipaddress.IPv4Address]:
    return {r.cidr: r.node_ip for r in live.values() if r.node != own_node}


class PeerRouteFollower:
    def __init__(
        self,
        client: RangeWatch,
        own_node: str,
        sync: RouteSync,
        on_reconnected: Callable[[], None] = lambda: None,
    ) -> None:
        self._on_reconnected = on_reconnected
        self._ever_connected = False
        self._client = client
        self._own_node = own_node
        self._sync = sync
        self._live: dict[str, NodeRange] = {}
        self._revision = 0
        self._connected = False
        self._changed = asyncio.Event()
        self.synced = asyncio.Event()

    @property
    def connected(self) -> bool:
        """True while the range stream from ipamd is up (ipamd is reachable)."""
        return self._connected

    @property
    def peers(self) -> Mapping[str, NodeRange]:
        """The other nodes' live ranges by node name, as the stream last showed them."""
        return {n: r for n, r in self._live.items() if n != self._own_node}

    async def run(self, stop: asyncio.Event) -> None:
        reconciler = asyncio.create_task(self._reconcile_on_change())
        try:
            await self._follow_stream(stop)
        finally:
            reconciler.cancel()
            await asyncio.gather(reconciler, return_exceptions=True)

    async def _follow_stream(self, stop: asyncio.Event) -> None:
        delay = 0.1
        while not stop.is_set():
            try:
                async for event in self._client.watch_ranges(self._revision, self._opened):
                    self._live = apply_event(self._live, event)
                    self._revision = event.revision
                    self._changed.set()
                    delay = 0.1
            except (IpamUnavailable, IpamFailed) as error:
                was_connected, self._connected = self._connected, False
                level = logging.WARNING if was_connected else logging.DEBUG
                log_event(
                    logger,
                    "peer_stream_lost" if was_connected else "peer_stream_retry",
                    logging.ERROR if isinstance(error, IpamFailed) else level,
                    error=error,
                    resume_revision=self._revision,
                )
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                delay = min(delay * 2, 2.0)

    async def _reconcile_on_change(self) -> None:
        while True:
            await self._changed.wait()
            # Let a burst land whole: a resumed stream replays a lapsed heartbeat's delete
            # and its re-put back to back, and the kernel should see neither.
            await asyncio.sleep(SETTLE_SECONDS)
            self._changed.clear()
            try:
                await self._reconcile()
            except Exception as error:
                log_event(logger, "peer_sync_failed", logging.ERROR, error=error)
                await asyncio.sleep(RETRY_SECONDS)
                self._changed.set()

    def _opened(self) -> None:
        if self._ever_connected and not self._connected:
            self._on_reconnected()
        self._connected = self._ever_connected = True

    async def _reconcile(self) -> None:
        desired = desired_routes(self._live, self._own_node)
        diff = await self._sync(desired)
        log_event(
            logger,
            "peer_routes_synced",
            revision=self._revision,
            peers=len(desired),
            diff=str(diff),
        )
        self.synced.set()
