"""Fault injection under pod churn: kill -9 of the agent and of ipamd mid-operation.

The churn engine behaves as a runtime does (DEL and the second DEL after a failed
ADD), and its invariant checker must find no IP given twice, no allocation left in
ipamd, and no veth, route or rule left in any node.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.lab.conftest import LabRunner
from tools.lab.probes import json_events

CHURN_CLI = str(Path(sys.executable).parent / "podnet-churn")
PODS = 120


def start_churn(lab: LabRunner, report: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CHURN_CLI, "--lab", str(lab.state_dir), "-c", "8", "--count", str(PODS),
         "--report", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_pods_added(agent_log: Path, count: int, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while len(json_events(agent_log, "pod_added")) < count:
        assert time.monotonic() < deadline, f"fewer than {count} pods added in {within}s"
        time.sleep(0.05)


def finish(churn: subprocess.Popen[str], report: Path) -> dict[str, Any]:
    stdout, stderr = churn.communicate(timeout=300)
    assert report.exists(), stdout + stderr
    document: dict[str, Any] = json.loads(report.read_text())
    assert document["invariants"] == {"checked": True, "violations": []}, stdout + stderr
    assert document["pods"]["total"] == PODS
    return document


def worker_agent_log(lab: LabRunner) -> Path:
    lab_json = json.loads((lab.state_dir / "lab.json").read_text())
    worker = next(node for node in lab_json["nodes"] if node["role"] == "worker")
    return Path(worker["agent"]["log"])


def test_agent_killed_mid_churn_loses_and_leaks_nothing(lab: LabRunner, tmp_path: Path) -> None:
    lab.ok("up", "--nodes", "2")
    log = worker_agent_log(lab)
    report = tmp_path / "report.json"
    churn = start_churn(lab, report)
    try:
        wait_for_pods_added(log, 10)
        lab.ok("node", "stop", "worker", "--kill")
        time.sleep(1.0)
        lab.ok("node", "start", "worker")
    finally:
        document = finish(churn, report)
    errors = document["errors"]
    # While the agent was gone, ADD said "try again later" and DELs were spooled.
    assert errors["total"] > 0
    assert set(errors["by_code"]) == {"11"}, errors
    assert set(errors["by_phase"]) == {"ADD"}, errors
    replayed = sum(int(e.get("count", 0)) for e in json_events(log, "spool_replayed"))
    assert replayed > 0


def test_ipamd_killed_mid_churn_loses_and_leaks_nothing(lab: LabRunner, tmp_path: Path) -> None:
    lab.ok("up", "--nodes", "2")
    log = worker_agent_log(lab)
    report = tmp_path / "report.json"
    churn = start_churn(lab, report)
    try:
        wait_for_pods_added(log, 10)
        lab.ok("ipamd", "stop", "--kill")
        time.sleep(2.0)
        lab.ok("ipamd", "start")
    finally:
        document = finish(churn, report)
    # Calls to ipamd wait for it within their deadline, so pods may not fail at all;
    # whatever failed did so as "try again later".
    assert set(document["errors"]["by_code"]) <= {"11"}, document["errors"]
