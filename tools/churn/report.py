"""The end-of-run report: a JSON document and a table for the terminal."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import asdict
from typing import Any

from tools.churn.invariants import Violation
from tools.churn.latency import LatencySummary
from tools.churn.runner import ChurnOutcome

SCHEMA = "podnet-churn/v1"
PHASES = ("ADD", "CHECK", "DEL", "DEL2")
MAX_ERROR_SAMPLES = 10


def phase_latencies(outcome: ChurnOutcome) -> dict[str, LatencySummary]:
    samples: dict[str, list[float]] = defaultdict(list)
    for record in outcome.records:
        for phase, seconds in record.seconds.items():
            samples[phase].append(seconds)
    return {phase: LatencySummary.of(samples[phase]) for phase in PHASES if samples[phase]}


def plugin_latencies(outcome: ChurnOutcome) -> dict[str, dict[str, LatencySummary]]:
    """Per command and plugin type: each plugin process, exec to result."""
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    for record in outcome.records:
        for run in record.plugin_runs:
            samples[(run.command, run.plugin_type)].append(run.wall_seconds)
    table: dict[str, dict[str, LatencySummary]] = defaultdict(dict)
    for (command, plugin_type), seconds in sorted(samples.items()):
        table[command][plugin_type] = LatencySummary.of(seconds)
    return dict(table)


def pods_per_second(outcome: ChurnOutcome) -> float:
    completed = sum(1 for record in outcome.records if record.ok)
    return completed / outcome.wall_seconds if outcome.wall_seconds > 0 else math.nan


def build_report(outcome: ChurnOutcome, violations: list[Violation] | None) -> dict[str, Any]:
    """violations None means the invariants were not checked."""
    errors = [error for record in outcome.records for error in record.errors]
    by_phase: dict[str, Counter[str]] = defaultdict(Counter)
    for error in errors:
        by_phase[error.phase][error.code] += 1
    completed = sum(1 for record in outcome.records if record.ok)
    return {
        "schema": SCHEMA,
        "target": outcome.target.label,
        "nodes": [node.name for node in outcome.target.nodes],
        "chain": list(outcome.target.nodes[0].conflist.plugin_types),
        "workload": asdict(outcome.workload),
        "pods": {
            "total": len(outcome.records),
            "completed": completed,
            "with_errors": len(outcome.records) - completed,
        },
        "wall_seconds": round(outcome.wall_seconds, 3),
        "pods_per_second": round(pods_per_second(outcome), 2),
        "latency": {phase: s.as_json() for phase, s in phase_latencies(outcome).items()},
        "plugin_latency": {
            command: {plugin: s.as_json() for plugin, s in plugins.items()}
            for command, plugins in plugin_latencies(outcome).items()
        },
        "errors": {
            "total": len(errors),
            "by_code": dict(Counter(error.code for error in errors)),
            "by_phase": {phase: dict(codes) for phase, codes in by_phase.items()},
            "samples": [asdict(error) for error in errors[:MAX_ERROR_SAMPLES]],
        },
        "daemons": [
            {
                "name": usage.name,
                "pid": usage.pid,
                "cpu_seconds": None if usage.cpu_seconds is None else round(usage.cpu_seconds, 2),
                "peak_rss_kib": usage.after.peak_rss_kib if usage.after else None,
                "rss_kib": usage.after.rss_kib if usage.after else None,
            }
            for usage in outcome.daemons
        ],
        "plugin_cpu_seconds": round(outcome.plugin_cpu_seconds, 2),
        "invariants": {
            "checked": violations is not None,
            "violations": [asdict(violation) for violation in violations or []],
        },
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report_table(report: dict[str, Any]) -> str:
    pods = report["pods"]
    lines = [
        f"target {report['target']} ({' + '.join(report['chain'])}) "
        f"on {', '.join(report['nodes'])}",
        f"pods {pods['completed']}/{pods['total']} completed in {report['wall_seconds']:.1f}s: "
        f"{report['pods_per_second']:.1f} pods/s "
        f"(C={report['workload']['concurrency']})",
        "",
        f"{'phase':<8}{'count':>7}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}",
    ]
    for phase, summary in report["latency"].items():
        lines.append(
            f"{phase:<8}{summary['count']:>7}{_ms(summary['p50_ms']):>10}"
            f"{_ms(summary['p95_ms']):>10}{_ms(summary['p99_ms']):>10}"
        )
    errors = report["errors"]
    lines.append("")
    if errors["total"]:
        codes = ", ".join(f"code {code}: {n}" for code, n in sorted(errors["by_code"].items()))
        lines.append(f"errors {errors['total']} ({codes})")
    else:
        lines.append("errors 0")
    if report["daemons"]:
        lines += ["", f"{'daemon':<24}{'cpu s':>8}{'peak RSS MiB':>14}"]
        for daemon in report["daemons"]:
            cpu = "-" if daemon["cpu_seconds"] is None else f"{daemon['cpu_seconds']:.2f}"
            peak = daemon["peak_rss_kib"]
            rss = "-" if peak is None else f"{peak / 1024:.1f}"
            lines.append(f"{daemon['name']:<24}{cpu:>8}{rss:>14}")
    lines.append(f"plugin processes: {report['plugin_cpu_seconds']:.2f} cpu s")
    invariants = report["invariants"]
    if invariants["checked"]:
        found = invariants["violations"]
        lines.append("")
        lines.append("invariants: ok" if not found else f"invariants: {len(found)} VIOLATED")
    return "\n".join(lines)
