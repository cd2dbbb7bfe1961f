"""ipamd's Allocator over an in-memory AllocationStore: which range or address it tries,
what it makes of each outcome, and how far it retries when it loses races."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import pytest

from ipamd.allocator import MAX_ADDRESS_ATTEMPTS, MAX_RANGE_ATTEMPTS, Allocator
from ipamd.config import ClusterConfig
from ipamd.errors import (
    Contention,
    InvalidRequest,
    NodeRangeGone,
    NodeRangeNotHeld,
    RangeExhausted,
    StoreUnavailable,
)
from ipamd.indexes import AddressIndex, ClaimIndex
from ipamd.keys import KeyLayout
from ipamd.records import PodRef
from ipamd.reservation_batcher import ReservationBatcher
from ipamd.store import Reservation
from tests.unit.memory_allocation_store import MemoryAllocationStore

pytestmark = pytest.mark.unit

Net = ipaddress.IPv4Network
Ip = ipaddress.IPv4Address

# 16 node ranges of 13 pod addresses each (.2 to .14 of every /28).
SMALL = ClusterConfig(Net("10.9.0.0/24"), 28)
R0, R1, R2, R3 = (Net(f"10.9.0.{16 * i}/28") for i in range(4))
LEASE_TTL = 10


@dataclass
class Ipamd:
    store: MemoryAllocationStore
    allocator: Allocator

    async def allocate(self, container_id: str, node: str = "a", cidr: Net = R0) -> Ip:
        pod = PodRef("default", f"pod-{container_id}", f"uid-{container_id}")
        attachment = await self.allocator.allocate_pod_ip(
            node, str(cidr), container_id, "eth0", pod
        )
        assert attachment.node_range == cidr and attachment.gateway == cidr.network_address + 1
        return attachment.address


class IpamdStarter:
    def __init__(self) -> None:
        self.batchers: list[ReservationBatcher] = []

    def __call__(self, cluster: ClusterConfig = SMALL) -> Ipamd:
        keys = KeyLayout("/unit")
        store = MemoryAllocationStore()
        batcher = ReservationBatcher(store)
        self.batchers.append(batcher)
        allocator = Allocator(
            store, cluster, LEASE_TTL, ClaimIndex(keys, cluster), AddressIndex(keys), batcher
        )
        return Ipamd(store, allocator)


@pytest.fixture
async def make_ipamd() -> AsyncIterator[IpamdStarter]:
    starter = IpamdStarter()
    yield starter
    for batcher in starter.batchers:
        await batcher.close()


@pytest.fixture
async def ipamd(make_ipamd: IpamdStarter) -> Ipamd:
    """Node "a" holds R0."""
    made = make_ipamd()
    assert (await made.allocator.acquire_node_range("a", "192.0.2.1")).cidr == R0
    return made


def once(action: Callable[[], None]) -> Callable[[], None]:
    done = False

    def run() -> None:
        nonlocal done
        if not done:
            done = True
            action()

    return run


def hosts(cidr: Net, *offsets: int) -> list[Ip]:
    return [cidr.network_address + offset for offset in offsets]


# --- node ranges -------------------------------------------------------------------


async def test_acquire_claims_the_lowest_free_range_with_a_heartbeat(
    make_ipamd: IpamdStarter,
) -> None:
    made = make_ipamd()
    grant = await made.allocator.acquire_node_range("a", "192.0.2.1")
    assert (grant.cidr, grant.gateway, grant.node_ip) == (R0, Ip("10.9.0.1"), "192.0.2.1")
    assert (grant.cluster_cidr, grant.lease_ttl_seconds) == (SMALL.cluster_cidr, LEASE_TTL)
    assert made.store.leases[made.store.heartbeats["a"]] == LEASE_TTL
    assert (await made.allocator.acquire_node_range("b", "192.0.2.2")).cidr == R1


async def test_acquire_skips_ranges_claimed_elsewhere_and_remembers_them(
    make_ipamd: IpamdStarter,
) -> None:
    made = make_ipamd()
    made.store.put_node("x", R0)
    made.store.put_node("y", R1)
    assert (await made.allocator.acquire_node_range("a", "192.0.2.1")).cidr == R2
    assert made.store.calls.count("claim_new_range") == 3
    assert (await made.allocator.acquire_node_range("b", "192.0.2.2")).cidr == R3
    assert made.store.calls.count("claim_new_range") == 4  # R0 and R1 not tried again


async def test_reacquire_keeps_the_range_and_revokes_the_old_heartbeat(ipamd: Ipamd) -> None:
    first_lease = ipamd.store.heartbeats["a"]
    grant = await ipamd.allocator.acquire_node_range("a", "192.0.2.99")
    assert grant.cidr == R0 and grant.node_ip == "192.0.2.99"
    assert ipamd.store.heartbeats["a"] != first_lease
    assert ipamd.store.revoked == [first_lease]
    assert ipamd.store.nodes["a"][0].node_ip == "192.0.2.99"


async def test_reacquire_retries_when_the_node_record_changed_meanwhile(ipamd: Ipamd) -> None:
    store = ipamd.store
    store.before["refresh_node"] = once(lambda: store.put_node("a", R0, "192.0.2.50"))
    leases_before = set(store.leases)

    assert (await ipamd.allocator.acquire_node_range("a", "192.0.2.1")).cidr == R0

    assert store.calls.count("refresh_node") == 2
    lost, kept = sorted((set(store.leases) | set(store.revoked)) - leases_before)
    assert lost in store.revoked and kept not in store.revoked
    assert store.heartbeats["a"] == kept


async def test_a_node_record_appearing_during_the_claim_is_taken_up(
    make_ipamd: IpamdStarter,
) -> None:
    made = make_ipamd()
    # Another replica acquires R3 for the same node between our read and our claim.
    made.store.before["claim_new_range"] = once(lambda: made.store.put_node("a", R3))
    grant = await made.allocator.acquire_node_range("a", "192.0.2.1")
    assert grant.cidr == R3
    assert R0 not in made.store.claims
    assert len(made.store.revoked) == 1  # the lease of the claim that lost


async def test_acquire_in_a_full_cluster_is_exhausted_and_leaks_no_lease(
    make_ipamd: IpamdStarter,
) -> None:
    made = make_ipamd()
    for index, cidr in enumerate(SMALL.cluster_cidr.subnets(new_prefix=28)):
        made.store.put_node(f"other-{index}", cidr)
    with pytest.raises(RangeExhausted, match="no free /28 node range"):
        await made.allocator.acquire_node_range("a", "192.0.2.1")
    assert made.store.leases == {}


async def test_acquire_gives_up_after_losing_every_attempt(ipamd: Ipamd) -> None:
    store = ipamd.store
    store.before["refresh_node"] = lambda: store.put_node("a", R0, "192.0.2.50")
    heartbeat = store.heartbeats["a"]
    with pytest.raises(Contention):
        await ipamd.allocator.acquire_node_range("a", "192.0.2.1")
    assert store.calls.count("refresh_node") == MAX_RANGE_ATTEMPTS
    assert set(store.leases) == {heartbeat}  # every lease granted meanwhile was revoked


async def test_renew_keeps_a_live_lease_and_restores_a_lapsed_one(ipamd: Ipamd) -> None:
    store = ipamd.store
    heartbeat = store.heartbeats["a"]
    grants = store.calls.count("grant_lease")
    assert (await ipamd.allocator.renew_node_range("a", str(R0))).cidr == R0
    assert store.calls.count("grant_lease") == grants and store.heartbeats["a"] == heartbeat

    await store.revoke_lease(heartbeat)  # the lease lapsed; the node record stands
    assert (await ipamd.allocator.renew_node_range("a", str(R0))).cidr == R0
    assert store.heartbeats["a"] != heartbeat and store.heartbeats["a"] in store.leases


async def test_renew_of_a_range_no_longer_held_says_gone(ipamd: Ipamd) -> None:
    with pytest.raises(NodeRangeGone, match="acquire a range again"):
        await ipamd.allocator.renew_node_range("a", str(R1))
    del ipamd.store.nodes["a"]  # reclaimed
    with pytest.raises(NodeRangeGone):
        await ipamd.allocator.renew_node_range("a", str(R0))


# --- pod addresses -----------------------------------------------------------------


async def test_candidates_start_after_the_gateway_and_fill_the_range(ipamd: Ipamd) -> None:
    got = [await ipamd.allocate(f"c{i}") for i in range(13)]
    assert got == hosts(R0, *range(2, 15))
    with pytest.raises(RangeExhausted, match=str(R0)):
        await ipamd.allocate("one-too-many")
    # A retried ADD still gets its own address from a full range.
    assert await ipamd.allocate("c5") == got[5]


async def test_a_retried_allocation_gets_its_address_and_burns_no_candidate(
    ipamd: Ipamd,
) -> None:
    assert await ipamd.allocate("c0") == hosts(R0, 2)[0]
    assert await ipamd.allocate("c0") == hosts(R0, 2)[0]
    assert await ipamd.allocate("c1") == hosts(R0, 3)[0]


async def test_addresses_taken_elsewhere_are_skipped_and_not_tried_again(ipamd: Ipamd) -> None:
    for offset in (2, 3):
        ipamd.store.take_address(R0, hosts(R0, offset)[0], f"other-{offset}")
    assert await ipamd.allocate("c0") == hosts(R0, 4)[0]
    assert len(ipamd.store.reserve_calls) == 3
    assert await ipamd.allocate("c1") == hosts(R0, 5)[0]
    assert len(ipamd.store.reserve_calls) == 4


async def test_allocation_gives_up_after_losing_every_race(make_ipamd: IpamdStarter) -> None:
    made = make_ipamd(ClusterConfig(Net("10.10.0.0/16"), 24))
    node_range = (await made.allocator.acquire_node_range("a", "192.0.2.1")).cidr

    def another_replica_wins(batch: Sequence[Reservation]) -> None:
        for reservation in batch:
            made.store.take_address(node_range, reservation.address, f"o-{reservation.address}")

    made.store.before_reserve = another_replica_wins
    with pytest.raises(Contention, match=f"lost {MAX_ADDRESS_ATTEMPTS} races"):
        await made.allocate("c0", cidr=node_range)
    assert len(made.store.reserve_calls) == MAX_ADDRESS_ATTEMPTS

    made.store.before_reserve = None
    after = await made.allocate("c0", cidr=node_range)
    assert after == hosts(node_range, 2 + MAX_ADDRESS_ATTEMPTS)[0]


async def test_a_failed_reservation_gives_its_candidate_back(ipamd: Ipamd) -> None:
    ipamd.store.fail["reserve_addresses"] = StoreUnavailable("etcd timed out")
    with pytest.raises(StoreUnavailable):
        await ipamd.allocate("c0")
    del ipamd.store.fail["reserve_addresses"]
    assert await ipamd.allocate("c1") == hosts(R0, 2)[0]


async def test_allocation_in_a_range_the_node_does_not_hold_is_refused(ipamd: Ipamd) -> None:
    assert (await ipamd.allocator.acquire_node_range("b", "192.0.2.2")).cidr == R1
    with pytest.raises(NodeRangeNotHeld, match=f"does not hold range {R1}"):
        await ipamd.allocate("c0", node="a", cidr=R1)
    assert not ipamd.store.ips
    # The refused candidate went back to the front of R1's queue.
    assert await ipamd.allocate("c0", node="b", cidr=R1) == hosts(R1, 2)[0]


async def test_a_full_range_whose_claim_moved_is_not_held_rather_than_full(ipamd: Ipamd) -> None:
    for i in range(13):
        await ipamd.allocate(f"c{i}")
    ipamd.store.claims[R0] = "z"
    with pytest.raises(NodeRangeNotHeld):
        await ipamd.allocate("one-more")


async def test_concurrent_allocations_get_distinct_addresses_around_conflicts(
    ipamd: Ipamd,
) -> None:
    for offset in (2, 5):
        ipamd.store.take_address(R0, hosts(R0, offset)[0], f"other-{offset}")
    got = await asyncio.gather(*(ipamd.allocate(f"c{i}") for i in range(10)))
    assert len(set(got)) == 10
    assert set(got) == set(hosts(R0, 3, 4, *range(6, 14)))
    # Batched: fewer store round trips than allocations.
    assert len(ipamd.store.reserve_calls) < 10


@pytest.mark.parametrize(
    ("node", "cidr", "container_id", "problem"),
    [
        ("a", "10.99.0.0/28", "c0", "not a /28 node range of 10.9.0.0/24"),
        ("a", "10.9.0.0/25", "c0", "not a /28 node range"),
        ("a", "10.9.0.1/28", "c0", "not an IPv4 network"),
        ("a", str(R0), "", "container_id must not be empty"),
        ("a/b", str(R0), "c0", "must not contain '/'"),
    ],
)
async def test_invalid_requests_are_refused_before_any_store_call(
    ipamd: Ipamd, node: str, cidr: str, container_id: str, problem: str
) -> None:
    calls = len(ipamd.store.calls)
    with pytest.raises(InvalidRequest, match=problem):
        await ipamd.allocator.allocate_pod_ip(node, cidr, container_id, "eth0", PodRef())
    assert len(ipamd.store.calls) == calls


async def test_release_and_list_see_only_the_nodes_own_range(ipamd: Ipamd) -> None:
    assert (await ipamd.allocator.acquire_node_range("b", "192.0.2.2")).cidr == R1
    a0 = await ipamd.allocate("c0")
    await ipamd.allocate("c1", node="b", cidr=R1)
    assert [(x.container_id, x.address) for x in await ipamd.allocator.list_allocations("a")] == [
        ("c0", a0)
    ]
    assert await ipamd.allocator.release_pod_ip("a", "c1", "eth0") is None  # b's pod
    released = await ipamd.allocator.release_pod_ip("a", "c0", "eth0")
    assert released is not None and released.address == str(a0)
    assert await ipamd.allocator.release_pod_ip("a", "c0", "eth0") is None
    assert await ipamd.allocator.release_pod_ip("nobody", "c0", "eth0") is None
    assert await ipamd.allocator.list_allocations("a") == []
