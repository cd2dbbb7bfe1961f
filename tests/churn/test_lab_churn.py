"""podnet-churn against a real 2-node podnet lab (agents, ipamd, etcd in namespaces)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.churn.conftest import run_churn_cli
from tests.lab.conftest import LabRunner
from tools.churn.runner import Workload, run_churn
from tools.churn.targets import TargetOptions, lab_target
from tools.churn.verification import take_baseline, verify_run
from tools.cniexec import CniRuntime, RuntimeConf, RuntimeSettings, kubernetes_pod_args
from tools.lab.netns import create_netns, delete_netns, list_netns


@pytest.fixture(scope="module")
def lab() -> Iterator[LabRunner]:
    parent = Path(tempfile.mkdtemp(prefix="pc-", dir="/tmp"))
    runner = LabRunner(prefix=f"c{uuid.uuid4().hex[:6]}-", state_dir=parent / "s")
    try:
        runner.ok("up", "--nodes", "2", timeout=120)
        yield runner
    finally:
        runner.run("down", timeout=120)
        shutil.rmtree(parent, ignore_errors=True)


def test_churn_on_a_two_node_lab_keeps_every_invariant(lab: LabRunner, tmp_path: Path) -> None:
    done, report = run_churn_cli(
        "--lab", str(lab.state_dir), "-c", "8", "--count", "32", "--host-port",
        report=tmp_path / "report.json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert report is not None
    assert report["pods"] == {"total": 32, "completed": 32, "with_errors": 0}
    assert report["chain"] == ["podnet"]
    assert report["invariants"] == {"checked": True, "violations": []}
    for phase in ("ADD", "DEL", "DEL2"):
        assert report["latency"][phase]["count"] == 32
    daemons = {daemon["name"]: daemon for daemon in report["daemons"]}
    assert set(daemons) == {"agent control-plane", "agent worker", "ipamd", "etcd"}
    assert daemons["agent worker"]["cpu_seconds"] > 0
    assert all(daemon["peak_rss_kib"] > 0 for daemon in daemons.values())
    assert list_netns(f"{lab.prefix}churn-") == []


def test_churn_with_check_on_the_lab(lab: LabRunner, tmp_path: Path) -> None:
    done, report = run_churn_cli(
        "--lab", str(lab.state_dir), "-c", "4", "--count", "8", "--check",
        report=tmp_path / "report.json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert report is not None
    assert report["latency"]["CHECK"]["count"] == 8
    assert report["invariants"]["violations"] == []


def test_allocation_leaked_outside_the_run_is_reported(lab: LabRunner, tmp_path: Path) -> None:
    options = TargetOptions(pod_netns_prefix=f"{lab.prefix}churn-leak-")
    target = lab_target(lab.state_dir, options)
    baseline = take_baseline(target)
    outcome = run_churn(target, Workload(concurrency=2, count=4))
    assert verify_run(outcome, baseline) == []

    node = target.nodes[0]
    runtime = CniRuntime(RuntimeSettings(node.bin_dirs, tmp_path / "cache", node.netns))
    stray_pod = f"{lab.prefix}stray"
    create_netns(stray_pod)
    conf = RuntimeConf(
        uuid.uuid4().hex,
        f"/run/netns/{stray_pod}",
        "eth0",
        kubernetes_pod_args("default", "stray", str(uuid.uuid4())),
    )
    try:
        added = runtime.add(node.conflist, conf)
        assert added.result is not None
        stray_ip = added.result["ips"][0]["address"].split("/")[0]
        violations = verify_run(outcome, baseline)
        leaks = [v for v in violations if v.invariant == "leaked-allocation"]
        assert len(leaks) == 1 and stray_ip in leaks[0].detail
        assert {"leftover-veth", "leftover-route"} <= {v.invariant for v in violations}
        runtime.delete(node.conflist, conf)
        assert verify_run(outcome, baseline) == []
    finally:
        delete_netns(stray_pod)
