from __future__ import annotations

import ipaddress
import time

from ipamd.address_pool import AddressPool
from ipamd.addressing import gateway_of, node_ranges, pod_host_offsets


def test_pod_offsets_skip_network_gateway_and_broadcast() -> None:
    node_range = ipaddress.IPv4Network("10.1.2.0/29")
    offsets = pod_host_offsets(node_range)
    assert list(offsets) == [2, 3, 4, 5, 6]
    assert gateway_of(node_range) == ipaddress.IPv4Address("10.1.2.1")


def test_node_ranges_carve_the_cluster_cidr_in_order() -> None:
    ranges = list(node_ranges(ipaddress.IPv4Network("10.9.0.0/26"), 28))
    assert [str(r) for r in ranges] == [
        "10.9.0.0/28",
        "10.9.0.16/28",
        "10.9.0.32/28",
        "10.9.0.48/28",
    ]


def test_pool_hands_out_in_next_fit_order_and_reuses_released_last() -> None:
    pool = AddressPool(range(2, 8), start=2)
    taken = [pool.take() for _ in range(3)]
    assert taken == [4, 5, 6]
    for offset in taken:
        pool.mark_used(offset)  # type: ignore[arg-type]
    pool.mark_free(4)
    assert [pool.take() for _ in range(4)] == [7, 2, 3, 4]
    assert pool.take() is None


def test_pool_skips_offsets_used_elsewhere_and_gets_them_back_when_freed() -> None:
    pool = AddressPool(range(2, 6))
    pool.mark_used(2)
    pool.mark_used(3)
    assert pool.take() == 4
    pool.give_back(4)
    assert pool.take() == 4
    assert pool.take() == 5
    assert pool.take() is None
    pool.mark_free(3)
    assert pool.take() == 3


def test_pool_take_cost_is_flat_as_the_range_fills() -> None:
    pool = AddressPool(range(2, 65_534))
    for offset in range(2, 60_000):
        pool.mark_used(offset)
    started = time.perf_counter()
    taken = [pool.take() for _ in range(1000)]
    elapsed = time.perf_counter() - started
    assert taken[0] == 60_000
    # 58k stale entries are skipped once, then each take is O(1).
    assert elapsed < 0.5
