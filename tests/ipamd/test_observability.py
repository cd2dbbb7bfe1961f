"""ipamd's JSON log lines follow the one schema; /metrics, /healthz and /readyz answer."""

from __future__ import annotations

import asyncio
import re

import grpc
from podnet.v1 import ipam_pb2

from tests.ipamd.conftest import Ipamd, IpamdFactory, acquire, allocate, next_event, rpc_error
from tests.log_schema import assert_log_follows_schema


def metric(ipamd: Ipamd, sample: str) -> float:
    """The value of one sample line (name and labels exactly as exposed)."""
    status, body = ipamd.http("/metrics")
    assert status == 200
    for line in body.splitlines():
        name, _, value = line.rpartition(" ")
        if name == sample:
            return float(value)
    raise AssertionError(f"no sample {sample!r} in /metrics")


async def test_every_log_line_of_a_working_ipamd_follows_the_schema(
    ipamd_factory: IpamdFactory,
) -> None:
    ipamd = await ipamd_factory.start("--node-prefix-length", "30", "--cluster-cidr", "10.9.0.0/29")
    stub = ipamd.stub()
    held = await acquire(stub, "node-a")
    await allocate(stub, held, "c0")
    exhausted = await rpc_error(allocate(stub, held, "c1"))  # a /30 has one pod address
    assert exhausted.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    invalid = await rpc_error(acquire(stub, "node-b", node_ip="not-an-address"))
    assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await ipamd.stop() == 0

    lines = assert_log_follows_schema(ipamd.log_path.read_text(), "ipamd log")
    events = [line["event"] for line in lines]
    for wanted in ("serving", "node_range_claimed", "rpc_failed", "rpc_done", "stopping"):
        assert wanted in events, events
    failed = [line for line in lines if line["event"] == "rpc_failed"]
    assert {(f["method"], f["code"]) for f in failed} == {
        ("AllocatePodIp", "RESOURCE_EXHAUSTED"),
        ("AcquireNodeRange", "INVALID_ARGUMENT"),
    }
    assert all("error" not in f and f["reason"] for f in failed)  # expected: no traceback


async def test_metrics_healthz_and_readyz(ipamd_factory: IpamdFactory) -> None:
    ipamd = await ipamd_factory.start()
    assert ipamd.http("/healthz") == (200, "ok\n")
    assert ipamd.http("/readyz") == (200, "ready\n")
    stub = ipamd.stub()
    held = await acquire(stub, "node-a")
    await acquire(stub, "node-b")
    await allocate(stub, held, "c0")
    await allocate(stub, held, "c1")
    await rpc_error(acquire(stub, "node-c", node_ip="not-an-address"))
    watch = stub.WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest())
    assert (await next_event(watch)).WhichOneof("change") == "snapshot"

    ok = '{code="OK",method="AcquireNodeRange"}'
    assert metric(ipamd, f"podnet_ipamd_rpcs_total{ok}") == 2
    assert metric(ipamd, 'podnet_ipamd_rpcs_total{code="OK",method="AllocatePodIp"}') == 2
    invalid = '{code="INVALID_ARGUMENT",method="AcquireNodeRange"}'
    assert metric(ipamd, f"podnet_ipamd_rpcs_total{invalid}") == 1
    count = 'podnet_ipamd_rpc_duration_seconds_count{method="AllocatePodIp"}'
    assert metric(ipamd, count) == 2
    assert (
        metric(ipamd, 'podnet_ipamd_rpc_duration_seconds_bucket{le="10.0",method="AllocatePodIp"}')
        == 2
    )
    assert metric(ipamd, "podnet_ipamd_range_streams_open") == 1
    # The index gauges follow etcd through the watches, a moment after the writes.
    for _ in range(50):
        if metric(ipamd, "podnet_ipamd_allocations_in_use") == 2:
            break
        await asyncio.sleep(0.1)
    assert metric(ipamd, "podnet_ipamd_allocations_in_use") == 2
    assert metric(ipamd, "podnet_ipamd_node_ranges_held") == 2
    _, body = ipamd.http("/metrics")
    assert re.search(r"^# TYPE podnet_ipamd_etcd_request_failures_total counter$", body, re.M)

    watch.cancel()
    for _ in range(50):
        if metric(ipamd, "podnet_ipamd_range_streams_open") == 0:
            break
        await asyncio.sleep(0.1)
    assert metric(ipamd, "podnet_ipamd_range_streams_open") == 0
    cancelled = '{code="CANCELLED",method="WatchNodeRanges"}'
    assert metric(ipamd, f"podnet_ipamd_rpcs_total{cancelled}") == 1
