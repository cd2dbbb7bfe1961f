"""The reservation batcher against a real etcd: batched transactions keep every request's
own create-if-absent, idempotency and range-claim guarantees, also under conflicts."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from podnet.tls.files import TlsFiles

from ipamd.config import EtcdAddress
from ipamd.etcd_connection import EtcdConnection
from ipamd.keys import KeyLayout
from ipamd.records import AttachmentRecord, IpRecord, PodRef
from ipamd.reservation_batcher import ReservationBatcher
from ipamd.store import ClaimOutcome, EtcdStore, Reservation, ReserveOutcome, ReserveResult
from tests.ipamd.conftest import IpamdFactory, acquire, allocate
from tools.lab.etcd_server import EtcdEndpoint

RANGE_A = ipaddress.IPv4Network("10.244.1.0/24")
RANGE_B = ipaddress.IPv4Network("10.244.2.0/24")


@dataclass
class Replica:
    connection: EtcdConnection
    store: EtcdStore
    batcher: ReservationBatcher


@pytest.fixture
async def replicas(
    etcd: EtcdEndpoint, etcd_client_tls: TlsFiles, etcd_prefix: str
) -> AsyncIterator[list[Replica]]:
    """Two independent in-process replicas (own etcd connection, store and batcher), with
    RANGE_A claimed by node-a and RANGE_B by node-b."""
    made = []
    for _ in range(2):
        connection = EtcdConnection(
            [EtcdAddress(etcd.host, etcd.client_port)], timeout=5.0, tls=etcd_client_tls
        )
        store = EtcdStore(connection, KeyLayout(etcd_prefix))
        made.append(Replica(connection, store, ReservationBatcher(store)))
    store = made[0].store
    for node, node_range in (("node-a", RANGE_A), ("node-b", RANGE_B)):
        lease = await store.grant_lease(60)
        assert await store.claim_new_range(node, node_range, "192.0.2.1", lease) is (
            ClaimOutcome.CLAIMED
        )
    yield made
    for replica in made:
        await replica.batcher.close()
        await replica.connection.close()


def wanted(node: str, node_range: ipaddress.IPv4Network, host: int, container: str) -> Reservation:
    return Reservation(
        node_range,
        node_range.network_address + host,
        IpRecord(container, "eth0", node, PodRef("default", container, f"uid-{container}")),
    )


async def mod_revisions(replica: Replica, prefix: str) -> dict[str, int]:
    kvs, _ = await replica.connection.range_prefix(prefix.encode())
    return {kv.key.decode().removeprefix(prefix): kv.mod_revision for kv in kvs}


async def test_a_batch_with_conflicts_still_answers_every_request(
    replicas: list[Replica],
) -> None:
    store, batcher = replicas[0].store, replicas[0].batcher
    assert (await batcher.reserve(wanted("node-a", RANGE_A, 5, "old"))).outcome is (
        ReserveOutcome.RESERVED
    )
    assert (await batcher.reserve(wanted("node-a", RANGE_A, 6, "retry"))).outcome is (
        ReserveOutcome.RESERVED
    )

    # Submitted together, so they share transactions; the first batch fails its compares.
    results = await asyncio.gather(
        batcher.reserve(wanted("node-a", RANGE_A, 10, "fresh-1")),
        batcher.reserve(wanted("node-a", RANGE_A, 5, "takes-a-taken-address")),
        batcher.reserve(wanted("node-a", RANGE_A, 11, "retry")),
        batcher.reserve(wanted("node-a", RANGE_B, 20, "in-someone-elses-range")),
        batcher.reserve(wanted("node-a", RANGE_A, 12, "fresh-2")),
        batcher.reserve(wanted("node-a", RANGE_A, 13, "fresh-1")),
        batcher.reserve(wanted("node-b", RANGE_B, 21, "fresh-3")),
    )
    assert [r.outcome for r in results] == [
        ReserveOutcome.RESERVED,
        ReserveOutcome.ADDRESS_TAKEN,
        ReserveOutcome.ATTACHMENT_EXISTS,
        ReserveOutcome.RANGE_NOT_HELD,
        ReserveOutcome.RESERVED,
        ReserveOutcome.ATTACHMENT_EXISTS,
        ReserveOutcome.RESERVED,
    ]
    assert results[2] == ReserveResult(
        ReserveOutcome.ATTACHMENT_EXISTS, AttachmentRecord("10.244.1.6", str(RANGE_A), "node-a")
    )
    assert results[5].existing is not None and results[5].existing.address == "10.244.1.10"

    ips = await mod_revisions(replicas[0], store.keys.ips)
    assert set(ips) == {
        "10.244.1.0-24/10.244.1.5",
        "10.244.1.0-24/10.244.1.6",
        "10.244.1.0-24/10.244.1.10",
        "10.244.1.0-24/10.244.1.12",
        "10.244.2.0-24/10.244.2.21",
    }
    # The three requests that did not conflict went in one transaction after the failed one.
    fresh = {ips["10.244.1.0-24/10.244.1.10"], ips["10.244.1.0-24/10.244.1.12"]}
    assert fresh == {ips["10.244.2.0-24/10.244.2.21"]}
    attachments = await mod_revisions(replicas[0], f"{store.keys.prefix}/attachments/")
    assert attachments["10.244.1.0-24/fresh-1/eth0"] == ips["10.244.1.0-24/10.244.1.10"]
    assert "10.244.2.0-24/in-someone-elses-range/eth0" not in attachments


async def test_replicas_batching_the_same_addresses_never_give_one_twice(
    replicas: list[Replica],
) -> None:
    hosts = range(2, 102)
    # Both replicas want every address, for different containers, at the same time.
    results = await asyncio.gather(
        *(
            replica.batcher.reserve(wanted("node-a", RANGE_A, host, f"r{index}-{host}"))
            for host in hosts
            for index, replica in enumerate(replicas)
        )
    )
    outcomes = [r.outcome for r in results]
    assert outcomes.count(ReserveOutcome.RESERVED) == len(hosts)
    assert outcomes.count(ReserveOutcome.ADDRESS_TAKEN) == len(hosts)
    store = replicas[0].store
    ips = await mod_revisions(replicas[0], store.keys.ips)
    attachments = await mod_revisions(replicas[0], f"{store.keys.prefix}/attachments/")
    assert len(ips) == len(attachments) == len(hosts)
    # Each winner's attachment was written with its ip record.
    assert sorted(ips.values()) == sorted(attachments.values())


async def test_replicas_racing_for_a_small_range_fill_it_exactly_once(
    ipamd_factory: IpamdFactory,
) -> None:
    flags = ("--cluster-cidr", "10.9.0.0/26", "--node-prefix-length", "27")
    replicas = [await ipamd_factory.start(*flags), await ipamd_factory.start(*flags)]
    stubs = [replica.stub() for replica in replicas]
    held = await acquire(stubs[0], "node-a")
    free = 29  # a /27 minus network, gateway and broadcast
    outcomes = await asyncio.gather(
        *(allocate(stubs[i % 2], held, f"c{i}") for i in range(2 * free)),
        return_exceptions=True,
    )
    granted = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(granted) == free
    assert len({g.address for g in granted}) == free
    assert all(
        isinstance(r, grpc.aio.AioRpcError) and r.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        for r in refused
    )
    # Retries of the winners, on either replica, get their own address back.
    for i, grant in enumerate(granted[:6]):
        again = await allocate(stubs[i % 2], held, grant.container_id)
        assert again.address == grant.address
