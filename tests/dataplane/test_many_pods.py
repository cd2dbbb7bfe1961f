"""Many pods through the dataplane in one event loop: correctness and latency."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable

from netagent import dataplane
from netagent.dataplane import AttachedVethPair, PodNetworkSpec
from tests.conftest import NetnsFactory
from tests.dataplane import kernel_view as kv
from tests.dataplane.conftest import Node, pod_spec

PODS = 50


async def _timed(operation: Awaitable[object]) -> float:
    started = time.perf_counter()
    await operation
    return time.perf_counter() - started


async def _attach_all(specs: list[PodNetworkSpec]) -> list[AttachedVethPair]:
    return list(await asyncio.gather(*(dataplane.attach(spec) for spec in specs)))


async def _detach_all(specs: list[PodNetworkSpec]) -> list[bool]:
    return list(
        await asyncio.gather(*(dataplane.detach(s.host_ifname, s.netns, s.ifname) for s in specs))
    )


async def _one_by_one(specs: list[PodNetworkSpec]) -> tuple[float, float]:
    attach = [await _timed(dataplane.attach(spec)) for spec in specs]
    detach = [await _timed(dataplane.detach(s.host_ifname, s.netns, s.ifname)) for s in specs]
    return statistics.median(attach), statistics.median(detach)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def test_fifty_concurrent_attaches_then_detaches(node: Node, netns: NetnsFactory) -> None:
    pods = [netns("pod") for _ in range(PODS)]
    specs = [pod_spec(pod, number + 2) for number, pod in enumerate(pods)]

    started = time.perf_counter()
    attachments = node.loop.run(_attach_all(specs))
    attach_wall = time.perf_counter() - started

    host_routes = {route["dst"]: route["dev"] for route in kv.ipv4_routes(node.name)}
    assert host_routes == {str(spec.pod_ip): spec.host_ifname for spec in specs}
    node_links = kv.links(node.name)
    for pod, spec, attachment in zip(pods, specs, attachments, strict=True):
        assert kv.links(pod)["eth0"]["address"] == attachment.pod_mac
        assert kv.ipv4_addresses(pod, "eth0") == [str(spec.address)]
        assert node_links[spec.host_ifname]["address"] == attachment.host_mac
        node.loop.run(dataplane.verify(spec, attachment.pod_mac))

    started = time.perf_counter()
    deleted = node.loop.run(_detach_all(specs))
    detach_wall = time.perf_counter() - started

    assert all(deleted)
    assert set(kv.links(node.name)) == {"lo"}
    assert kv.ipv4_routes(node.name) == []
    for pod in pods:
        assert set(kv.links(pod)) == {"lo"}

    attach_p50, detach_p50 = node.loop.run(_one_by_one(specs))
    assert set(kv.links(node.name)) == {"lo"}
    print(
        f"\n{PODS} pods: concurrent attach {_ms(attach_wall)}, concurrent detach "
        f"{_ms(detach_wall)}; one at a time p50 attach {_ms(attach_p50)}, "
        f"detach {_ms(detach_p50)}"
    )
    # Loose bounds, an order of magnitude above what this machine measures.
    assert attach_p50 < 0.25 and detach_p50 < 0.25
