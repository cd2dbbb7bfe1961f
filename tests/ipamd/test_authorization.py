"""The real ipamd authorizes every call from the caller's certificate: a node acts only for
itself and in its own range, an operator lists and releases, nobody else does anything.
A refused call changes nothing in etcd and is one JSON log line."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from podnet.tls.identity import Role
from podnet.v1 import ipam_pb2, ipam_pb2_grpc

from tests.ipamd.conftest import (
    Ipamd,
    IpamdFactory,
    acquire,
    allocate,
    next_event,
    pod,
    rpc_error,
)

EtcdDump = dict[str, tuple[bytes, int]]


async def dump(factory: IpamdFactory) -> EtcdDump:
    """Every key under the test's prefix with its value and last change."""
    async with factory.etcd_connection() as connection:
        kvs, _ = await connection.range_prefix(f"{factory.prefix}/".encode())
    return {kv.key.decode(): (kv.value, kv.mod_revision) for kv in kvs}


async def refused_without_change(
    factory: IpamdFactory, call: Callable[[], Awaitable[object]], code: grpc.StatusCode
) -> str:
    """Makes the call (a gRPC call starts when it is created: hence a function) between
    two dumps of etcd."""
    before = await dump(factory)
    error = await rpc_error(call())
    assert error.code() == code, error
    assert await dump(factory) == before
    return error.details() or ""


def denials(ipamd: Ipamd) -> list[dict[str, object]]:
    return [e for e in ipamd.log_events() if e.get("event") == "request_denied"]


