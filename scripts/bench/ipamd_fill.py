"""Allocation latency with the cluster almost empty vs with 50,000 pod IPs allocated, and
ipamd's memory at rest, at peak and holding those allocations.

Usage: .venv/bin/python scripts/bench/ipamd_fill.py [--nodes 200] [--per-node 250]
       [--samples 1000] [--fill-concurrency 128] [--json FILE]

Starts two identical clusters, each a throw-away etcd and one podnet-ipamd (cluster
10.244.0.0/16, /24 node ranges), and acquires a range for each simulated node in both.
  1. control: probes both clusters while both are empty (their p50s should match);
  2. fills nodes x per-node addresses into the second cluster through its ipamd at high
     concurrency;
  3. probes both side by side, alternating: a sequential AllocatePodIp (timed) then its
     release (untimed, so the fill level stays put), and a raw create-if-absent etcd txn.
     Alternating makes both clusters see the same machine load;
  4. memory of the full cluster's ipamd at rest (before the fill), holding the fill and
     its peak (VmHWM); then a second replica started on the full state: time to serve
     (index load) and its memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aetcd import rpc
from ipamd_bench_lab import (
    CALL_TIMEOUT,
    RAW_PREFIX,
    BenchLab,
    IpamdProcess,
    acquire,
    allocation_request,
    fixed_count,
    memory_of,
    percentile,
)
from ipamd_rate import create_if_absent
from podnet.v1 import ipam_pb2, ipam_pb2_grpc

from ipamd.etcd_connection import EtcdChannel

# A node lease long enough that simulated nodes need no renewals.
FLAGS = (
    "--cluster-cidr",
    "10.244.0.0/16",
    "--node-prefix-length",
    "24",
    "--node-lease-ttl",
    "86400",
)


@dataclass
class Cluster:
    """One etcd, one ipamd and a range per simulated node."""

    lab: BenchLab
    ipamd: IpamdProcess
    stub: ipam_pb2_grpc.IpamAsyncStub
    etcd: EtcdChannel
    ranges: list[ipam_pb2.NodeRange]


async def start_cluster(lab: BenchLab, nodes: int, exits: contextlib.AsyncExitStack) -> Cluster:
    ipamd = lab.start_ipamd(*FLAGS)
    stub = lab.stub(ipamd)
    ranges = [await acquire(stub, f"sim-node-{i:03d}") for i in range(nodes)]
    etcd = await exits.enter_async_context(lab.etcd_client())
    return Cluster(lab, ipamd, stub, etcd, ranges)


class Probe:
    """Sequential probes: a timed AllocatePodIp then an untimed release (so the fill level
    stays put), and a timed raw create-if-absent txn then an untimed delete."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.run = uuid.uuid4().hex[:8]
        self.count = 0
        self.allocation_ms: list[float] = []
        self.raw_ms: list[float] = []

    async def once(self) -> None:
        cluster, n = self.cluster, self.count
        self.count += 1
        node_range = cluster.ranges[n % len(cluster.ranges)]
        container_id = f"probe-{self.run}-{n}"
        started = time.perf_counter()
        await cluster.stub.AllocatePodIp(
            allocation_request(node_range, container_id), timeout=CALL_TIMEOUT
        )
        self.allocation_ms.append((time.perf_counter() - started) * 1e3)
        released = await cluster.stub.ReleasePodIp(
            ipam_pb2.ReleasePodIpRequest(
                node=node_range.node, container_id=container_id, ifname="eth0"
            ),
            timeout=CALL_TIMEOUT,
        )
        assert released.released
        raw_key = f"{RAW_PREFIX}/probe/{self.run}/{n}".encode()
        started = time.perf_counter()
        reply = await cluster.etcd.kvstub.Txn(create_if_absent(raw_key), timeout=CALL_TIMEOUT)
        self.raw_ms.append((time.perf_counter() - started) * 1e3)
        assert reply.succeeded
        await cluster.etcd.kvstub.DeleteRange(
            rpc.DeleteRangeRequest(key=raw_key), timeout=CALL_TIMEOUT
        )

    def p(self, fraction: float) -> float:
        return percentile(self.allocation_ms, fraction)

    def raw_p50(self) -> float:
        return percentile(self.raw_ms, 0.5)


async def side_by_side(first: Cluster, second: Cluster, samples: int) -> tuple[Probe, Probe]:
    """Alternates probes of the two clusters (which one goes first alternates too), so both
    see the same machine load at the same time."""
    probes = (Probe(first), Probe(second))
    for n in range(samples):
        for probe in probes if n % 2 == 0 else reversed(probes):
            await probe.once()
    return probes


