"""In-memory indexes kept warm from etcd: one snapshot, then a watch resumed from the last
revision seen (reloaded when etcd has compacted that history). They are hints for
choosing candidates; etcd's compares stay the only authority."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Iterator, Sequence

from podnet.logs import log_event

from ipamd.address_pool import AddressPool
from ipamd.addressing import node_ranges, offset_of, pod_host_offsets
from ipamd.config import ClusterConfig
from ipamd.errors import HistoryCompacted, StoreUnavailable
from ipamd.keys import KeyLayout, range_from_id
from ipamd.store import ChangeKind, EtcdStore, KeyChange

log = logging.getLogger(__name__)

HealthListener = Callable[[str, bool], None]


class PrefixMirror:
    """Feeds every key under a prefix to apply(); calls reset() before each full reload."""

    def __init__(
        self,
        name: str,
        store: EtcdStore,
        prefix: str,
        reset: Callable[[], None],
        apply: Callable[[KeyChange], None],
        on_health: HealthListener,
        retry_delay: float = 0.5,
    ) -> None:
        self.name = name
        self._store = store
        self._prefix = prefix
        self._reset = reset
        self._apply = apply
        self._on_health = on_health
        self._retry_delay = retry_delay
        self.revision = 0
        self.loaded = asyncio.Event()
        self._streaming = False

    def needed_revision(self) -> int | None:
        """The oldest revision this mirror needs etcd to keep: the one its watch resumes
        from while the watch is down. None while it streams (etcd keeps feeding an open
        watch whatever is compacted; one that lags is cancelled and reloads) or before
        the first load."""
        if self._streaming or not self.loaded.is_set():
            return None
        return self.revision + 1

    async def _reload(self) -> None:
        entries, revision = await self._store.load(self._prefix)
        self._reset()
        for key, value in entries:
            self._apply(KeyChange(ChangeKind.PUT, key, value, None, revision))
        self.revision = revision
        self.loaded.set()

    async def run(self) -> None:
        needs_reload = True
        while True:
            try:
                if needs_reload:
                    await self._reload()
                    needs_reload = False
                async for batch in self._store.changes(self._prefix, self.revision + 1):
                    self._streaming = True
                    self._on_health(self.name, True)
                    for change in batch:
                        self._apply(change)
                        self.revision = change.revision
            except HistoryCompacted as error:
                self._streaming = False
                log_event(
                    log, "index_history_compacted", logging.WARNING, index=self.name, error=error
                )
                needs_reload = True
            except StoreUnavailable as error:
                self._streaming = False
                self._on_health(self.name, False)
                log_event(log, "index_watch_lost", logging.WARNING, index=self.name, error=error)
                await asyncio.sleep(self._retry_delay)


class AddressIndex:
    """Per node range: which pod addresses are taken, and the next-fit order of the rest."""

    def __init__(self, keys: KeyLayout) -> None:
        self._keys = keys
        self._pools: dict[ipaddress.IPv4Network, AddressPool] = {}

    def pool(self, node_range: ipaddress.IPv4Network) -> AddressPool:
        pool = self._pools.get(node_range)
        if pool is None:
            # Every replica starts at the range's first pod address (.2, as host-local
            # does); a race between replicas costs one retried transaction, not a duplicate.
            pool = self._pools[node_range] = AddressPool(pod_host_offsets(node_range))
        return pool

    def reset(self) -> None:
        self._pools.clear()

    def used_count(self) -> int:
        return sum(pool.used_count for pool in self._pools.values())

    def apply(self, change: KeyChange) -> None:
        try:
            node_range, address = self._keys.parse_ip_key(change.key)
            offset = offset_of(node_range, address)
        except ValueError:
            log_event(log, "unexpected_key_ignored", logging.WARNING, key=change.key)
            return
        pool = self.pool(node_range)
        if change.kind is ChangeKind.PUT:
            pool.mark_used(offset)
        else:
            pool.mark_free(offset)


class ClaimIndex:
    """Which node ranges of the cluster CIDR are claimed."""

    def __init__(self, keys: KeyLayout, cluster: ClusterConfig) -> None:
        self._keys = keys
        self._cluster = cluster
        self._claimed: set[ipaddress.IPv4Network] = set()

    def reset(self) -> None:
        self._claimed.clear()

    def apply(self, change: KeyChange) -> None:
        node_range = range_from_id(self._keys.last_segment(change.key))
        if change.kind is ChangeKind.PUT:
            self._claimed.add(node_range)
        else:
            self._claimed.discard(node_range)

    def mark_claimed(self, node_range: ipaddress.IPv4Network) -> None:
        self._claimed.add(node_range)

    def claimed_count(self) -> int:
        return len(self._claimed)

    def free_ranges(self) -> Iterator[ipaddress.IPv4Network]:
        for node_range in node_ranges(self._cluster.cluster_cidr, self._cluster.node_prefix_length):
            if node_range not in self._claimed:
                yield node_range


class StoreHealth:
    """SERVING while every mirror's watch is up; tells a listener on each change."""

    def __init__(self, sources: Sequence[str], listener: Callable[[bool], None]) -> None:
        self._up = dict.fromkeys(sources, False)
        self._listener = listener
        self._serving: bool | None = None

    @property
    def serving(self) -> bool:
        """Every mirror's watch is up: etcd is reachable."""
        return bool(self._serving)

    def report(self, source: str, up: bool) -> None:
        self._up[source] = up
        serving = all(self._up.values())
        if serving != self._serving:
            self._serving = serving
            self._listener(serving)
