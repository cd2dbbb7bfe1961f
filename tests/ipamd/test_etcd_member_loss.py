"""Losing an etcd member of a three-member cluster under allocation churn: ipamd fails
over to the next endpoint, gives no address twice, leaks none, keeps every node range and
resumes its range watch on a surviving member.

The member lost is the one ipamd talks to and also the raft leader, the worst case: the
cluster elects a new leader while ipamd reconnects.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from aetcd import rpc
from podnet.tls.files import TlsFiles
from podnet.v1 import ipam_pb2, ipam_pb2_grpc

from ipamd.config import EtcdAddress
from ipamd.etcd_connection import EtcdConnection, prefix_end
from podnetctl.etcd_access import EtcdAccess
from tests.ipamd.conftest import IpamdFactory, acquire, allocate, next_event
from tools.lab.etcd_server import EtcdServer
from tools.lab.pki import IPAMD_ETCD_USER, LabPki
from tools.lab.ports import free_port

MEMBERS = 3
WORKERS = 8
CHURN_SECONDS = 8.0
LOSS_AFTER_SECONDS = 2.0
# What a caller may see while ipamd fails over; anything else is a bug.
TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def address_of(member: EtcdServer) -> EtcdAddress:
    return EtcdAddress(member.endpoint.host, member.endpoint.client_port)


async def member_status(member: EtcdServer, tls: TlsFiles) -> rpc.StatusResponse:
    connection = EtcdConnection([address_of(member)], timeout=2.0, tls=tls)
    try:
        client = await connection.client_for(address_of(member))
        status: rpc.StatusResponse = await client.maintenancestub.Status(
            rpc.StatusRequest(), timeout=2.0
        )
        return status
    finally:
        await connection.close()


async def wait_for_leader(
    members: list[EtcdServer], tls: TlsFiles, within: float = 30.0
) -> EtcdServer:
    """The member that is raft leader, once all members agree there is one."""
    deadline = time.monotonic() + within
    while True:
        try:
            statuses = [await member_status(member, tls) for member in members]
            leaders = {status.leader for status in statuses}
            if len(leaders) == 1 and 0 not in leaders:
                (leader_id,) = leaders
                for member, status in zip(members, statuses, strict=True):
                    if status.header.member_id == leader_id:
                        return member
        except grpc.aio.AioRpcError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("the etcd cluster elected no leader")
        await asyncio.sleep(0.2)


@pytest.fixture
def etcd_cluster(tmp_path: Path, pki: LabPki, etcd_prefix: str) -> Iterator[list[EtcdServer]]:
    """Three members talking TLS to each other and to clients, with RBAC on."""
    ports = [(free_port(), free_port()) for _ in range(MEMBERS)]
    peers = {f"member{i}": f"https://127.0.0.1:{peer}" for i, (_, peer) in enumerate(ports)}
    members = [
        EtcdServer(
            tmp_path / name / "data",
            "127.0.0.1",
            client,
            peer,
            tls=pki.etcd_member(name, "127.0.0.1"),
            name=name,
            cluster=peers,
        )
        for name, (client, peer) in zip(peers, ports, strict=True)
    ]
    try:
        for member in members:
            member.launch()
        for member in members:
            member.wait_serving(30.0)
        members[0].enable_auth(pki.etcd_root(), EtcdAccess(etcd_prefix, IPAMD_ETCD_USER))
        yield members
    finally:
        for member in members:
            member.stop()


@dataclass
class ChurnRecord:
    allocated: int = 0
    allocated_after_loss: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    duplicates: list[str] = field(default_factory=list)
    live: dict[str, str] = field(default_factory=dict)  # address -> container id
    slowest_allocation: float = 0.0


async def release_until_done(
    stub: ipam_pb2_grpc.IpamAsyncStub, node: str, container_id: str, record: ChurnRecord
) -> None:
    """Like the shim's spooled DEL: retried until ipamd answers."""
    while True:
        try:
            await stub.ReleasePodIp(
                ipam_pb2.ReleasePodIpRequest(node=node, container_id=container_id, ifname="eth0"),
                timeout=10,
            )
            return
        except grpc.aio.AioRpcError as error:
            assert error.code() in TRANSIENT, (error.code(), error.details())
            assert error.details(), "a failure must say why"
            record.failures[f"release {error.code().name}"] += 1
            await asyncio.sleep(0.1)


async def churn(
    stub: ipam_pb2_grpc.IpamAsyncStub,
    node_range: ipam_pb2.NodeRange,
    worker: int,
    until: float,
    lost: asyncio.Event,
    record: ChurnRecord,
) -> None:
    count = 0
    while time.monotonic() < until:
        count += 1
        container_id = f"w{worker}-{count}"
        started = time.monotonic()
        try:
            reply = await allocate(stub, node_range, container_id)
        except grpc.aio.AioRpcError as error:
            assert error.code() in TRANSIENT, (error.code(), error.details())
            assert error.details(), "a failure must say why"
            record.failures[f"allocate {error.code().name}"] += 1
        else:
            holder = record.live.get(reply.address)
            if holder is not None:
                record.duplicates.append(f"{reply.address}: {holder} and {container_id}")
            record.live[reply.address] = container_id
            record.allocated += 1
            record.allocated_after_loss += lost.is_set()
            record.slowest_allocation = max(record.slowest_allocation, time.monotonic() - started)
        # A pod stops being live when its DEL starts: a release that committed on the member
        # that died may be answered only after the retry on a survivor, by which time its
        # address can already be someone else's, rightly.
        for address, holder in list(record.live.items()):
            if holder == container_id:
                del record.live[address]
        # The runtime's DEL follows a failed ADD too; the allocation may have committed.
        await release_until_done(stub, node_range.node, container_id, record)


