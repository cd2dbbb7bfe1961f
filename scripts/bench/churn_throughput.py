"""Benchmark b: pod-churn throughput at C = 1, 4, 16, podnet vs kindnet's reference chain.

Two labs, one after the other: 1 node (podnet and the reference on the same
node) and 3 nodes (podnet spread over both workers; the reference on the
first worker). Every run checks its invariants and fails on any pod error.

    .venv/bin/python scripts/bench/churn_throughput.py [--host-port] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench_session import Chain, churn_once, load_average, machine, ratio, running_lab, warm_up

from tools.churn.runner import Workload

CONCURRENCY = (1, 4, 16)
PODS = {1: 24, 4: 48, 16: 64}
CHAINS = (
    Chain("podnet"),
    Chain("ptp+host-local+portmap", reference="ptp-portmap"),
    Chain("ptp+host-local", reference="ptp"),
)


def cpu_per_pod_ms(report: dict[str, Any]) -> float:
    """Plugin processes (and ip netns) plus every lab daemon, per completed pod."""
    daemons = sum(daemon["cpu_seconds"] or 0.0 for daemon in report["daemons"])
    total = report["plugin_cpu_seconds"] + daemons
    return float(total / max(report["pods"]["completed"], 1) * 1000)


def measure(nodes: int, host_port: bool, pods_scale: float) -> list[dict[str, Any]]:
    rows = []
    with running_lab(nodes) as lab:
        warm_up(lab, CHAINS)
        for concurrency in CONCURRENCY:
            count = max(concurrency, int(PODS[concurrency] * pods_scale))
            row: dict[str, Any] = {"lab_nodes": nodes, "concurrency": concurrency, "pods": count}
            for chain in CHAINS:
                workload = Workload(concurrency=concurrency, count=count, host_port=host_port)
                report = churn_once(lab, chain, workload).report
                row[chain.name] = {
                    "pods_per_second": report["pods_per_second"],
                    "add_p50_ms": report["latency"]["ADD"]["p50_ms"],
                    "del_p50_ms": report["latency"]["DEL"]["p50_ms"],
                    "daemons": report["daemons"],
                    "cpu_ms_per_pod": round(cpu_per_pod_ms(report), 1),
                }
                print(
                    f"{nodes}-node lab, C={concurrency}: {chain.name} "
                    f"{report['pods_per_second']:.1f} pods/s",
                    file=sys.stderr,
                )
            rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host-port", action="store_true", help="a hostPort mapping per pod")
    parser.add_argument("--pods-scale", type=float, default=1.0, help="scale the pod counts")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = measure(1, args.host_port, args.pods_scale) + measure(3, args.host_port, args.pods_scale)
    reference = "ptp+host-local+portmap"
    lines = [
        f"machine: {machine()}; hostPort mapping per pod: {'yes' if args.host_port else 'no'}; "
        f"load average after the run: {load_average()}",
        "",
        "| lab | C | pods | podnet pods/s | ptp+host-local+portmap pods/s | ptp+host-local "
        "pods/s | ratio vs +portmap | ratio vs ptp alone | CPU ms/pod podnet / +portmap |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ours = row["podnet"]["pods_per_second"]
        theirs = row[reference]["pods_per_second"]
        bare = row["ptp+host-local"]["pods_per_second"]
        row["ratio_vs_portmap_chain"] = round(ratio(ours, theirs), 3)
        row["ratio_vs_ptp"] = round(ratio(ours, bare), 3)
        lines.append(
            f"| {row['lab_nodes']} node(s) | {row['concurrency']} | {row['pods']} | {ours:.1f} | "
            f"{theirs:.1f} | {bare:.1f} | {ratio(ours, theirs):.2f} | {ratio(ours, bare):.2f} | "
            f"{row['podnet']['cpu_ms_per_pod']:.0f} / {row[reference]['cpu_ms_per_pod']:.0f} |"
        )
    print("\n".join(lines))
    if args.json:
        document = {"machine": machine(), "host_port": args.host_port, "rows": rows}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
