"""The stream of live node ranges (nodes whose heartbeat exists): a snapshot, then changes,
resumable by revision. Survives etcd restarts by re-watching from the last revision."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from podnet.logs import log_event

from ipamd.errors import HistoryCompacted, StoreUnavailable
from ipamd.records import NodeRecord
from ipamd.store import ChangeKind, EtcdStore, KeyChange

log = logging.getLogger(__name__)

# How far back a resumed stream is replayed from etcd's history. An older (or future)
# resume revision gets a fresh snapshot: replaying from revision 1 would make etcd walk
# the cluster's whole history for one caller.
MAX_REPLAY_REVISIONS = 10_000


@dataclass(frozen=True)
class LiveRange:
    node: str
    cidr: str
    node_ip: str


@dataclass(frozen=True)
class RangeSnapshot:
    ranges: tuple[LiveRange, ...]
    revision: int


@dataclass(frozen=True)
class RangeAdded:
    range: LiveRange
    revision: int


@dataclass(frozen=True)
class RangeRemoved:
    range: LiveRange
    revision: int


RangeEvent = RangeSnapshot | RangeAdded | RangeRemoved


def _live_range(node: str, raw: bytes | None) -> LiveRange:
    if not raw:
        return LiveRange(node, "", "")
    record = NodeRecord.decode(raw)
    return LiveRange(node, record.cidr, record.node_ip)


def _event(store: EtcdStore, change: KeyChange) -> RangeEvent:
    node = store.keys.last_segment(change.key)
    if change.kind is ChangeKind.PUT:
        return RangeAdded(_live_range(node, change.value), change.revision)
    return RangeRemoved(_live_range(node, change.prev_value), change.revision)


async def live_range_events(
    store: EtcdStore,
    resume_revision: int,
    retry_delay: float = 0.5,
    max_replay: int = MAX_REPLAY_REVISIONS,
) -> AsyncIterator[RangeEvent]:
    revision = resume_revision
    needs_snapshot = resume_revision <= 0
    replay_checked = needs_snapshot
    prefix = store.keys.heartbeats
    while True:
        try:
            if not replay_checked:
                current = await store.current_revision()
                replay_checked = True
                if not current - max_replay <= resume_revision <= current:
                    log_event(
                        log,
                        "range_stream_resume_out_of_window",
                        resume_revision=resume_revision,
                        revision=current,
                        action="sending a snapshot",
                    )
                    needs_snapshot = True
            if needs_snapshot:
                entries, revision = await store.load(prefix)
                ranges = tuple(_live_range(store.keys.last_segment(k), v) for k, v in entries)
                needs_snapshot = False
                yield RangeSnapshot(ranges, revision)
            async for batch in store.changes(prefix, revision + 1, prev_kv=True):
                for change in batch:
                    revision = change.revision
                    yield _event(store, change)
        except HistoryCompacted:
            needs_snapshot = True
        except StoreUnavailable as error:
            log_event(log, "range_stream_etcd_lost", logging.WARNING, error=error)
            await asyncio.sleep(retry_delay)
