"""Benchmark a: exec-to-result ADD and DEL latency, podnet vs kindnet's reference chain.

Runs on a fresh 1-node podnet lab; the reference chains run on the same node
namespace. Pods are cycled one at a time (C=1); the configurations are
interleaved in rounds so drift on the machine hits all of them alike.

    .venv/bin/python scripts/bench/add_del_latency.py [--pods 60] [--rounds 3] [--json FILE]

With --compare-plaintext it measures podnet alone on two 1-node labs side by side, one
with mutual TLS between agent and ipamd (the default) and one --insecure-plaintext,
interleaved: what TLS costs an ADD.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from bench_session import Chain, churn_once, load_average, machine, ratio, running_lab, warm_up

from tools.churn.latency import LatencySummary
from tools.churn.runner import Workload

CONFIGS = (
    ("podnet", Chain("podnet"), False),
    ("podnet +hostPort", Chain("podnet"), True),
    ("ptp+host-local", Chain("ptp", reference="ptp"), False),
    ("ptp+host-local+portmap", Chain("ptp-portmap", reference="ptp-portmap"), False),
    ("ptp+host-local+portmap +hostPort", Chain("ptp-portmap", reference="ptp-portmap"), True),
)


def compare_plaintext(per_round: int, rounds: int, json_path: Path | None) -> int:
    samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    podnet = Chain("podnet")
    with running_lab(nodes=1) as tls_lab, running_lab(nodes=1, plaintext=True) as plain_lab:
        labs = {"podnet, mutual TLS": tls_lab, "podnet, plaintext": plain_lab}
        for lab in labs.values():
            warm_up(lab, (podnet,))
        for round_number in range(rounds):
            for label, lab in labs.items():
                run = churn_once(lab, podnet, Workload(concurrency=1, count=per_round))
                for phase in ("ADD", "DEL"):
                    samples[label][phase] += run.phase_seconds[phase]
                print(f"round {round_number + 1}: {label} done", file=sys.stderr)
    results = {
        label: {phase: LatencySummary.of(values) for phase, values in phases.items()}
        for label, phases in samples.items()
    }
    lines = [
        f"machine: {machine()}; {per_round * rounds} pods per lab, C=1; "
        f"load average after the run: {load_average()}",
        "",
        "| agent to ipamd | ADD p50 ms | ADD p95 ms | DEL p50 ms | DEL p95 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, phases in results.items():
        add, delete = phases["ADD"], phases["DEL"]
        lines.append(
            f"| {label} | {add.p50_ms:.1f} | {add.p95_ms:.1f} | "
            f"{delete.p50_ms:.1f} | {delete.p95_ms:.1f} |"
        )
    tls, plain = results["podnet, mutual TLS"], results["podnet, plaintext"]
    add_ratio = ratio(tls["ADD"].p50_ms, plain["ADD"].p50_ms)
    lines += ["", f"ADD p50 mutual TLS / plaintext: {add_ratio:.2f}"]
    print("\n".join(lines))
    if json_path:
        document = {
            "machine": machine(),
            "pods_per_lab": per_round * rounds,
            "latency": {
                label: {phase: s.as_json() for phase, s in phases.items()}
                for label, phases in results.items()
            },
            "add_p50_tls_over_plaintext": round(add_ratio, 3),
        }
        json_path.write_text(json.dumps(document, indent=2) + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=60, help="pods per configuration")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--compare-plaintext",
        action="store_true",
        help="podnet with mutual TLS vs plaintext to ipamd, instead of the reference chains",
    )
    args = parser.parse_args()
    per_round = max(1, args.pods // args.rounds)
    if args.compare_plaintext:
        return compare_plaintext(per_round, args.rounds, args.json)
    samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    per_plugin: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with running_lab(nodes=1) as lab:
        warm_up(lab, tuple(chain for _, chain, _ in CONFIGS))
        for round_number in range(args.rounds):
            for label, chain, host_port in CONFIGS:
                workload = Workload(concurrency=1, count=per_round, host_port=host_port)
                run = churn_once(lab, chain, workload)
                for phase in ("ADD", "DEL"):
                    samples[label][phase] += run.phase_seconds[phase]
                for key, seconds in run.plugin_seconds.items():
                    per_plugin[label][key] += seconds
                print(f"round {round_number + 1}: {label} done", file=sys.stderr)
    results = {
        label: {phase: LatencySummary.of(values) for phase, values in phases.items()}
        for label, phases in samples.items()
    }
    lines = [
        f"machine: {machine()}; {per_round * args.rounds} pods per configuration, C=1; "
        f"load average after the run: {load_average()}",
        "",
        "| chain | ADD p50 ms | ADD p95 ms | DEL p50 ms | DEL p95 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, phases in results.items():
        add, delete = phases["ADD"], phases["DEL"]
        lines.append(
            f"| {label} | {add.p50_ms:.1f} | {add.p95_ms:.1f} | "
            f"{delete.p50_ms:.1f} | {delete.p95_ms:.1f} |"
        )
    comparisons = (
        ("podnet", "ptp+host-local+portmap", "no hostPort"),
        ("podnet +hostPort", "ptp+host-local+portmap +hostPort", "with hostPort"),
        ("podnet", "ptp+host-local", "vs ptp+host-local alone"),
    )
    lines += ["", "| ratio podnet / reference | ADD p50 | DEL p50 |", "|---|---:|---:|"]
    ratios = {}
    for ours, theirs, what in comparisons:
        add_ratio = ratio(results[ours]["ADD"].p50_ms, results[theirs]["ADD"].p50_ms)
        del_ratio = ratio(results[ours]["DEL"].p50_ms, results[theirs]["DEL"].p50_ms)
        ratios[what] = {"add_p50": round(add_ratio, 3), "del_p50": round(del_ratio, 3)}
        lines.append(f"| {what} ({theirs}) | {add_ratio:.2f} | {del_ratio:.2f} |")
    lines += ["", "| chain | plugin process p50 ms (exec to result) |", "|---|---|"]
    for label, plugins in per_plugin.items():
        shown = ", ".join(
            f"{key} {LatencySummary.of(seconds).p50_ms:.1f}"
            for key, seconds in sorted(plugins.items())
        )
        lines.append(f"| {label} | {shown} |")
    print("\n".join(lines))
    if args.json:
        document = {
            "machine": machine(),
            "pods_per_configuration": per_round * args.rounds,
            "latency": {
                label: {phase: s.as_json() for phase, s in phases.items()}
                for label, phases in results.items()
            },
            "ratios": ratios,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
