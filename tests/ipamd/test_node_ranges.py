from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable

import grpc
from podnet.v1 import ipam_pb2

from tests.ipamd.conftest import (
    IPAMD,
    Ipamd,
    IpamdFactory,
    acquire,
    allocate,
    etcd_get,
    rpc_error,
)


async def test_config_mismatch_is_refused_with_one_line(ipamd_factory: IpamdFactory) -> None:
    first = await ipamd_factory.start()
    assert await first.stop() == 0
    argv = ipamd_factory.argv("127.0.0.1:0", "--cluster-cidr", "10.245.0.0/16")
    done = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "10.244.0.0/16" in lines[0] and "10.245.0.0/16" in lines[0]
    assert "refusing to start" in lines[0]


async def test_bad_flag_is_one_line_and_exit_2() -> None:
    done = await asyncio.to_thread(
        subprocess.run,
        [IPAMD, "--node-prefix-length", "12"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "/12" in done.stderr


async def test_acquire_is_idempotent_and_nodes_get_distinct_ranges(ipamd: Ipamd) -> None:
    stub = ipamd.stub()
    first = await acquire(stub, "node-a", "192.0.2.1")
    assert first.cidr.endswith("/24") and first.cidr.startswith("10.244.")
    assert first.gateway == first.cidr.split("/")[0][:-1] + "1"
    assert first.cluster_cidr == "10.244.0.0/16"
    assert first.lease_ttl_seconds == 15
    again = await acquire(stub, "node-a", "192.0.2.1")
    assert again.cidr == first.cidr
    moved = await acquire(stub, "node-a", "192.0.2.99")
    assert moved.cidr == first.cidr and moved.node_ip == "192.0.2.99"
    others = [await acquire(stub, f"node-{i}") for i in range(5)]
    cidrs = {first.cidr, *(r.cidr for r in others)}
    assert len(cidrs) == 6


async def test_concurrent_acquires_on_two_replicas_never_share_a_range(
    ipamd_factory: IpamdFactory,
) -> None:
    replicas = [await ipamd_factory.start(), await ipamd_factory.start()]
    stubs = [r.stub() for r in replicas]
    grants = await asyncio.gather(*(acquire(stubs[i % 2], f"node-{i // 2}") for i in range(40)))
    by_node: dict[str, set[str]] = {}
    for grant in grants:
        by_node.setdefault(grant.node, set()).add(grant.cidr)
    assert all(len(cidrs) == 1 for cidrs in by_node.values()), by_node
    assert len({next(iter(c)) for c in by_node.values()}) == 20


async def test_range_exhaustion_names_the_cluster_cidr(ipamd_factory: IpamdFactory) -> None:
    ipamd = await ipamd_factory.start("--cluster-cidr", "10.9.0.0/26", "--node-prefix-length", "28")
    stub = ipamd.stub()
    grants = [await acquire(stub, f"n{i}") for i in range(4)]
    assert sorted(g.cidr for g in grants) == [
        "10.9.0.0/28",
        "10.9.0.16/28",
        "10.9.0.32/28",
        "10.9.0.48/28",
    ]
    error = await rpc_error(acquire(stub, "n4"))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "10.9.0.0/26" in (error.details() or "")


async def _heartbeat_exists(factory: IpamdFactory, node: str) -> bool:
    async with factory.etcd_connection() as connection:
        return await etcd_get(connection, f"{factory.prefix}/heartbeats/{node}") is not None


async def _wait_for(condition: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def test_quarantine_keeps_a_returning_node_and_reclaims_a_dead_one(
    ipamd_factory: IpamdFactory,
) -> None:
    # One node range only, so a second node can only get it after reclaim.
    ipamd = await ipamd_factory.start(
        "--cluster-cidr",
        "10.9.0.0/28",
        "--node-prefix-length",
        "28",
        "--node-lease-ttl",
        "2",
        "--quarantine",
        "3",
    )
    stub = ipamd.stub()
    prefix = ipamd_factory.prefix
    held = await acquire(stub, "old-node")
    pods = {(await allocate(stub, held, f"c{i}")).address for i in range(3)}

    # Silent past the lease TTL but back within quarantine: same range, same pods.
    await _wait_for(
        lambda: _not(_heartbeat_exists(ipamd_factory, "old-node")), 8, "heartbeat expiry"
    )
    await asyncio.sleep(1.0)
    renewed = await stub.RenewNodeRange(
        ipam_pb2.RenewNodeRangeRequest(node="old-node", cidr=held.cidr), timeout=5
    )
    assert renewed.cidr == held.cidr
    assert await _heartbeat_exists(ipamd_factory, "old-node")
    listed = await stub.ListAllocations(ipam_pb2.ListAllocationsRequest(node="old-node"))
    assert {a.address for a in listed.allocations} == pods
    # A live node keeps its range across several TTLs by renewing.
    for _ in range(3):
        await asyncio.sleep(1.0)
        await stub.RenewNodeRange(
            ipam_pb2.RenewNodeRangeRequest(node="old-node", cidr=held.cidr), timeout=5
        )
    error = await rpc_error(acquire(stub, "new-node"))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    # Silent past TTL + quarantine: the range goes to another node, without old pods.
    async def new_node_gets_range() -> bool:
        try:
            return (await acquire(stub, "new-node")).cidr == held.cidr
        except grpc.aio.AioRpcError as failure:
            assert failure.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            return False

    started = time.monotonic()
    await _wait_for(new_node_gets_range, 15, "reclaim")
    reclaim_seconds = time.monotonic() - started
    assert reclaim_seconds >= 3.0
    print(f"\nreclaim after last renew: {reclaim_seconds:.1f}s (ttl 2s + quarantine 3s)")
    listed = await stub.ListAllocations(ipam_pb2.ListAllocationsRequest(node="new-node"))
    assert list(listed.allocations) == []
    range_id = held.cidr.replace("/", "-")
    async with ipamd_factory.etcd_connection() as connection:
        for kind in ("ips", "attachments"):
            left, _ = await connection.range_prefix(f"{prefix}/{kind}/{range_id}/".encode())
            assert len(left) == 0, kind
        assert await etcd_get(connection, f"{prefix}/nodes/old-node") is None
    gone = await rpc_error(
        stub.RenewNodeRange(ipam_pb2.RenewNodeRangeRequest(node="old-node", cidr=held.cidr))
    )
    assert gone.code() == grpc.StatusCode.NOT_FOUND
    assert held.cidr in (gone.details() or "")
    fresh = await allocate(stub, await acquire(stub, "new-node"), "c0")
    assert fresh.node == "new-node"


async def _not(awaitable: Awaitable[bool]) -> bool:
    return not await awaitable


async def test_heartbeats_that_lapsed_while_no_ipamd_ran_are_restored_at_start(
    ipamd_factory: IpamdFactory,
) -> None:
    flags = ("--node-lease-ttl", "2", "--quarantine", "30")
    first = await ipamd_factory.start(*flags)
    stub = first.stub()
    prefix = ipamd_factory.prefix
    await acquire(stub, "quarantined")
    # The first ipamd sees this one lapse: it gets a quarantine mark.
    await _wait_for(lambda: _not(_heartbeat_exists(ipamd_factory, "quarantined")), 8, "first lapse")

    async def marked() -> bool:
        async with ipamd_factory.etcd_connection() as connection:
            return await etcd_get(connection, f"{prefix}/quarantine/quarantined") is not None

    await _wait_for(marked, 5, "quarantine mark")
    await acquire(stub, "alive")
    await first.stop()
    # No ipamd runs while this lease lapses: no replica can tell whether the node lives.
    await _wait_for(lambda: _not(_heartbeat_exists(ipamd_factory, "alive")), 8, "second lapse")

    second = await ipamd_factory.start(*flags)
    assert await _heartbeat_exists(ipamd_factory, "alive")
    assert not await _heartbeat_exists(ipamd_factory, "quarantined")
    restored = [e for e in second.log_events() if "restored" in str(e.get("event", ""))]
    assert restored and restored[0].get("nodes") == ["alive"]
