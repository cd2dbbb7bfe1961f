"""etcd compaction by ipamd: pod churn on an etcd with a small space quota fills it without
compaction and runs far past it with compaction; one replica compacts at a time; history
is kept for the retention and for local watches; watches that resume from compacted
history get a fresh snapshot.

Every test has an etcd of its own (TLS, no RBAC: the tests act as its operator too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from aetcd import rpc
from podnet.tls.files import TlsFiles
from podnet.v1 import ipam_pb2, ipam_pb2_grpc

from ipamd.compactor import CompactionSchedule, Compactor
from ipamd.config import EtcdAddress
from ipamd.errors import StoreUnavailable
from ipamd.etcd_connection import EtcdConnection
from ipamd.indexes import PrefixMirror
from ipamd.keys import KeyLayout
from ipamd.store import EtcdStore, KeyChange
from tests.ipamd.conftest import IpamdFactory, acquire, allocate, next_event
from tools.lab.etcd_server import EtcdServer
from tools.lab.pki import LabPki
from tools.lab.ports import free_port

# Without compaction pod churn fills this within about 700 pod cycles (measured: ~700
# bytes of history per cycle); etcd's own database starts at 20 KiB.
QUOTA = 512 * 1024
FILLS_WITHIN_CYCLES = 1200
# With compaction: twice the quota (bbolt reuses freed pages but keeps some headroom in
# the file, which a quota at the size of the live data can hit), and 1.5x the cycles
# that fill twice the quota without compaction.
COMPACTED_QUOTA = 2 * QUOTA
CYCLES_WITH_COMPACTION = 3 * FILLS_WITHIN_CYCLES
WORKERS = 16
NOSPACE = "database space exceeded"


@dataclass
class OwnEtcd:
    server: EtcdServer
    operator: TlsFiles  # any certificate of the CA may do anything: RBAC is off

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[EtcdConnection]:
        endpoint = self.server.endpoint
        connection = EtcdConnection(
            [EtcdAddress(endpoint.host, endpoint.client_port)], timeout=10.0, tls=self.operator
        )
        try:
            yield connection
        finally:
            await connection.close()

    async def status(self) -> Any:
        async with self.connection() as connection:
            client = await connection.client_for(connection.active_endpoint)
            return await client.maintenancestub.Status(rpc.StatusRequest(), timeout=5)


def own_etcd_server(
    base: Path, pki: LabPki, client_port: int, peer_port: int, quota: int | None = None
) -> EtcdServer:
    return EtcdServer(
        base / "data",
        "127.0.0.1",
        client_port,
        peer_port,
        tls=pki.etcd_member("own", "127.0.0.1"),
        name="own",
        quota_backend_bytes=quota,
    )


@pytest.fixture
def own_etcd(tmp_path: Path, pki: LabPki, request: pytest.FixtureRequest) -> Iterator[OwnEtcd]:
    quota: int | None = getattr(request, "param", None)
    server = own_etcd_server(tmp_path / "etcd", pki, free_port(), free_port(), quota)
    server.start()
    try:
        yield OwnEtcd(server, pki.etcd_root())
    finally:
        server.stop()


@dataclass
class ChurnResult:
    cycles: int = 0
    failure: str | None = None


async def churn(
    stub: ipam_pb2_grpc.IpamAsyncStub, node_range: ipam_pb2.NodeRange, cycles: int
) -> ChurnResult:
    """WORKERS pods at a time allocate and release until `cycles` are done or one fails."""
    result = ChurnResult()
    started = 0

    async def worker() -> None:
        nonlocal started
        while result.failure is None and started < cycles:
            started += 1
            container_id = f"c{started}"
            try:
                await allocate(stub, node_range, container_id)
                await stub.ReleasePodIp(
                    ipam_pb2.ReleasePodIpRequest(
                        node=node_range.node, container_id=container_id, ifname="eth0"
                    ),
                    timeout=10,
                )
            except grpc.aio.AioRpcError as error:
                result.failure = f"{error.code().name}: {error.details()}"
                return
            result.cycles += 1

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return result


@pytest.mark.parametrize("own_etcd", [QUOTA], indirect=True)
async def test_churn_without_compaction_fills_the_quota_until_an_operator_recovers(
    own_etcd: OwnEtcd, ipamd_factory: IpamdFactory
) -> None:
    ipamd = await ipamd_factory.start(
        "--compaction-interval", "0", etcd=own_etcd.server.endpoint.address
    )
    assert any(e.get("event") == "etcd_compaction_off" for e in ipamd.log_events())
    stub = ipamd.stub()
    node_range = await acquire(stub, "node-a")

    filled = await churn(stub, node_range, CYCLES_WITH_COMPACTION)
    print(f"quota of {QUOTA} bytes full after {filled.cycles} pod cycles")
    assert filled.failure is not None and NOSPACE in filled.failure, filled
    assert filled.cycles < FILLS_WITHIN_CYCLES
    full = await own_etcd.status()
    assert full.dbSize > QUOTA * 0.9

    # The operator's way back: compaction frees pages inside the file, defragmentation
    # gives them back (the quota counts the file), and the NOSPACE alarm must be disarmed.
    async with own_etcd.connection() as operator:
        client = await operator.client_for(operator.active_endpoint)
        assert await operator.compact(full.header.revision)
        compacted = await own_etcd.status()
        while compacted.dbSizeInUse > full.dbSize / 2:  # etcd compacts in the background
            await asyncio.sleep(0.1)
            compacted = await own_etcd.status()
        assert compacted.dbSize >= full.dbSize  # the file does not shrink
        await client.maintenancestub.Defragment(rpc.DefragmentRequest(), timeout=30)
        defragmented = await own_etcd.status()
        assert defragmented.dbSize < full.dbSize / 2
        with pytest.raises(grpc.aio.AioRpcError, match=NOSPACE):
            await allocate(stub, node_range, "still-alarmed")
        alarms = await client.maintenancestub.Alarm(
            rpc.AlarmRequest(action=rpc.AlarmRequest.GET), timeout=5
        )
        assert [a.alarm for a in alarms.alarms] == [rpc.NOSPACE]
        for alarm in alarms.alarms:
            await client.maintenancestub.Alarm(
                rpc.AlarmRequest(
                    action=rpc.AlarmRequest.DEACTIVATE, memberID=alarm.memberID, alarm=alarm.alarm
                ),
                timeout=5,
            )
    assert (await allocate(stub, node_range, "after-recovery")).address


@pytest.mark.parametrize("own_etcd", [COMPACTED_QUOTA], indirect=True)
async def test_churn_with_compaction_runs_far_past_the_quota(
    own_etcd: OwnEtcd, ipamd_factory: IpamdFactory
) -> None:
    ipamd = await ipamd_factory.start(
        "--compaction-interval", "0.5", "--compaction-retention", "1",
        etcd=own_etcd.server.endpoint.address,
    )  # fmt: skip
    stub = ipamd.stub()
    node_range = await acquire(stub, "node-a")
    started = time.monotonic()

    done = await churn(stub, node_range, CYCLES_WITH_COMPACTION)
    after = await own_etcd.status()
    compactions = [e for e in ipamd.log_events() if e.get("event") == "etcd_compacted"]
    print(
        f"{done.cycles} pod cycles in {time.monotonic() - started:.1f}s, "
        f"{len(compactions)} compactions, revision {after.header.revision}, "
        f"database {after.dbSize} bytes ({after.dbSizeInUse} in use), quota {COMPACTED_QUOTA}"
    )
    assert done == ChurnResult(CYCLES_WITH_COMPACTION, None)
    assert len(compactions) >= 5
    assert after.dbSize < COMPACTED_QUOTA * 0.9


async def test_one_replica_compacts_and_another_takes_over_when_it_stops(
    own_etcd: OwnEtcd, etcd_prefix: str
) -> None:
    keys = KeyLayout(etcd_prefix)
    schedule = CompactionSchedule(interval=1.0, retention=0.0)
    async with own_etcd.connection() as etcd_a, own_etcd.connection() as etcd_b:
        first = Compactor(etcd_a, keys.compactor_lock, "replica-a", schedule, lambda: None)
        second = Compactor(etcd_b, keys.compactor_lock, "replica-b", schedule, lambda: None)
        await put_some(etcd_a, keys, 5)
        compacted = await first.pass_once()
        assert compacted is not None
        await put_some(etcd_a, keys, 5)
        assert await second.pass_once() is None
        assert (await etcd_a.range(keys.compactor_lock.encode())).kvs[0].value == b"replica-a"
        # The holder compacts again at the next pass, past what it compacted before.
        again = await first.pass_once()
        assert again is not None and again > compacted

        await first.release()
        await put_some(etcd_a, keys, 5)
        taken_over = await second.pass_once()
        assert taken_over is not None and taken_over > again
        assert await first.pass_once() is None
        assert (await etcd_a.range(keys.compactor_lock.encode())).kvs[0].value == b"replica-b"
        assert await lock_ttl(etcd_a, keys) == schedule.lock_ttl


async def test_compaction_keeps_the_retention_and_what_local_watches_need(
    own_etcd: OwnEtcd, etcd_prefix: str
) -> None:
    keys = KeyLayout(etcd_prefix)
    now = [1000.0]
    needed: list[int | None] = [None]
    async with own_etcd.connection() as etcd:
        compactor = Compactor(
            etcd,
            keys.compactor_lock,
            "replica-a",
            CompactionSchedule(interval=60.0, retention=300.0),
            lambda: needed[0],
            clock=lambda: now[0],
        )
        first_sample = await current_revision(etcd)
        assert await compactor.pass_once() is None  # no history 300 s old yet (lock taken)
        await put_some(etcd, keys, 1)
        now[0] += 200
        second_sample = await current_revision(etcd)
        assert await compactor.pass_once() is None
        await put_some(etcd, keys, 1)
        now[0] += 150  # the first pass is 350 s old, the second 150 s
        assert await compactor.pass_once() == first_sample
        now[0] += 200  # the second pass is 350 s old, but a local watch needs older history
        needed[0] = first_sample + 1
        assert second_sample > first_sample + 1
        assert await compactor.pass_once() == first_sample + 1
        needed[0] = None
        now[0] += 1
        assert await compactor.pass_once() == second_sample
        # etcd refuses reads below the compacted revision: the history is really gone.
        with pytest.raises(StoreUnavailable, match="compacted"):
            await etcd.range(keys.compactor_lock.encode(), revision=first_sample)


async def test_a_mirror_whose_resume_revision_was_compacted_reloads_a_snapshot(
    tmp_path: Path, pki: LabPki, etcd_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The mirror loses etcd; meanwhile keys change and history is compacted (etcd is
    reachable on another client port only, so the mirror cannot catch up first). When
    etcd is back the mirror's resume fails with HistoryCompacted and it reloads."""
    caplog.set_level(logging.INFO, logger="ipamd")
    ports = {"client": free_port(), "peer": free_port(), "elsewhere": free_port()}
    base = tmp_path / "etcd"
    server = own_etcd_server(base, pki, ports["client"], ports["peer"])
    server.start()
    keys = KeyLayout(etcd_prefix)
    seen: dict[str, bytes] = {}
    resets = [0]

    def reset() -> None:
        resets[0] += 1
        seen.clear()

    def apply(change: KeyChange) -> None:
        if change.kind.name == "PUT":
            seen[change.key] = change.value
        else:
            seen.pop(change.key, None)

    healthy: list[bool] = []
    connection = OwnEtcd(server, pki.etcd_root())
    try:
        async with connection.connection() as etcd:
            store = EtcdStore(etcd, keys)
            mirror = PrefixMirror(
                "test", store, keys.ips, reset, apply, lambda _, up: healthy.append(up), 0.2
            )
            task = asyncio.create_task(mirror.run())
            try:
                await put_some(etcd, keys, 3)
                await wait_until(lambda: len(seen) == 3, "the mirror to see 3 keys")
                assert mirror.needed_revision() is None  # streaming: needs no history
                await asyncio.to_thread(server.stop)
                await wait_until(lambda: healthy[-1] is False, "the mirror to lose its watch")
                assert mirror.needed_revision() == mirror.revision + 1

                elsewhere = own_etcd_server(base, pki, ports["elsewhere"], ports["peer"])
                await asyncio.to_thread(elsewhere.start)
                try:
                    async with OwnEtcd(elsewhere, pki.etcd_root()).connection() as other:
                        await other.txn([], [delete_key(keys.ips + "key-0")])
                        last = await put_some(other, keys, 2, start=10)
                        assert await other.compact(last)
                finally:
                    await asyncio.to_thread(elsewhere.stop)
                await asyncio.to_thread(server.start)

                await wait_until(lambda: resets[0] == 2, "the mirror to reload")
                await wait_until(lambda: len(seen) == 4, "the mirror to see the new keys")
                assert sorted(seen) == sorted(
                    keys.ips + name for name in ("key-1", "key-2", "key-10", "key-11")
                )
                assert mirror.revision >= last
                # Streaming again (None), or, before its first new batch, asking for nothing
                # older than the snapshot it reloaded.
                needed = mirror.needed_revision()
                assert needed is None or needed > last
                assert "index_history_compacted" in caplog.messages
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        server.stop()


