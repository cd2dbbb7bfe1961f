from __future__ import annotations

import asyncio
import ipaddress
import time

import grpc
from podnet.v1 import ipam_pb2

from tests.ipamd.conftest import Ipamd, IpamdFactory, acquire, allocate, etcd_get, rpc_error


def _release(node: str, container_id: str, ifname: str = "eth0") -> ipam_pb2.ReleasePodIpRequest:
    return ipam_pb2.ReleasePodIpRequest(node=node, container_id=container_id, ifname=ifname)


async def _listed(ipamd: Ipamd, node: str) -> dict[str, str]:
    reply = await ipamd.stub().ListAllocations(ipam_pb2.ListAllocationsRequest(node=node))
    return {a.container_id: a.address for a in reply.allocations}


async def test_allocation_is_idempotent_and_fills_the_range_exactly(
    ipamd_factory: IpamdFactory,
) -> None:
    ipamd = await ipamd_factory.start("--cluster-cidr", "10.9.0.0/26", "--node-prefix-length", "28")
    stub = ipamd.stub()
    held = await acquire(stub, "node-a")
    network = ipaddress.IPv4Network(held.cidr)
    first = await allocate(stub, held, "c0")
    assert (first.prefix_length, first.gateway, first.cidr) == (28, held.gateway, held.cidr)
    assert first.pod.k8s_name == "c0" and first.node == "node-a"
    assert (await allocate(stub, held, "c0")).address == first.address
    second_if = await allocate(stub, held, "c0", ifname="net1")
    assert second_if.address != first.address
    addresses = {first.address, second_if.address}
    for i in range(1, 12):
        addresses.add((await allocate(stub, held, f"c{i}")).address)
    assert len(addresses) == 13  # a /28 minus network, gateway and broadcast
    forbidden = {network.network_address, network.network_address + 1, network.broadcast_address}
    assert all(ipaddress.IPv4Address(a) in network for a in addresses)
    assert not {ipaddress.IPv4Address(a) for a in addresses} & forbidden

    full = await rpc_error(allocate(stub, held, "one-too-many"))
    assert full.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert held.cidr in (full.details() or "")
    # A retried ADD still gets its address when the range is full.
    assert (await allocate(stub, held, "c5")).address in addresses


async def test_released_address_is_not_reused_immediately(ipamd: Ipamd) -> None:
    stub = ipamd.stub()
    held = await acquire(stub, "node-a")
    first = await allocate(stub, held, "c0")
    reply = await stub.ReleasePodIp(_release("node-a", "c0"))
    assert reply.released and reply.address == first.address
    later = [(await allocate(stub, held, f"c{i}")).address for i in range(1, 20)]
    assert first.address not in later


async def test_release_only_deletes_what_the_caller_owns(ipamd: Ipamd) -> None:
    stub = ipamd.stub()
    held = await acquire(stub, "node-a")
    await acquire(stub, "node-b")
    owned = await allocate(stub, held, "c0")

    for wrong in (
        _release("node-a", "c0", "net1"),
        _release("node-a", "c9"),
        _release("node-b", "c0"),
        _release("no-such-node", "c0"),
    ):
        reply = await stub.ReleasePodIp(wrong)
        assert not reply.released and reply.address == ""
    assert await _listed(ipamd, "node-a") == {"c0": owned.address}

    reply = await stub.ReleasePodIp(_release("node-a", "c0"))
    assert reply.released and reply.address == owned.address
    assert await _listed(ipamd, "node-a") == {}
    again = await stub.ReleasePodIp(_release("node-a", "c0"))
    assert not again.released


