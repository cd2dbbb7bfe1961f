from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from podnet.v1 import ipam_pb2

from tests.ipamd.conftest import Ipamd, IpamdFactory, acquire, allocate, next_event
from tools.lab.etcd_server import EtcdServer
from tools.lab.pki import LabPki
from tools.lab.ports import free_port

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _health(ipamd: Ipamd, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(ipamd.channel())
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    status: int = reply.status
    return status


async def _wait_health(ipamd: Ipamd, wanted: int, within: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await _health(ipamd) == wanted:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"health never became {wanted}")


async def test_health_reflection_failover_and_clean_stop(ipamd_factory: IpamdFactory) -> None:
    dead = f"127.0.0.1:{free_port()}"
    ipamd = await ipamd_factory.start(etcd=f"{dead},{ipamd_factory.etcd.address}")
    serving = [e for e in ipamd.log_events() if e.get("event") == "serving"]
    assert serving == [serving[0]] and serving[0]["address"] == ipamd.address
    assert await _health(ipamd) == SERVING
    assert await _health(ipamd, "podnet.v1.Ipam") == SERVING

    reflection = reflection_pb2_grpc.ServerReflectionStub(ipamd.channel())
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    replies = [r async for r in reflection.ServerReflectionInfo(iter([request]), timeout=5)]
    names = {s.name for s in replies[0].list_services_response.service}
    assert {"podnet.v1.Ipam", "grpc.health.v1.Health"} <= names

    assert (await acquire(ipamd.stub(), "node-a")).cidr
    assert await ipamd.stop() == 0
    assert any(e.get("event") == "stopping" for e in ipamd.log_events())


async def test_survives_an_etcd_restart(
    ipamd_factory: IpamdFactory, tmp_path: Path, pki: LabPki
) -> None:
    etcd = EtcdServer(
        tmp_path / "etcd-data",
        "127.0.0.1",
        free_port(),
        free_port(),
        tls=pki.etcd_member("own", "127.0.0.1"),
        name="own",
    )
    etcd.start()
    try:
        ipamd = await ipamd_factory.start(etcd=etcd.endpoint.address)
        stub = ipamd.stub()
        held = await acquire(stub, "node-a")
        before = (await allocate(stub, held, "c0")).address
        watch = stub.WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest())
        assert (await next_event(watch)).WhichOneof("change") == "snapshot"

        await asyncio.to_thread(etcd.stop)
        lost_after = await _wait_health(ipamd, NOT_SERVING, 20)
        status, reason = ipamd.http("/readyz")
        assert (status, reason) == (503, "etcd unreachable: index watches down\n")
        assert ipamd.http("/healthz")[0] == 200
        _, metrics = ipamd.http("/metrics")
        failures = re.findall(
            r"^podnet_ipamd_etcd_request_failures_total\{.*\} (\S+)$", metrics, re.M
        )
        assert sum(float(value) for value in failures) > 0, metrics
        await asyncio.to_thread(etcd.start)
        back_after = await _wait_health(ipamd, SERVING, 20)
        assert ipamd.http("/readyz")[0] == 200
        print(
            f"\nNOT_SERVING {lost_after:.1f}s after etcd stop, "
            f"SERVING {back_after:.1f}s after its restart"
        )

        assert (await allocate(stub, held, "c0")).address == before
        second = await acquire(stub, "node-b")
        event = await next_event(watch)
        assert (event.WhichOneof("change"), event.added.node) == ("added", "node-b")
        assert event.added.cidr == second.cidr
        watch.cancel()
    finally:
        etcd.stop()


async def test_sigterm_ends_open_range_streams_cleanly(ipamd_factory: IpamdFactory) -> None:
    """Open WatchNodeRanges streams end with OK at shutdown, not cancelled at the grace deadline."""
    ipamd = await ipamd_factory.start()
    watch = ipamd.stub().WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest())
    assert (await next_event(watch)).WhichOneof("change") == "snapshot"
    ipamd.process.terminate()
    assert await asyncio.wait_for(watch.read(), 5) is grpc.aio.EOF  # type: ignore[attr-defined]
    assert await watch.code() == grpc.StatusCode.OK
    assert await asyncio.to_thread(ipamd.process.wait, 10) == 0
