"""Shared by the exec-level benchmarks: a throwaway lab, and churn runs against it."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.churn.report import build_report
from tools.churn.runner import Workload, run_churn
from tools.churn.targets import (
    Target,
    TargetOptions,
    lab_target,
    reference_node_of_lab,
    reference_target,
)
from tools.churn.verification import take_baseline, verify_run

LAB_CLI = str(Path(sys.executable).parent / "podnet-lab")


@dataclass(frozen=True)
class Lab:
    prefix: str
    state_dir: Path


@contextlib.contextmanager
def running_lab(nodes: int, plaintext: bool = False) -> Iterator[Lab]:
    """podnet-lab up with a unique prefix (plaintext: agents and ipamd without TLS);
    always down afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="pb-", dir="/tmp"))
    lab = Lab(prefix=f"b{uuid.uuid4().hex[:5]}-", state_dir=parent / "s")
    base = [LAB_CLI, "--prefix", lab.prefix, "--state-dir", str(lab.state_dir)]
    up = [*base, "up", "--nodes", str(nodes), *(["--insecure-plaintext"] if plaintext else [])]
    try:
        subprocess.run(up, check=True, timeout=180, stdout=sys.stderr)
        yield lab
    finally:
        subprocess.run([*base, "down"], check=False, timeout=180, capture_output=True)
        shutil.rmtree(parent, ignore_errors=True)


@dataclass(frozen=True)
class Chain:
    """podnet (the lab's conflist) or a reference chain on the lab's first worker."""

    name: str
    reference: str | None = None
    lab_nodes: int | None = None


@contextlib.contextmanager
def chain_target(lab: Lab, chain: Chain) -> Iterator[Target]:
    options = TargetOptions(
        pod_netns_prefix=f"{lab.prefix}churn-{uuid.uuid4().hex[:4]}-",
        nodes=chain.lab_nodes,
        reference=chain.reference,
    )
    if chain.reference is None:
        yield lab_target(lab.state_dir, options)
        return
    with reference_target(reference_node_of_lab(lab.state_dir), options) as target:
        yield target


@dataclass(frozen=True)
class ChurnRun:
    report: dict[str, Any]
    phase_seconds: dict[str, list[float]]  # every chain wall time, per phase
    plugin_seconds: dict[str, list[float]]  # "<command> <plugin>": every plugin process


def churn_once(lab: Lab, chain: Chain, workload: Workload) -> ChurnRun:
    """One run with its invariants checked; raises if any broke or any pod failed."""
    with chain_target(lab, chain) as target:
        baseline = take_baseline(target)
        outcome = run_churn(target, workload)
        violations = verify_run(outcome, baseline)
    report = build_report(outcome, violations)
    if violations or report["errors"]["total"]:
        raise RuntimeError(f"{chain.name}: {json.dumps(report['errors'])} {violations}")
    phase_seconds: dict[str, list[float]] = defaultdict(list)
    for record in outcome.records:
        for phase, seconds in record.seconds.items():
            phase_seconds[phase].append(seconds)
    plugin_seconds: dict[str, list[float]] = defaultdict(list)
    for record in outcome.records:
        for run in record.plugin_runs:
            plugin_seconds[f"{run.command} {run.plugin_type}"].append(run.wall_seconds)
    return ChurnRun(report, dict(phase_seconds), dict(plugin_seconds))


def warm_up(lab: Lab, chains: tuple[Chain, ...]) -> None:
    """A few unmeasured pods per chain: page cache, first netlink/iptables set-up.

    One at a time: portmap creates its shared chains on first use and two
    concurrent first uses race (iptables: "CHAIN_USER_ADD failed (File exists)").
    """
    for chain in chains:
        churn_once(lab, chain, Workload(concurrency=1, count=3, host_port=True))


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {_cpus()} cores, Python {platform.python_version()}"


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def ratio(value: float, reference: float) -> float:
    return value / reference if reference else float("nan")
