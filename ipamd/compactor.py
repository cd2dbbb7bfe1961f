"""Compacts etcd's history on a schedule, one replica at a time, so steady pod churn never
fills etcd's space quota (docs/etcd-layout.md, "Compaction").

The replica that holds the lock key (created if absent, on a lease this replica keeps
alive) compacts; the others only sample revisions, ready to take over when the lease
lapses. It compacts at the newest revision it saw at least `retention` seconds ago, and
never past the oldest revision a local watch still needs. Watches elsewhere (other
replicas, agents resuming a range stream) are covered by the retention alone: a watch
that resumes from compacted history gets a fresh snapshot instead.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aetcd import rpc
from podnet.logs import log_event

from ipamd.config import IpamConfig
from ipamd.errors import StoreUnavailable
from ipamd.etcd_connection import EtcdConnection
from ipamd.keys import KeyLayout

log = logging.getLogger(__name__)

# A source's answer: the oldest revision it needs etcd to keep, None when it needs none.
NeededRevision = Callable[[], int | None]

_RELEASE_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class CompactionSchedule:
    interval: float  # seconds between passes
    retention: float  # seconds of history kept behind the current revision

    @property
    def lock_ttl(self) -> int:
        """The lock's lease outlives two missed passes, so a slow pass keeps the lock and
        a dead holder is replaced within about three intervals."""
        return max(5, math.ceil(2 * self.interval) + 1)


def oldest_needed(sources: Iterable[NeededRevision]) -> int | None:
    """The lowest revision any of the sources needs kept; None when none needs any."""
    needed = [revision for source in sources if (revision := source()) is not None]
    return min(needed, default=None)


class Compactor:
    def __init__(
        self,
        connection: EtcdConnection,
        lock_key: str,
        holder: str,
        schedule: CompactionSchedule,
        needed_by_local_watches: NeededRevision,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._etcd = connection
        self._lock_key = lock_key.encode()
        self._holder = holder.encode()
        self._schedule = schedule
        self._needed_by_local_watches = needed_by_local_watches
        self._clock = clock
        self._lease: int | None = None
        self._released = False
        # (time, revision) seen at each pass, oldest first; pruned to what retention needs.
        self._samples: deque[tuple[float, int]] = deque()
        self.compacted_revision = 0

    async def run(self) -> None:
        while True:
            try:
                await self.pass_once()
            except StoreUnavailable as error:
                log_event(log, "compaction_failed", logging.WARNING, error=error)
            await asyncio.sleep(self._schedule.interval)

    async def pass_once(self) -> int | None:
        """Samples the current revision; compacts if this replica holds the lock and there
        is history old enough. Returns the revision compacted at, or None."""
        reply = await self._etcd.range(self._lock_key)
        now = self._clock()
        self._samples.append((now, reply.header.revision))
        held_by = reply.kvs[0] if reply.kvs else None
        if not await self._hold_lock(held_by):
            return None
        target = self._target(now)
        if target is None or target <= self.compacted_revision:
            return None
        if not await self._etcd.compact(target):
            log_event(log, "compaction_already_done", revision=target)
            self.compacted_revision = target
            return None
        self.compacted_revision = target
        log_event(log, "etcd_compacted", revision=target, current_revision=reply.header.revision)
        return target

    def _target(self, now: float) -> int | None:
        cutoff = now - self._schedule.retention
        while len(self._samples) > 1 and self._samples[1][0] <= cutoff:
            self._samples.popleft()
        sampled_at, revision = self._samples[0]
        if sampled_at > cutoff:
            return None
        needed = self._needed_by_local_watches()
        return revision if needed is None else min(revision, needed)

    async def _hold_lock(self, held_by: Any | None) -> bool:
        if held_by is not None and held_by.value == self._holder and held_by.lease == self._lease:
            assert self._lease is not None
            if await self._etcd.keep_alive_once(self._lease) > 0:
                return True
        if self._lease is not None:
            log_event(log, "compaction_lock_lost")
            self._lease = None
        if held_by is not None or self._released:
            return False
        lease = await self._etcd.grant_lease(self._schedule.lock_ttl)
        absent = rpc.Compare(
            key=self._lock_key,
            target=rpc.Compare.CREATE,
            result=rpc.Compare.EQUAL,
            create_revision=0,
        )
        put = rpc.RequestOp(
            request_put=rpc.PutRequest(key=self._lock_key, value=self._holder, lease=lease)
        )
        if (await self._etcd.txn([absent], [put])).succeeded:
            self._lease = lease
            log_event(log, "compaction_lock_taken", lock_ttl=self._schedule.lock_ttl)
            return True
        await self._etcd.revoke_lease(lease)
        return False

    async def release(self) -> None:
        """Gives the lock up (at shutdown) so another replica can take over at once."""
        self._released = True
        lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            await asyncio.wait_for(self._etcd.revoke_lease(lease), _RELEASE_TIMEOUT_SECONDS)
        except (StoreUnavailable, TimeoutError) as error:
            log_event(log, "compaction_lock_not_released", logging.WARNING, error=error)


def compactor_for(
    connection: EtcdConnection,
    config: IpamConfig,
    keys: KeyLayout,
    needed_by_local_watches: Iterable[NeededRevision],
) -> Compactor | None:
    """The replica's compactor, or None (with a warning) under --compaction-interval 0."""
    if config.compaction_interval == 0:
        log_event(
            log,
            "etcd_compaction_off",
            logging.WARNING,
            risk="unless etcd compacts itself (--auto-compaction-retention), its history "
            "grows until its space quota is hit",
        )
        return None
    sources = tuple(needed_by_local_watches)
    return Compactor(
        connection,
        keys.compactor_lock,
        f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}",
        CompactionSchedule(config.compaction_interval, config.compaction_retention),
        lambda: oldest_needed(sources),
    )
