"""Allocation latency within one node range: the first allocations vs the last ones before
the range is full (was tests/ipamd/test_pod_ips.py's latency "test", which only printed).

Usage: .venv/bin/python scripts/bench/ipamd_range_fill.py [--allocations 250]
       [--window 50] [--json FILE]

Starts a throw-away etcd and one podnet-ipamd (cluster 10.244.0.0/16, /24 node ranges),
acquires one range and allocates --allocations pod IPs in it one after another. Reports
the p50 of allocations 5 .. 5+window (almost empty; the first few warm up the channel)
and of the last window allocations, and their ratio. ipamd_fill.py measures the same
question across a whole cluster of filled ranges.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from ipamd_bench_lab import CALL_TIMEOUT, BenchLab, acquire, allocation_request, percentile
from podnet.v1 import ipam_pb2

WARM_UP = 5
POD_ADDRESSES_IN_A_24 = 253


async def bench(args: argparse.Namespace, lab: BenchLab) -> dict[str, Any]:
    ipamd = lab.start_ipamd("--cluster-cidr", "10.244.0.0/16", "--node-prefix-length", "24")
    stub = lab.stub(ipamd)
    node_range = await acquire(stub, "bench-node")
    samples: list[float] = []
    for n in range(args.allocations):
        started = time.perf_counter()
        await stub.AllocatePodIp(allocation_request(node_range, f"c{n}"), timeout=CALL_TIMEOUT)
        samples.append((time.perf_counter() - started) * 1e3)
    listed = await stub.ListAllocations(
        ipam_pb2.ListAllocationsRequest(node=node_range.node), timeout=CALL_TIMEOUT
    )
    if len(listed.allocations) != args.allocations:
        raise SystemExit(
            f"ipamd lists {len(listed.allocations)} allocations, not {args.allocations}"
        )
    await lab.close_channels()
    first = samples[WARM_UP : WARM_UP + args.window]
    last = samples[-args.window :]
    first_p50, last_p50 = percentile(first, 0.5), percentile(last, 0.5)
    print(
        f"allocation latency in one /24 ({node_range.cidr}): allocations {WARM_UP}-"
        f"{WARM_UP + args.window} p50 {first_p50:.2f} ms, last {args.window} "
        f"({args.allocations - args.window}-{args.allocations} used) p50 {last_p50:.2f} ms, "
        f"ratio {last_p50 / first_p50:.2f}"
    )
    return {
        "allocations": args.allocations,
        "window": args.window,
        "first_p50_ms": round(first_p50, 3),
        "last_p50_ms": round(last_p50, 3),
        "p50_ratio": round(last_p50 / first_p50, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allocations", type=int, default=250)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    if not WARM_UP + 2 * args.window <= args.allocations <= POD_ADDRESSES_IN_A_24:
        parser.error(
            f"--allocations must be between {WARM_UP + 2 * args.window} (two windows and the "
            f"warm-up) and {POD_ADDRESSES_IN_A_24} (a /24)"
        )
    lab = BenchLab.start()
    try:
        report = asyncio.run(bench(args, lab))
    finally:
        lab.close()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
