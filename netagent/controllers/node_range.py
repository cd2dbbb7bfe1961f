"""Holding the node's pod range: acquire, heartbeat, and fence when it is lost.

The agent may only hand out addresses while it is sure it holds its range.
It is sure while its last successful renewal is younger than the lease TTL;
past that, or when ipamd says the range is gone, it fences itself (ADD gets
"try again later") until it holds a range again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from podnet.logs import log_event

from netagent.errors import IpamFailed, IpamRangeNotHeld, IpamRejected, IpamUnavailable, NodeFenced
from netagent.ipam_client import NodeRange
from netagent.seams import RangeLeases

logger = logging.getLogger("podnet.agent.range")

# Called with the range now held (None: fenced) and whether ipamd reclaimed the range
# since it was last held, taking every allocation of this node's pods with it.
RangeListener = Callable[[NodeRange | None, bool], Awaitable[None]]


class NodeRangeHolder:
    def __init__(self, client: RangeLeases, node: str, node_ip: str) -> None:
        self._client = client
        self._node = node
        self._node_ip = node_ip
        self._range: NodeRange | None = None
        self._renewed_at = 0.0
        self._listeners: list[RangeListener] = []
        self._held = asyncio.Event()
        self._reclaimed = False

    def on_change(self, listener: RangeListener) -> None:
        self._listeners.append(listener)

    @property
    def current(self) -> NodeRange | None:
        """The range if the lease is believed alive, else None (fenced)."""
        if self._range is None or not self._held.is_set():
            return None
        if time.monotonic() - self._renewed_at > self._range.lease_ttl_seconds:
            return None
        return self._range

    def require(self) -> NodeRange:
        node_range = self.current
        if node_range is None:
            raise NodeFenced(f"node {self._node} holds no pod range right now; try again later")
        return node_range

    async def _set(self, node_range: NodeRange | None) -> None:
        """Records a successful (re)hold, or None for fenced; tells listeners on change."""
        was_held = self._held.is_set()
        changed = (node_range is not None) != was_held or (
            node_range is not None and node_range != self._range
        )
        reclaimed = False
        if node_range is not None:
            self._range = node_range
            self._renewed_at = time.monotonic()
            self._held.set()
            reclaimed, self._reclaimed = self._reclaimed, False
        else:
            self._held.clear()
        if changed:
            for listener in self._listeners:
                await listener(node_range, reclaimed)

    async def acquire(self) -> NodeRange:
        node_range = await self._client.acquire_range(self._node, self._node_ip)
        log_event(
            logger,
            "range_acquired",
            cidr=str(node_range.cidr),
            node=self._node,
            lease_ttl_seconds=node_range.lease_ttl_seconds,
        )
        await self._set(node_range)
        return node_range

    async def acquire_until_held(self, stop: asyncio.Event) -> NodeRange | None:
        delay = 0.2
        while not stop.is_set():
            try:
                return await self.acquire()
            except (IpamUnavailable, IpamRangeNotHeld, IpamFailed) as error:
                log_event(logger, "range_acquire_failed", _level_of(error), error=error)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                delay = min(delay * 2, 2.0)
        return None

    async def keep_alive(self, stop: asyncio.Event) -> None:
        """Renews at a third of the TTL; fences and re-acquires when the range is lost."""
        while not stop.is_set():
            node_range = self._range
            interval = max(0.2, (node_range.lease_ttl_seconds if node_range else 3) / 3)
            try:
                await asyncio.wait_for(stop.wait(), interval)
                return
            except TimeoutError:
                pass
            if self.current is None and self._held.is_set():
                log_event(
                    logger,
                    "range_fenced",
                    logging.WARNING,
                    reason="no successful renewal within the lease TTL",
                )
                await self._set(None)
            await self._renew_once()

    async def _renew_once(self) -> None:
        node_range = self._range
        try:
            if node_range is None:
                await self.acquire()
            else:
                await self._set(await self._client.renew_range(self._node, node_range.cidr))
        except (IpamUnavailable, IpamFailed, IpamRejected) as error:
            log_event(logger, "range_renew_failed", _level_of(error), error=error)
        except IpamRangeNotHeld as error:
            log_event(logger, "range_lost", logging.ERROR, error=error)
            self._reclaimed = True
            await self._set(None)
            try:
                await self.acquire()
            except (IpamUnavailable, IpamRangeNotHeld, IpamFailed) as retry_error:
                log_event(logger, "range_acquire_failed", _level_of(retry_error), error=retry_error)


def _level_of(error: Exception) -> int:
    """ipamd failing or refusing a call is a bug to look at (ERROR); ipamd out of reach or
    a range not held yet happen in normal operation (WARNING)."""
    return (
        logging.WARNING if isinstance(error, IpamUnavailable | IpamRangeNotHeld) else logging.ERROR
    )
