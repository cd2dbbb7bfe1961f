"""The ipamd RPCs podnetctl needs, on the real podnet-ipamd and the session's etcd:
ListNodes (lease, quarantine, pod counts), GetStatus, ReleasePodIp guarded by an address;
and, behind mutual TLS, ListNodes and GetStatus answer admin identities only."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from podnet.tls.files import TlsFiles, WatchedTlsFiles, load_material
from podnet.tls.grpc_credentials import channel_credentials, server_credentials
from podnet.tls.identity import Role
from podnet.v1 import ipam_pb2, ipam_pb2_grpc
from podnet.version import podnet_version

from ipamd.allocator import Allocator
from ipamd.config import ClusterConfig, EtcdAddress
from ipamd.etcd_connection import EtcdConnection
from ipamd.indexes import AddressIndex, ClaimIndex
from ipamd.keys import KeyLayout
from ipamd.metrics import IpamdMetrics
from ipamd.reservation_batcher import ReservationBatcher
from ipamd.servicer import IpamServicer
from ipamd.store import EtcdStore
from tests.ipamd.conftest import IpamdFactory, acquire, allocate, rpc_error
from tools.lab.etcd_server import EtcdEndpoint
from tools.lab.pki import LabPki

CLUSTER = "10.244.0.0/16"


async def list_nodes(stub: ipam_pb2_grpc.IpamAsyncStub) -> dict[str, ipam_pb2.NodeInfo]:
    reply = await stub.ListNodes(ipam_pb2.ListNodesRequest(), timeout=10)
    assert reply.cluster_cidr == CLUSTER
    return {node.node: node for node in reply.nodes}


async def test_list_nodes_reports_leases_quarantine_and_pod_counts(
    ipamd_factory: IpamdFactory,
) -> None:
    ipamd = await ipamd_factory.start(
        "--cluster-cidr", CLUSTER, "--node-lease-ttl", "2", "--quarantine", "60"
    )
    stub = ipamd.stub()
    live = await acquire(stub, "node-a", "192.0.2.1")
    silent = await acquire(stub, "node-b", "192.0.2.2")
    for container in ("c1", "c2"):
        await allocate(stub, live, container)

    nodes = await list_nodes(stub)

    assert set(nodes) == {"node-a", "node-b"}
    a, b = nodes["node-a"], nodes["node-b"]
    assert (a.cidr, a.node_ip, a.allocated) == (live.cidr, "192.0.2.1", 2)
    assert (b.cidr, b.node_ip, b.allocated) == (silent.cidr, "192.0.2.2", 0)
    for node in (a, b):
        assert node.live and not node.quarantined and node.quarantined_since == ""
        assert node.lease_ttl_seconds == 2 and 0 < node.lease_remaining_seconds <= 2

    # node-a keeps renewing; node-b falls silent, lapses and is quarantined.
    deadline = time.monotonic() + 15
    while True:
        await stub.RenewNodeRange(
            ipam_pb2.RenewNodeRangeRequest(node="node-a", cidr=live.cidr), timeout=10
        )
        nodes = await list_nodes(stub)
        if nodes["node-b"].quarantined or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)

    a, b = nodes["node-a"], nodes["node-b"]
    assert b.quarantined and not b.live, b
    assert (b.lease_ttl_seconds, b.lease_remaining_seconds) == (0, 0)
    assert b.quarantined_since.startswith("20") and b.cidr == silent.cidr
    assert a.live and not a.quarantined and a.allocated == 2


async def test_get_status_says_version_and_which_etcd_it_reaches(
    ipamd_factory: IpamdFactory, etcd: EtcdEndpoint
) -> None:
    ipamd = await ipamd_factory.start()
    status = await ipamd.stub().GetStatus(ipam_pb2.GetIpamStatusRequest(), timeout=10)

    assert status.version == podnet_version()
    assert status.etcd_reachable and status.etcd_endpoint == etcd.address


async def test_a_release_naming_an_address_releases_only_that_address(
    ipamd_factory: IpamdFactory,
) -> None:
    ipamd = await ipamd_factory.start()
    stub = ipamd.stub()
    node_range = await acquire(stub, "node-a")
    held = await allocate(stub, node_range, "c1")
    other = str(ipaddress.ip_address(held.address) + 1)

    def release(address: str) -> ipam_pb2.ReleasePodIpRequest:
        return ipam_pb2.ReleasePodIpRequest(
            node="node-a", container_id="c1", ifname="eth0", address=address
        )

    wrong = await stub.ReleasePodIp(release(other), timeout=10)
    assert not wrong.released
    reply = await stub.ListAllocations(ipam_pb2.ListAllocationsRequest(node="node-a"))
    assert [a.address for a in reply.allocations] == [held.address]

    right = await stub.ReleasePodIp(release(held.address), timeout=10)
    assert (right.released, right.address) == (True, held.address)


@asynccontextmanager
async def mtls_ipamd(
    pki: LabPki, etcd: EtcdEndpoint, etcd_client_tls: TlsFiles, prefix: str
) -> AsyncIterator[str]:
    """ipamd's servicer behind mutual TLS (as ipamd serves once its TLS lands), on the
    session's etcd: its address."""
    connection = EtcdConnection(
        [EtcdAddress(etcd.host, etcd.client_port)], 5.0, tls=etcd_client_tls
    )
    keys = KeyLayout(prefix)
    store = EtcdStore(connection, keys)
    cluster = ClusterConfig(ipaddress.IPv4Network(CLUSTER), 24)
    reserver = ReservationBatcher(store)
    allocator = Allocator(
        store, cluster, 15, ClaimIndex(keys, cluster), AddressIndex(keys), reserver
    )
    served = WatchedTlsFiles(pki.files(Role.IPAMD, "ipamd-mtls", ips=["127.0.0.1"]))
    servicer = IpamServicer(
        allocator, store, CLUSTER, 15, IpamdMetrics(), trust_domain=served.current().trust_domain
    )
    server = grpc.aio.server()
    ipam_pb2_grpc.add_IpamServicer_to_server(servicer, server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(served))
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)
        await reserver.close()
        await connection.close()


