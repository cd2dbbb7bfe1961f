"""Returns the ranges of silent nodes to the pool. Safe in every replica at once: each step
is a guarded transaction, so a node that heartbeats again in between is never reclaimed.

Quarantine time is measured on this replica's monotonic clock from when it first saw the
node's quarantine mark, so clock skew between hosts cannot shorten it; a replica that
restarts waits a full quarantine again.
"""

from __future__ import annotations

import asyncio
import logging
import time

from podnet.logs import log_event

from ipamd.errors import StoreUnavailable
from ipamd.store import EtcdStore, NodeState

log = logging.getLogger(__name__)


class Reclaimer:
    def __init__(self, store: EtcdStore, quarantine_seconds: float, interval: float) -> None:
        self._store = store
        self._quarantine = quarantine_seconds
        self._interval = interval
        self._first_seen: dict[tuple[str, int], float] = {}

    async def restore_unwatched_lapses(self, lease_ttl: int) -> list[str]:
        """At start: gives back one lease to nodes whose heartbeat lapsed while no ipamd ran.

        Leases are kept alive through ipamd, so when every replica was down every node's
        heartbeat lapsed, live or not. A lapse no replica saw has no quarantine mark;
        restoring those before serving means peers never see live nodes leave (their
        resumed streams get the delete and the re-put in one burst). A node that really
        died is only routed one lease longer: it lapses again and is quarantined as usual.
        """
        restored = []
        for node in await self._store.node_liveness():
            if node.has_heartbeat or node.quarantine_revision is not None:
                continue
            lease = await self._store.grant_lease(lease_ttl)
            state = NodeState(node.node, node.record, node.record_revision, None)
            if await self._store.restore_heartbeat(state, lease):
                restored.append(node.node)
            else:
                await self._store.revoke_lease(lease)
        if restored:
            log_event(log, "heartbeats_restored_after_outage", nodes=restored)
        return restored

    async def run(self) -> None:
        while True:
            try:
                await self.reconcile_once()
            except StoreUnavailable as error:
                log_event(log, "reclaim_pass_failed", logging.WARNING, error=error)
            await asyncio.sleep(self._interval)

    async def reconcile_once(self) -> None:
        now = time.monotonic()
        marks_seen: set[tuple[str, int]] = set()
        for node in await self._store.node_liveness():
            if node.has_heartbeat:
                if node.quarantine_revision is not None:
                    await self._store.end_quarantine(node.node, node.quarantine_revision)
                continue
            if node.quarantine_revision is None:
                revision = await self._store.start_quarantine(node)
                if revision is not None:
                    self._first_seen[(node.node, revision)] = now
                    marks_seen.add((node.node, revision))
                    log_event(log, "node_quarantined", node=node.node, cidr=node.record.cidr)
                continue
            mark = (node.node, node.quarantine_revision)
            marks_seen.add(mark)
            since = self._first_seen.setdefault(mark, now)
            if now - since >= self._quarantine and await self._store.reclaim(node):
                log_event(log, "node_range_reclaimed", node=node.node, cidr=node.record.cidr)
        self._first_seen = {m: t for m, t in self._first_seen.items() if m in marks_seen}