async def test_ipamd_compacts_and_a_range_watch_resuming_behind_it_gets_a_snapshot(
    own_etcd: OwnEtcd, ipamd_factory: IpamdFactory
) -> None:
    ipamd = await ipamd_factory.start(
        "--compaction-interval", "0.3", "--compaction-retention", "0",
        etcd=own_etcd.server.endpoint.address,
    )  # fmt: skip
    stub = ipamd.stub()
    first = await acquire(stub, "n1", "192.0.2.1")
    watch = stub.WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest())
    snapshot = await next_event(watch)
    watch.cancel()
    second = await acquire(stub, "n2", "192.0.2.2")
    # Some churn moves the revision on; then ipamd compacts past the watch's revision.
    for index in range(5):
        await allocate(stub, first, f"c{index}")
    target = (await own_etcd.status()).header.revision

    def compacted_past_target() -> bool:
        return any(
            e.get("event") == "etcd_compacted" and int(str(e["revision"])) >= target
            for e in ipamd.log_events()
        )

    await wait_until(compacted_past_target, "ipamd to compact")
    resumed = stub.WatchNodeRanges(
        ipam_pb2.WatchNodeRangesRequest(resume_revision=snapshot.revision)
    )
    fresh = await next_event(resumed)
    resumed.cancel()
    assert fresh.WhichOneof("change") == "snapshot"
    assert {(r.node, r.cidr) for r in fresh.snapshot.ranges} == {
        ("n1", first.cidr),
        ("n2", second.cidr),
    }
    assert fresh.revision >= target


# --- helpers -----------------------------------------------------------------------


async def put_some(etcd: EtcdConnection, keys: KeyLayout, count: int, start: int = 0) -> int:
    """Puts count keys under the ip records' prefix; returns the last revision."""
    revision = 0
    for index in range(start, start + count):
        put = rpc.RequestOp(
            request_put=rpc.PutRequest(key=f"{keys.ips}key-{index}".encode(), value=b"x")
        )
        revision = (await etcd.txn([], [put])).header.revision
    return revision


def delete_key(key: str) -> Any:
    return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key.encode()))


async def current_revision(etcd: EtcdConnection) -> int:
    revision: int = (await etcd.range(b"/any")).header.revision
    return revision


async def lock_ttl(etcd: EtcdConnection, keys: KeyLayout) -> int:
    lease = (await etcd.range(keys.compactor_lock.encode())).kvs[0].lease
    client = await etcd.client_for(etcd.active_endpoint)
    reply = await client.leasestub.LeaseTimeToLive(rpc.LeaseTimeToLiveRequest(ID=lease))
    ttl: int = reply.grantedTTL
    return ttl


async def wait_until(condition: Callable[[], bool], what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
