"""Fault injection under pod churn: kill -9 of the agent and of ipamd mid-operation, and
the loss of the etcd leader (killed, or frozen with SIGSTOP) in a lab of three members.

The churn engine behaves as a runtime does (DEL and the second DEL after a failed
ADD), and its invariant checker must find no IP given twice, no allocation left in
ipamd, and no veth, route or rule left in any node.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

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


def etcd_roles(lab: LabRunner) -> dict[str, bool | None]:
    """Each member: True for the leader, False for a follower, None if it did not answer."""
    members = json.loads(lab.ok("etcd", "status", "--json"))
    return {m["name"]: (m["leader"] if m["member_id"] is not None else None) for m in members}


@pytest.mark.parametrize("fault", ["kill", "freeze"])
def test_etcd_leader_lost_mid_churn_loses_and_leaks_nothing(
    lab: LabRunner, tmp_path: Path, fault: str
) -> None:
    lab.ok("up", "--nodes", "2", "--etcd-members", "3")
    log = worker_agent_log(lab)
    report = tmp_path / "report.json"
    churn = start_churn(lab, report)
    try:
        wait_for_pods_added(log, 10)
        done = lab.ok("etcd", fault, "leader")
        found = re.search(r"etcd member (etcd-\d)", done)
        assert found, done
        leader = found.group(1)
        time.sleep(3.0)  # a new leader is elected within about a second
        lost = etcd_roles(lab)
        assert lost[leader] is None and sorted(lost.values(), key=str) == [False, None, True]
        lab.ok("etcd", "start" if fault == "kill" else "thaw", leader)
    finally:
        document = finish(churn, report)
    # ipamd retries an etcd call on the next member; a pod whose ADD still ran out of time
    # failed with "try again later", and its DELs went through.
    errors = document["errors"]
    ipamd_log = Path(json.loads((lab.state_dir / "lab.json").read_text())["ipamd"]["log"])
    failovers = json_events(ipamd_log, "etcd endpoint failed, trying next")
    print(
        f"etcd leader {leader} {fault}: pods {document['pods']}, errors {errors['by_code']}, "
        f"ADD p99 {document['latency']['ADD']['p99_ms']} ms, ipamd fail-overs {len(failovers)}"
    )
    assert set(errors["by_code"]) <= {"11"}, errors
    assert set(errors["by_phase"]) <= {"ADD"}, errors
    # The kubelet's retry of such a pod (a new sandbox) succeeds once churn is over.
    assert "pod webserver-1 on worker:" in lab.ok("pods", "add", "--count", "1")
    back = etcd_roles(lab)
    assert sorted(back.values(), key=str) == [False, False, True], back