def report_line(label: str, probe: Probe) -> str:
    return (
        f"  {label:<12} p50 {probe.p(0.5):5.2f} ms  p95 {probe.p(0.95):5.2f} ms"
        f"  (raw etcd txn p50 {probe.raw_p50():.2f} ms)"
    )


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


async def bench(args: argparse.Namespace, labs: tuple[BenchLab, BenchLab]) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as exits:
        return await bench_clusters(
            args,
            await start_cluster(labs[0], args.nodes, exits),
            await start_cluster(labs[1], args.nodes, exits),
        )


async def bench_clusters(args: argparse.Namespace, empty: Cluster, full: Cluster) -> dict[str, Any]:
    labs = (empty.lab, full.lab)
    started = memory_of(full.ipamd.pid)
    print(f"two clusters of {args.nodes} nodes; ipamd at rest: {started}", flush=True)

    control = side_by_side(empty, full, args.samples // 4)
    control_empty, control_full = await control
    control_ratio = control_full.p(0.5) / control_empty.p(0.5)
    print(f"both empty (control): second/first p50 = {control_ratio:.2f}")

    total = args.nodes * args.per_node

    async def fill_one(n: int) -> None:
        node_range = full.ranges[n % args.nodes]
        await full.stub.AllocatePodIp(
            allocation_request(node_range, f"fill-{n}"), timeout=CALL_TIMEOUT
        )

    fill = await fixed_count(args.fill_concurrency, total, fill_one)
    print(
        f"filled {total} through ipamd at C={args.fill_concurrency}: {fill.rate:.0f}/s "
        f"(p50 {fill.p50:.1f} ms, p95 {fill.p95:.1f} ms)",
        flush=True,
    )

    at_empty, at_full = await side_by_side(empty, full, args.samples)
    ratio = at_full.p(0.5) / at_empty.p(0.5)
    raw_ratio = at_full.raw_p50() / at_empty.raw_p50()
    print(report_line("empty", at_empty))
    print(report_line(f"{total}", at_full))
    print(f"p50 at {total} / p50 at empty = {ratio:.2f}  (raw etcd txn: {raw_ratio:.2f})")
    holding = memory_of(full.ipamd.pid)
    print(f"ipamd holding {total}: {holding}")

    load_started = time.perf_counter()
    replica = labs[1].start_ipamd(*FLAGS)
    replica_ready = time.perf_counter() - load_started
    replica_memory = memory_of(replica.pid)
    print(
        f"second replica on the full cluster serving after {replica_ready:.1f} s: {replica_memory}"
    )
    listed = (
        await labs[1]
        .stub(replica)
        .ListAllocations(
            ipam_pb2.ListAllocationsRequest(node=full.ranges[0].node), timeout=CALL_TIMEOUT
        )
    )
    assert len(listed.allocations) == args.per_node
    for cluster in (empty, full):
        await cluster.lab.close_channels()
    return {
        "nodes": args.nodes,
        "allocated": total,
        "samples": args.samples,
        "control_p50_ratio": round(control_ratio, 3),
        "empty_p50_ms": round(at_empty.p(0.5), 3),
        "empty_p95_ms": round(at_empty.p(0.95), 3),
        "full_p50_ms": round(at_full.p(0.5), 3),
        "full_p95_ms": round(at_full.p(0.95), 3),
        "p50_ratio": round(ratio, 3),
        "raw_empty_p50_ms": round(at_empty.raw_p50(), 3),
        "raw_full_p50_ms": round(at_full.raw_p50(), 3),
        "raw_p50_ratio": round(raw_ratio, 3),
        "fill_per_s": round(fill.rate),
        "fill_concurrency": args.fill_concurrency,
        "ipamd_rss_at_rest_mib": mib(started.rss_kib),
        "ipamd_rss_holding_mib": mib(holding.rss_kib),
        "ipamd_rss_peak_mib": mib(holding.hwm_kib),
        "replica_ready_s": round(replica_ready, 2),
        "replica_rss_mib": mib(replica_memory.rss_kib),
        "replica_rss_peak_mib": mib(replica_memory.hwm_kib),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--per-node", type=int, default=250, help="at most 253 in a /24")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--fill-concurrency", type=int, default=128)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    labs: list[BenchLab] = []
    try:
        labs += [BenchLab.start(), BenchLab.start()]
        report = asyncio.run(bench(args, (labs[0], labs[1])))
    finally:
        for lab in labs:
            lab.close()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