async def test_list_nodes_and_get_status_answer_admin_identities_only(
    pki: LabPki, etcd: EtcdEndpoint, etcd_client_tls: TlsFiles, etcd_prefix: str
) -> None:
    async with mtls_ipamd(pki, etcd, etcd_client_tls, etcd_prefix) as address:

        def stub(role: Role, name: str) -> ipam_pb2_grpc.IpamAsyncStub:
            material = load_material(pki.files(role, name))
            channel = grpc.aio.secure_channel(address, channel_credentials(material))
            channels.append(channel)
            return ipam_pb2_grpc.IpamStub(channel)

        channels: list[grpc.aio.Channel] = []
        try:
            node, admin = stub(Role.NODE, "worker"), stub(Role.ADMIN, "alice")
            for call in (
                node.ListNodes(ipam_pb2.ListNodesRequest(), timeout=10),
                node.GetStatus(ipam_pb2.GetIpamStatusRequest(), timeout=10),
            ):
                error = await rpc_error(call)
                assert error.code() == grpc.StatusCode.PERMISSION_DENIED
                assert "spiffe://podnet.local/node/worker" in (error.details() or "")
            await acquire(admin, "node-a")  # the agents' RPCs are not this rule's business
            nodes = await admin.ListNodes(ipam_pb2.ListNodesRequest(), timeout=10)
            assert [n.node for n in nodes.nodes] == ["node-a"]
            status = await admin.GetStatus(ipam_pb2.GetIpamStatusRequest(), timeout=10)
            assert status.version == podnet_version()
        finally:
            for channel in channels:
                await channel.close(None)
