"""ipamd's limits on the real daemon: calls and streams per identity, message size,
server-side deadlines, the reservation queue, and how far back a stream is replayed."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterable
from typing import Any, cast

import grpc
import pytest
from aetcd import rpc
from podnet.v1 import ipam_pb2

from ipamd.range_stream import MAX_REPLAY_REVISIONS
from tests.ipamd.conftest import Ipamd, IpamdFactory, acquire, allocate, next_event, rpc_error

LIMIT_TRAILER = "podnet-limit"


def limit_of(error: grpc.aio.AioRpcError) -> str | None:
    """ipamd's podnet-limit trailer (grpc.aio.Metadata: (key, value) pairs at run time)."""
    trailers = cast(Iterable[tuple[str, str]], error.trailing_metadata() or ())
    return dict(trailers).get(LIMIT_TRAILER)


async def outcome(call: Any) -> ipam_pb2.PodIpAllocation | grpc.aio.AioRpcError:
    try:
        result: ipam_pb2.PodIpAllocation = await call
    except grpc.aio.AioRpcError as error:
        return error
    return result


async def test_streams_per_identity(ipamd_factory: IpamdFactory) -> None:
    ipamd = await ipamd_factory.start("--max-streams-per-identity", "1")
    node_a, node_b = ipamd.node_stub("node-a"), ipamd.node_stub("node-b")
    first = node_a.WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest())
    assert (await next_event(first)).WhichOneof("change") == "snapshot"
    second = node_a.WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest())
    error = await rpc_error(second.read())
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert limit_of(error) == "streams_per_identity"
    # Another identity has its own allowance.
    other = node_b.WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest())
    assert (await next_event(other)).WhichOneof("change") == "snapshot"
    first.cancel()
    deadline = time.monotonic() + 5
    while True:  # the server notices the cancellation shortly after
        again = node_a.WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest())
        try:
            assert (await next_event(again)).WhichOneof("change") == "snapshot"
            break
        except grpc.aio.AioRpcError:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    again.cancel()
    other.cancel()
    limited = [e for e in ipamd.log_events() if e.get("event") == "request_limited"]
    assert limited and limited[0]["peer_identity"] == "spiffe://podnet.local/node/node-a"


async def test_calls_per_identity(ipamd_factory: IpamdFactory) -> None:
    ipamd = await ipamd_factory.start("--max-calls-per-identity", "2")
    stub = ipamd.node_stub("node-a")
    held = await acquire(stub, "node-a")
    results = await asyncio.gather(*(outcome(allocate(stub, held, f"c{i}")) for i in range(40)))
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    granted = [r for r in results if not isinstance(r, grpc.aio.AioRpcError)]
    assert refused and granted
    assert {(e.code(), limit_of(e)) for e in refused} == {
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "calls_per_identity")
    }
    assert len({r.address for r in granted}) == len(granted)
    # Nothing leaked: once calm, every slot is free again.
    for i in range(5):
        await allocate(stub, held, f"after-{i}")


async def test_the_reservation_queue_is_bounded(ipamd_factory: IpamdFactory) -> None:
    ipamd = await ipamd_factory.start(
        "--max-queued-reservations", "1", "--cluster-cidr", "10.9.0.0/16"
    )
    stubs = [ipamd.node_stub(f"node-{n}") for n in range(4)]
    ranges = [await acquire(stub, f"node-{n}") for n, stub in enumerate(stubs)]
    results = await asyncio.gather(
        *(outcome(allocate(stubs[i % 4], ranges[i % 4], f"c{i}")) for i in range(80))
    )
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    granted = [r for r in results if not isinstance(r, grpc.aio.AioRpcError)]
    assert refused and granted
    assert {(e.code(), limit_of(e)) for e in refused} == {
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "queued_reservations")
    }
    assert len({r.address for r in granted}) == len(granted)


async def test_a_request_larger_than_the_limit_is_refused_unread(ipamd: Ipamd) -> None:
    stub = ipamd.node_stub("node-a")
    held = await acquire(stub, "node-a")
    huge = allocate(stub, held, "c" * 70_000)
    error = await rpc_error(huge)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    listed = await stub.ListAllocations(ipam_pb2.ListAllocationsRequest(node="node-a"))
    assert list(listed.allocations) == []


async def test_a_call_longer_than_the_server_deadline_ends_in_deadline_exceeded(
    ipamd_factory: IpamdFactory,
) -> None:
    ipamd = await ipamd_factory.start("--call-timeout", "0.000001")
    error = await rpc_error(acquire(ipamd.node_stub("node-a"), "node-a"))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "limit" in (error.details() or "")
    limited = [e for e in ipamd.log_events() if e.get("event") == "request_limited"]
    assert limited and limited[0]["limit"] == "call_timeout"


async def test_limit_flags_are_checked(ipamd_factory: IpamdFactory) -> None:
    for flag, value in (
        ("--max-calls-per-identity", "0"),
        ("--max-streams-per-identity", "0"),
        ("--call-timeout", "0"),
        ("--max-request-bytes", "0"),
        ("--max-queued-reservations", "0"),
    ):
        argv = ipamd_factory.argv("127.0.0.1:0", flag, value)
        done = await asyncio.to_thread(
            subprocess.run, argv, capture_output=True, text=True, timeout=30, check=False
        )
        assert done.returncode == 2, flag
        assert flag in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
async def test_a_resume_older_than_the_replay_window_gets_a_snapshot(
    ipamd_factory: IpamdFactory,
) -> None:
    ipamd = await ipamd_factory.start("--node-lease-ttl", "300")
    stub = ipamd.node_stub("node-a")
    held = await acquire(stub, "node-a")
    watch = stub.WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest())
    start = (await next_event(watch)).revision
    watch.cancel()
    # Push etcd's revision past the window with unrelated writes under the test's prefix.
    async with ipamd_factory.etcd_connection() as connection:
        kv = (await connection.client_for(connection.active_endpoint)).kvstub
        key = f"{ipamd_factory.prefix}/filler".encode()

        async def put(n: int) -> None:
            await kv.Put(rpc.PutRequest(key=key, value=b"%d" % n), timeout=10)

        for first in range(0, MAX_REPLAY_REVISIONS + 100, 500):
            await asyncio.gather(*(put(n) for n in range(first, first + 500)))
    for resume in (1, start, 10**12):  # far back; just out of the window; in the future
        resumed = stub.WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest(resume_revision=resume))
        event = await next_event(resumed)
        assert event.WhichOneof("change") == "snapshot", resume
        assert [(r.node, r.cidr) for r in event.snapshot.ranges] == [("node-a", held.cidr)]
        assert event.revision > start + MAX_REPLAY_REVISIONS
        resumed.cancel()
