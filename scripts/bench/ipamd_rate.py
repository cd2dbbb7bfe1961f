"""ipamd allocation rate vs the raw etcd create-if-absent transaction rate, same run.

Usage: .venv/bin/python scripts/bench/ipamd_rate.py [--seconds S] [--rounds R]
       [--concurrency 1,32,128] [--nodes N] [--compare-plaintext] [--json FILE]

Starts a throw-away etcd and one podnet-ipamd on loopback, serving mutual TLS (each
node's allocations over a channel presenting that node's certificate, as its agent
does). For each concurrency C it alternates, R times, closed-loop phases of S seconds
from one Python process:
  raw:   C workers issue one create-if-absent txn each (compare create_revision == 0,
         put a value the size of an ip record) through aetcd's raw KV stub, as ipamd does;
  ipamd: C workers call AllocatePodIp with a distinct (container_id, ifname) each;
  plain: (--compare-plaintext) the same against a second ipamd, --insecure-plaintext,
         on its own key prefix of the same etcd: what mutual TLS and authorization cost;
  noop:  the same calls to a Python grpc.aio server that answers with a constant (the
         ceiling of any allocator behind a Python gRPC server on this machine).
Reports the mean rate of each, the ratios, latencies, and ipamd's CPU per allocation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import uuid
from pathlib import Path
from typing import Any

from aetcd import rpc
from ipamd_bench_lab import (
    CALL_TIMEOUT,
    PLAINTEXT_PREFIX,
    RAW_PREFIX,
    BenchLab,
    RunResult,
    acquire,
    allocation_request,
    closed_loop,
    cpu_seconds_of,
    memory_of,
)

# The size of a real ip record value, so raw and ipamd write as many bytes per key.
RAW_VALUE = json.dumps(
    {
        "container_id": "c" * 64,
        "ifname": "eth0",
        "node": "node-00",
        "pod": {"name": "pod-x", "namespace": "bench", "uid": "u" * 36},
    },
    separators=(",", ":"),
).encode()


def create_if_absent(key: bytes) -> Any:
    return rpc.TxnRequest(
        compare=[
            rpc.Compare(
                key=key,
                target=rpc.Compare.CREATE,
                result=rpc.Compare.EQUAL,
                create_revision=0,
            )
        ],
        success=[rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=RAW_VALUE))],
    )


async def raw_phase(client: Any, concurrency: int, seconds: float) -> RunResult:
    prefix = f"{RAW_PREFIX}/{uuid.uuid4().hex[:8]}/".encode()

    async def one(n: int) -> None:
        reply = await client.kvstub.Txn(create_if_absent(prefix + b"%d" % n), timeout=CALL_TIMEOUT)
        assert reply.succeeded

    return await closed_loop(concurrency, seconds, one)


async def ipamd_phase(
    stubs: list[Any], ranges: list[Any], concurrency: int, seconds: float
) -> RunResult:
    run = uuid.uuid4().hex[:8]

    async def one(n: int) -> None:
        await stubs[n % len(stubs)].AllocatePodIp(
            allocation_request(ranges[n % len(ranges)], f"{run}-{n}"), timeout=CALL_TIMEOUT
        )

    return await closed_loop(concurrency, seconds, one)


def line(label: str, result: RunResult) -> str:
    return (
        f"  {label:<6} {result.rate:8.0f}/s  p50 {result.p50:6.2f} ms  p95 {result.p95:6.2f} ms"
        f"  ({result.completed} in {result.seconds:.1f} s)"
    )


async def bench(args: argparse.Namespace, lab: BenchLab) -> dict[str, Any]:
    # /16 node ranges: each holds 65,533 pod addresses, room for every phase.
    cluster = ("--cluster-cidr", "10.0.0.0/8", "--node-prefix-length", "16")
    ipamd = lab.start_ipamd(*cluster)
    stub = lab.stub(ipamd)
    ranges = [await acquire(stub, f"node-{i}") for i in range(args.nodes)]
    plain = plain_stub = None
    plain_ranges: list[Any] = []
    if args.compare_plaintext:
        plain = lab.start_ipamd(*cluster, prefix=PLAINTEXT_PREFIX, tls=False)
        plain_stub = lab.stub(plain)
        plain_ranges = [await acquire(plain_stub, f"node-{i}") for i in range(args.nodes)]
    noop_stub = lab.stub(lab.start_noop_server())
    at_rest = memory_of(ipamd.pid)
    print(f"ipamd pid {ipamd.pid} at rest: {at_rest}", flush=True)
    report: dict[str, Any] = {"ipamd_rss_at_rest_kib": at_rest.rss_kib, "runs": []}
    async with lab.etcd_client() as client:
        # Warm both paths (connections, etcd's first writes) outside the measurement.
        await raw_phase(client, 8, 0.5)
        await ipamd_phase([stub], ranges, 8, 0.5)
        await ipamd_phase([noop_stub], ranges, 8, 0.5)
        if plain_stub is not None:
            await ipamd_phase([plain_stub], plain_ranges, 8, 0.5)
        for concurrency in args.concurrency:
            raw_rates, ipamd_rates, noop_rates, cpu_per_alloc = [], [], [], []
            plain_rates: list[float] = []
            plain_p50s: list[float] = []
            ipamd_p50s: list[float] = []
            plain_cpu: list[float] = []
            raw_last = ipamd_last = noop_last = plain_last = None
            for _ in range(args.rounds):
                raw_last = await raw_phase(client, concurrency, args.seconds)
                raw_rates.append(raw_last.rate)
                print(f"  ipamd phase C={concurrency} starts", flush=True)
                cpu_before = cpu_seconds_of(ipamd.pid)
                ipamd_last = await ipamd_phase([stub], ranges, concurrency, args.seconds)
                cpu_per_alloc.append(
                    (cpu_seconds_of(ipamd.pid) - cpu_before) / ipamd_last.completed * 1e6
                )
                ipamd_rates.append(ipamd_last.rate)
                ipamd_p50s.append(ipamd_last.p50)
                if plain is not None and plain_stub is not None:
                    cpu_before = cpu_seconds_of(plain.pid)
                    plain_last = await ipamd_phase(
                        [plain_stub], plain_ranges, concurrency, args.seconds
                    )
                    plain_cpu.append(
                        (cpu_seconds_of(plain.pid) - cpu_before) / plain_last.completed * 1e6
                    )
                    plain_rates.append(plain_last.rate)
                    plain_p50s.append(plain_last.p50)
                noop_last = await ipamd_phase([noop_stub], ranges, concurrency, args.seconds)
                noop_rates.append(noop_last.rate)
            assert raw_last is not None and ipamd_last is not None and noop_last is not None
            raw_rate, ipamd_rate = statistics.mean(raw_rates), statistics.mean(ipamd_rates)
            noop_rate = statistics.mean(noop_rates)
            ratio = ipamd_rate / raw_rate
            print(
                f"C={concurrency}: ipamd/raw = {ratio:.2f}, noop/raw = {noop_rate / raw_rate:.2f}",
                flush=True,
            )
            print(line("raw", raw_last))
            print(line("ipamd", ipamd_last))
            print(line("noop", noop_last))
            print(f"  ipamd CPU per allocation: {statistics.mean(cpu_per_alloc):.0f} us")
            tls_comparison: dict[str, Any] = {}
            if plain_last is not None:
                plain_rate = statistics.mean(plain_rates)
                print(line("plain", plain_last))
                print(
                    f"  mTLS/plaintext rate = {ipamd_rate / plain_rate:.2f}, p50 (median of "
                    f"rounds) {statistics.median(ipamd_p50s):.2f} vs "
                    f"{statistics.median(plain_p50s):.2f} ms, CPU per allocation "
                    f"{statistics.mean(cpu_per_alloc):.0f} vs {statistics.mean(plain_cpu):.0f} us"
                )
                tls_comparison = {
                    "plaintext_per_s": round(plain_rate),
                    "plaintext_rounds": [round(r) for r in plain_rates],
                    "mtls_over_plaintext": round(ipamd_rate / plain_rate, 3),
                    "mtls_p50_ms_rounds": [round(p, 3) for p in ipamd_p50s],
                    "plaintext_p50_ms_rounds": [round(p, 3) for p in plain_p50s],
                    "plaintext_cpu_us_per_allocation": round(statistics.mean(plain_cpu)),
                }
            report["runs"].append(
                {
                    **tls_comparison,
                    "concurrency": concurrency,
                    "raw_per_s": round(raw_rate),
                    "ipamd_per_s": round(ipamd_rate),
                    "ratio": round(ratio, 3),
                    "noop_per_s": round(noop_rate),
                    "noop_ratio": round(noop_rate / raw_rate, 3),
                    "noop_rounds": [round(r) for r in noop_rates],
                    "raw_rounds": [round(r) for r in raw_rates],
                    "ipamd_rounds": [round(r) for r in ipamd_rates],
                    "raw_p50_ms": round(raw_last.p50, 3),
                    "ipamd_p50_ms": round(ipamd_last.p50, 3),
                    "ipamd_p95_ms": round(ipamd_last.p95, 3),
                    "ipamd_cpu_us_per_allocation": round(statistics.mean(cpu_per_alloc)),
                }
            )
    peak = memory_of(ipamd.pid)
    print(f"ipamd after the load: {peak}")
    report["ipamd_rss_after_kib"] = peak.rss_kib
    report["ipamd_rss_peak_kib"] = peak.hwm_kib
    await lab.close_channels()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=2, help="raw/ipamd alternations per C")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 32, 128],
    )
    parser.add_argument("--nodes", type=int, default=4, help="node ranges the load spreads over")
    parser.add_argument(
        "--compare-plaintext",
        action="store_true",
        help="also measure a plaintext ipamd, interleaved (the cost of mutual TLS)",
    )
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
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
