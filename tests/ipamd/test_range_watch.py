from __future__ import annotations

import asyncio
from typing import Any

from aetcd import rpc
from podnet.v1 import ipam_pb2

from tests.ipamd.conftest import IpamdFactory, acquire, next_event


def _summary(event: ipam_pb2.NodeRangeEvent) -> tuple[str, str, str, int]:
    kind = event.WhichOneof("change")
    assert kind in ("added", "removed"), event
    node_range = getattr(event, kind)
    return kind, node_range.node, node_range.cidr, event.revision


async def test_watch_snapshot_changes_resume_and_compaction(ipamd_factory: IpamdFactory) -> None:
    ipamd = await ipamd_factory.start("--node-lease-ttl", "2", "--quarantine", "60")
    stub = ipamd.stub()
    first = await acquire(stub, "n1", "192.0.2.1")

    watch = stub.WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest())
    snapshot = await next_event(watch)
    assert snapshot.WhichOneof("change") == "snapshot"
    assert [(r.node, r.cidr, r.node_ip, r.gateway) for r in snapshot.snapshot.ranges] == [
        ("n1", first.cidr, "192.0.2.1", first.gateway)
    ]
    second = await acquire(stub, "n2", "192.0.2.2")
    added = await next_event(watch)
    assert _summary(added)[:3] == ("added", "n2", second.cidr)
    assert added.added.node_ip == "192.0.2.2" and added.revision > snapshot.revision
    # Neither node renews: both heartbeats expire and are reported with their ranges.
    removed = sorted([_summary(await next_event(watch)), _summary(await next_event(watch))])
    assert [(k, n, c) for k, n, c, _ in removed] == [
        ("removed", "n1", first.cidr),
        ("removed", "n2", second.cidr),
    ]
    watch.cancel()

    third = await acquire(stub, "n3")
    resumed = stub.WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest(resume_revision=added.revision))
    replay = [_summary(await next_event(resumed)) for _ in range(3)]
    assert sorted(replay[:2]) == removed
    assert replay[2][:3] == ("added", "n3", third.cidr)
    revisions = [r[3] for r in replay]
    assert revisions == sorted(revisions) and len(set(revisions)) == 3
    # Nothing repeats after that.
    assert not await _arrives_within(resumed, 0.7)
    resumed.cancel()

    async with ipamd_factory.etcd_connection() as connection:
        kv = (await connection.client_for(connection.active_endpoint)).kvstub
        status = await kv.Put(rpc.PutRequest(key=b"/podnet-test/compaction-marker", value=b"x"))
        await kv.Compact(rpc.CompactionRequest(revision=status.header.revision), timeout=5)
    after_compaction = stub.WatchNodeRanges(
        ipam_pb2.WatchNodeRangesRequest(resume_revision=added.revision)
    )
    fresh = await next_event(after_compaction)
    assert fresh.WhichOneof("change") == "snapshot"
    assert fresh.revision >= status.header.revision
    assert "n3" in {r.node for r in fresh.snapshot.ranges}
    after_compaction.cancel()


async def _arrives_within(call: Any, seconds: float) -> bool:
    try:
        await asyncio.wait_for(call.read(), seconds)
    except TimeoutError:
        return False
    return True