async def test_a_node_certificate_acts_only_for_its_own_node(
    ipamd: Ipamd, ipamd_factory: IpamdFactory
) -> None:
    control_plane, worker = ipamd.node_stub("control-plane"), ipamd.node_stub("worker")
    theirs = await acquire(control_plane, "control-plane", "192.0.2.2")
    their_pod = await allocate(control_plane, theirs, "their-pod")
    ours = await acquire(worker, "worker", "192.0.2.3")
    denied = grpc.StatusCode.PERMISSION_DENIED

    attempts: dict[str, Callable[[], Awaitable[object]]] = {
        "acquire the control-plane's range": lambda: acquire(worker, "control-plane", "192.0.2.3"),
        "renew the control-plane's range": lambda: worker.RenewNodeRange(
            ipam_pb2.RenewNodeRangeRequest(node="control-plane", cidr=theirs.cidr)
        ),
        "release the control-plane's pod": lambda: worker.ReleasePodIp(
            ipam_pb2.ReleasePodIpRequest(
                node="control-plane", container_id="their-pod", ifname="eth0"
            )
        ),
        "list the control-plane's pods": lambda: worker.ListAllocations(
            ipam_pb2.ListAllocationsRequest(node="control-plane")
        ),
        "allocate in the control-plane's range as itself": lambda: allocate(
            worker, ipam_pb2.NodeRange(node="worker", cidr=theirs.cidr), "c0"
        ),
        "allocate in the control-plane's range as it": lambda: allocate(worker, theirs, "c0"),
        "acquire a second range under another name": lambda: acquire(
            worker, "worker-2", "192.0.2.3"
        ),
    }
    for what, call in attempts.items():
        details = await refused_without_change(ipamd_factory, call, denied)
        assert "spiffe://podnet.local/node/worker" in details, what

    # Renewing the control-plane's range under its own name: the allocator's NOT_FOUND
    # ("you do not hold it"), which changes nothing either.
    await refused_without_change(
        ipamd_factory,
        lambda: worker.RenewNodeRange(
            ipam_pb2.RenewNodeRangeRequest(node="worker", cidr=theirs.cidr)
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    # Releasing the control-plane's pod under its own name finds nothing in its range.
    before = await dump(ipamd_factory)
    reply = await worker.ReleasePodIp(
        ipam_pb2.ReleasePodIpRequest(node="worker", container_id="their-pod", ifname="eth0")
    )
    assert not reply.released
    assert await dump(ipamd_factory) == before

    # What it may do, it can.
    assert (await allocate(worker, ours, "our-pod")).node == "worker"
    listed = await worker.ListAllocations(ipam_pb2.ListAllocationsRequest(node="worker"))
    assert [a.container_id for a in listed.allocations] == ["our-pod"]
    theirs_listed = await control_plane.ListAllocations(
        ipam_pb2.ListAllocationsRequest(node="control-plane")
    )
    assert [a.address for a in theirs_listed.allocations] == [their_pod.address]

    lines = denials(ipamd)
    assert len(lines) == len(attempts)
    assert {line["peer_identity"] for line in lines} == {"spiffe://podnet.local/node/worker"}
    assert {line["reason"] for line in lines} == {"node_mismatch", "range_of_another_node"}
    assert {line["method"] for line in lines} == {
        "AcquireNodeRange",
        "RenewNodeRange",
        "ReleasePodIp",
        "ListAllocations",
        "AllocatePodIp",
    }
    assert all(line["level"] == "warning" for line in lines)


async def test_an_operator_lists_and_releases_anything_but_takes_nothing(
    ipamd: Ipamd, ipamd_factory: IpamdFactory
) -> None:
    worker = ipamd.node_stub("worker")
    held = await acquire(worker, "worker")
    stuck = await allocate(worker, held, "stuck-pod")
    admin = ipamd.stub_as(Role.ADMIN, "admin")

    listed = await admin.ListAllocations(ipam_pb2.ListAllocationsRequest(node="worker"))
    assert [a.address for a in listed.allocations] == [stuck.address]
    for call in (
        lambda: acquire(admin, "worker"),
        lambda: admin.RenewNodeRange(ipam_pb2.RenewNodeRangeRequest(node="worker", cidr=held.cidr)),
        lambda: allocate(admin, held, "admin-pod"),
    ):
        await refused_without_change(ipamd_factory, call, grpc.StatusCode.PERMISSION_DENIED)
    released = await admin.ReleasePodIp(
        ipam_pb2.ReleasePodIpRequest(node="worker", container_id="stuck-pod", ifname="eth0")
    )
    assert released.released and released.address == stuck.address
    watch = admin.WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest())
    first = await next_event(watch)
    assert [r.node for r in first.snapshot.ranges] == ["worker"]
    watch.cancel()
    assert {line["reason"] for line in denials(ipamd)} == {"admin_cannot_allocate"}


def _every_unary_call(
    stub: ipam_pb2_grpc.IpamAsyncStub, held: ipam_pb2.NodeRange
) -> list[Callable[[], Awaitable[object]]]:
    return [
        lambda: acquire(stub, "worker"),
        lambda: stub.RenewNodeRange(ipam_pb2.RenewNodeRangeRequest(node="worker", cidr=held.cidr)),
        lambda: allocate(stub, held, "c0"),
        lambda: stub.ListAllocations(ipam_pb2.ListAllocationsRequest(node="worker")),
        lambda: stub.ReleasePodIp(
            ipam_pb2.ReleasePodIpRequest(node="worker", container_id="c0", ifname="eth0")
        ),
    ]


async def test_daemon_identities_of_the_same_ca_may_call_nothing(
    ipamd: Ipamd, ipamd_factory: IpamdFactory
) -> None:
    held = await acquire(ipamd.node_stub("worker"), "worker")
    # ipamd's etcd client certificate and an etcd member's: both are clients of the CA.
    for role, name in ((Role.ETCD_CLIENT, "ipamd"), (Role.ETCD_CLIENT, "worker")):
        stub = ipamd.stub_as(role, name)
        for call in _every_unary_call(stub, held):
            await refused_without_change(ipamd_factory, call, grpc.StatusCode.PERMISSION_DENIED)
        watch = stub.WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest())
        error = await rpc_error(watch.read())
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert {line["reason"] for line in denials(ipamd)} == {"role_not_allowed"}


async def test_pod_refs_are_not_identities(ipamd: Ipamd) -> None:
    """Nothing in a request can make a caller someone else: not a pod ref, not a node."""
    worker = ipamd.node_stub("worker")
    held = await acquire(worker, "worker")
    request = ipam_pb2.AllocatePodIpRequest(
        node="control-plane", cidr=held.cidr, container_id="c0", ifname="eth0", pod=pod("c0")
    )
    error = await rpc_error(worker.AllocatePodIp(request))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