async def test_allocation_needs_the_range_the_node_holds(ipamd: Ipamd) -> None:
    stub = ipamd.stub()
    range_a = await acquire(stub, "node-a")
    range_b = await acquire(stub, "node-b")
    # Another node's range: refused by authorization (node-a's certificate) already.
    stolen = ipam_pb2.NodeRange(node="node-a", cidr=range_b.cidr)
    error = await rpc_error(allocate(stub, stolen, "c0"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert range_b.cidr in (error.details() or "")
    # A range nobody holds: the allocator's claim check.
    unclaimed = ipam_pb2.NodeRange(node="node-a", cidr="10.244.200.0/24")
    assert (await rpc_error(allocate(stub, unclaimed, "c0"))).code() == (
        grpc.StatusCode.FAILED_PRECONDITION
    )
    for bad in (
        ipam_pb2.NodeRange(node="node-a", cidr="10.99.0.0/24"),
        ipam_pb2.NodeRange(node="node-a", cidr="10.244.1.0/25"),
        ipam_pb2.NodeRange(node="node-a", cidr="not-a-cidr"),
    ):
        assert (await rpc_error(allocate(stub, bad, "c0"))).code() == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
    assert (await rpc_error(allocate(stub, range_a, ""))).code() == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert (await rpc_error(allocate(stub, range_a, "c0", ifname=""))).code() == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert (await rpc_error(stub.ReleasePodIp(_release("node-a", "")))).code() == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert await _listed(ipamd, "node-a") == {}


async def test_two_replicas_never_give_an_address_twice(ipamd_factory: IpamdFactory) -> None:
    replicas = [await ipamd_factory.start(), await ipamd_factory.start()]
    stubs = [replica.stub() for replica in replicas]
    held = await acquire(stubs[0], "node-a")
    count = 200
    started = time.perf_counter()
    results = await asyncio.gather(*(allocate(stubs[i % 2], held, f"c{i}") for i in range(count)))
    elapsed = time.perf_counter() - started
    by_container = {r.container_id: r.address for r in results}
    assert len(by_container) == count
    assert len(set(by_container.values())) == count
    # Retries land on the other replica and still get the same address.
    retries = await asyncio.gather(
        *(allocate(stubs[(i + 1) % 2], held, f"c{i}") for i in range(0, count, 7))
    )
    assert all(by_container[r.container_id] == r.address for r in retries)
    assert await _listed(replicas[1], "node-a") == by_container
    print(f"\n{count} concurrent allocations over 2 replicas: {elapsed * 1e3:.0f} ms")


async def test_restart_keeps_allocations_and_idempotency(ipamd_factory: IpamdFactory) -> None:
    ipamd = await ipamd_factory.start()
    stub = ipamd.stub()
    held = await acquire(stub, "node-a")
    before = {f"c{i}": (await allocate(stub, held, f"c{i}")).address for i in range(10)}
    assert await ipamd.stop() == 0

    restarted = await ipamd_factory.start()
    stub = restarted.stub()
    assert (await acquire(stub, "node-a")).cidr == held.cidr
    assert await _listed(restarted, "node-a") == before
    assert (await allocate(stub, held, "c3")).address == before["c3"]
    new = {(await allocate(stub, held, f"n{i}")).address for i in range(10)}
    assert not new & set(before.values())


async def test_allocation_records_follow_the_documented_layout(
    ipamd: Ipamd, ipamd_factory: IpamdFactory
) -> None:
    stub = ipamd.stub()
    held = await acquire(stub, "node-a")
    allocation = await allocate(stub, held, "c0")
    range_id = held.cidr.replace("/", "-")
    async with ipamd_factory.etcd_connection() as connection:
        base = ipamd_factory.prefix
        ip = await etcd_get(connection, f"{base}/ips/{range_id}/{allocation.address}")
        att = await etcd_get(connection, f"{base}/attachments/{range_id}/c0/eth0")
        claim = await etcd_get(connection, f"{base}/ranges/{range_id}")
    assert ip is not None and b'"container_id":"c0"' in ip.value
    assert att is not None and allocation.address.encode() in att.value
    assert ip.mod_revision == att.mod_revision  # one transaction wrote both
    assert claim is not None and claim.value == b'{"node":"node-a"}'