async def keep_ranges(
    stub: ipam_pb2_grpc.IpamAsyncStub,
    ranges: list[ipam_pb2.NodeRange],
    stop: asyncio.Event,
    lost_ranges: list[str],
) -> None:
    """The agents' heartbeat. NOT_FOUND would mean a node lost its range."""
    while not stop.is_set():
        for node_range in ranges:
            try:
                await stub.RenewNodeRange(
                    ipam_pb2.RenewNodeRangeRequest(node=node_range.node, cidr=node_range.cidr),
                    timeout=5,
                )
            except grpc.aio.AioRpcError as error:
                if error.code() not in TRANSIENT:
                    lost_ranges.append(f"{node_range.node}: {error.code().name}")
        await asyncio.sleep(0.5)


def ranges_in(change: ipam_pb2.NodeRangeEvent) -> list[ipam_pb2.NodeRange]:
    kind = change.WhichOneof("change")
    if kind == "snapshot":
        return list(change.snapshot.ranges)
    return [change.added] if kind == "added" else []


async def changes_until_added(
    call: object, node: str
) -> tuple[list[ipam_pb2.NodeRangeEvent], ipam_pb2.NodeRange]:
    """The stream's events up to the one that shows `node`, and that node's range."""
    changes = []
    while True:
        change = await next_event(call, within=30.0)
        changes.append(change)
        for shown in ranges_in(change):
            if shown.node == node:
                return changes, shown


async def stored_ips(members: list[EtcdServer], tls: TlsFiles, prefix: str) -> int:
    connection = EtcdConnection([address_of(member) for member in members], timeout=5.0, tls=tls)
    try:
        key = f"{prefix}/ips/".encode()
        reply = await connection.range(key, prefix_end(key))
        count: int = reply.count
        return count
    finally:
        await connection.close()


@pytest.mark.parametrize("loss", ["killed", "frozen"])
async def test_losing_the_leader_member_ipamd_uses_loses_and_leaks_nothing(
    etcd_cluster: list[EtcdServer], ipamd_factory: IpamdFactory, loss: str
) -> None:
    tls = ipamd_factory.etcd_tls
    leader = await wait_for_leader(etcd_cluster, tls)
    survivors = [member for member in etcd_cluster if member is not leader]
    endpoints = ",".join(member.endpoint.address for member in [leader, *survivors])
    ipamd = await ipamd_factory.start("--node-lease-ttl", "6", etcd=endpoints)
    stub = ipamd.stub()
    ranges = [await acquire(stub, f"node-{i}", f"192.0.2.{10 + i}") for i in range(2)]
    watch = stub.WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest())
    snapshot = await next_event(watch)
    assert {r.node for r in snapshot.snapshot.ranges} == {"node-0", "node-1"}

    record = ChurnRecord()
    lost = asyncio.Event()
    stop_heartbeats = asyncio.Event()
    lost_ranges: list[str] = []
    until = time.monotonic() + CHURN_SECONDS
    heartbeats = asyncio.create_task(keep_ranges(stub, ranges, stop_heartbeats, lost_ranges))
    workers = [
        asyncio.create_task(churn(stub, ranges[w % 2], w, until, lost, record))
        for w in range(WORKERS)
    ]
    await asyncio.sleep(LOSS_AFTER_SECONDS)
    assert leader.process is not None
    if loss == "killed":
        leader.process.kill()
    else:
        os.kill(leader.process.pid, signal.SIGSTOP)
    lost.set()
    try:
        await asyncio.gather(*workers)
        new_range = await acquire(stub, "node-late", "192.0.2.30")
        changes, late_range = await changes_until_added(watch, "node-late")
    finally:
        stop_heartbeats.set()
        await heartbeats
        if loss == "frozen":
            os.kill(leader.process.pid, signal.SIGCONT)

    print(f"{loss}: {record.allocated} allocations, after the loss {record.allocated_after_loss}")
    print(f"failures seen by callers: {dict(record.failures)}")
    print(f"slowest allocation: {record.slowest_allocation:.2f}s")
    assert record.duplicates == []
    assert record.allocated_after_loss >= WORKERS, "ipamd did not recover from the loss"
    assert lost_ranges == []
    # The watch resumed on a surviving member: no node was reported gone, the new one came.
    assert [c for c in changes if c.WhichOneof("change") == "removed"] == []
    for change in changes:
        if change.WhichOneof("change") == "snapshot":
            assert {"node-0", "node-1"} <= {r.node for r in change.snapshot.ranges}
    assert late_range.cidr == new_range.cidr
    assert await stored_ips(survivors, tls, ipamd_factory.prefix) == 0
    again = await acquire(stub, "node-0", "192.0.2.10")
    assert again.cidr == ranges[0].cidr
    watch.cancel()
