"""Certificates renewed under a running lab: every certificate (ipamd's serving one, each
node's) replaced in the middle of a pod churn, with no failed CNI call and no restart;
then a node whose certificate has expired, refused by ipamd, answering ADD with 11 and
saying why in its log, until it is renewed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from podnet.tls.identity import Role

from tests.lab.cluster_probes import cni_add, cni_del, lab_json, node_of, wait_for
from tests.lab.conftest import LabRunner
from tools.churn.report import build_report
from tools.churn.runner import Workload, run_churn
from tools.churn.targets import TargetOptions, lab_target
from tools.churn.verification import take_baseline, verify_run
from tools.cniexec import PluginError
from tools.lab.layout import LabPaths
from tools.lab.netns import create_netns, delete_netns
from tools.lab.pki import IPAMD_NAME, LabPki

# Agents and ipamd look at their files every 5 s (podnet.tls.files.DEFAULT_POLL_SECONDS).
POLL_SECONDS = 5.0


@pytest.fixture(scope="module")
def lab() -> Iterator[LabRunner]:
    parent = Path(tempfile.mkdtemp(prefix="pr-", dir="/tmp"))
    runner = LabRunner(prefix=f"r{uuid.uuid4().hex[:6]}-", state_dir=parent / "s")
    try:
        runner.ok("up", "--nodes", "2", timeout=180)
        yield runner
    finally:
        runner.run("down", timeout=120)
        shutil.rmtree(parent, ignore_errors=True)


def pki_of(lab: LabRunner) -> LabPki:
    return LabPki(LabPaths(lab.state_dir).pki_dir)


def log_events(path: str, event: str) -> list[dict[str, Any]]:
    found = []
    for line in Path(path).read_text(errors="replace").splitlines():
        if line.startswith("{") and f'"{event}"' in line:
            document = json.loads(line)
            if document.get("event") == event:
                found.append(document)
    return found


def served_serial(lab: LabRunner) -> int:
    """The serial of the certificate ipamd presents to a new connection now."""
    pki = pki_of(lab)
    worker = node_of(lab, "worker")
    files = pki.node(worker["name"])
    shown = subprocess.run(
        ["ip", "netns", "exec", worker["netns"], "openssl", "s_client", "-connect",
         lab_json(lab)["ipamd"]["address"], "-CAfile", str(files.ca), "-cert", str(files.cert),
         "-key", str(files.key), "-alpn", "h2"],
        input=b"", capture_output=True, timeout=20, check=False,
    )  # fmt: skip
    # The output ends with whatever ipamd sent after the handshake (HTTP/2 frames).
    certificate = subprocess.run(
        ["openssl", "x509", "-noout", "-serial"],
        input=shown.stdout.decode(errors="replace"),
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return int(certificate.stdout.strip().split("=", 1)[1], 16)


def serial_of(pki: LabPki, role: Role, name: str) -> int:
    return pki.store.load_leaf_certificate(role, name).serial_number


def test_every_certificate_renewed_mid_churn_fails_no_cni_call(lab: LabRunner) -> None:
    pki = pki_of(lab)
    nodes = lab_json(lab)["nodes"]
    target = lab_target(lab.state_dir, TargetOptions(pod_netns_prefix=f"{lab.prefix}churn-"))
    baseline = take_baseline(target)
    assert served_serial(lab) == serial_of(pki, Role.IPAMD, IPAMD_NAME)

    with ThreadPoolExecutor(1) as pool:
        churn = pool.submit(run_churn, target, Workload(concurrency=4, duration=5 * POLL_SECONDS))
        time.sleep(POLL_SECONDS)
        pki.renew(Role.IPAMD, IPAMD_NAME)
        for node in nodes:
            pki.renew(Role.NODE, node["name"])
        # One agent hears about it at once (SIGHUP); the other notices at its next look.
        os.kill(node_of(lab, "control-plane")["agent"]["pid"], signal.SIGHUP)
        outcome = churn.result()
    violations = verify_run(outcome, baseline, settle_seconds=10)
    report = build_report(outcome, violations)
    assert report["errors"]["total"] == 0, report["errors"]
    assert violations == []
    assert report["pods"]["completed"] >= 8, report["pods"]

    # Each agent moved to its renewed certificate; ipamd serves its renewed one.
    for node in nodes:
        renewed = log_events(node["agent"]["log"], "tls_certificate_renewed")
        assert [int(e["serial"], 16) for e in renewed] == [
            serial_of(pki, Role.NODE, node["name"])
        ], node["role"]
    assert served_serial(lab) == serial_of(pki, Role.IPAMD, IPAMD_NAME)
    # Nobody restarted.
    document = lab_json(lab)
    assert [n["agent"]["pid"] for n in document["nodes"]] == [n["agent"]["pid"] for n in nodes]
    assert len(log_events(document["ipamd"]["log"], "serving")) == 1


def test_an_expired_node_certificate_is_refused_until_renewed(
    lab: LabRunner, tmp_path: Path
) -> None:
    pki = pki_of(lab)
    worker = node_of(lab, "worker")
    log = worker["agent"]["log"]
    pki.expire(Role.NODE, worker["name"])
    os.kill(worker["agent"]["pid"], signal.SIGHUP)
    wait_for(lambda: bool(log_events(log, "tls_certificate_invalid")), 20, "the agent's complaint")
    (complaint,) = log_events(log, "tls_certificate_invalid")
    assert complaint["level"] == "error" and "expired at" in complaint["problem"]
    assert complaint["identity"] == f"spiffe://podnet.local/node/{worker['name']}"

    pod_netns = f"{lab.prefix}pod-expired-1"
    create_netns(pod_netns)
    try:
        with pytest.raises(PluginError) as refused:
            cni_add(worker, tmp_path / "cache", pod_netns, uuid.uuid4().hex)
        assert refused.value.code == 11, refused.value
        # Renewed, and the same agent is back without a restart.
        switches = len(log_events(log, "tls_certificate_renewed"))
        pki.renew(Role.NODE, worker["name"])
        os.kill(worker["agent"]["pid"], signal.SIGHUP)
        wait_for(
            lambda: len(log_events(log, "tls_certificate_renewed")) > switches,
            20,
            "the renewed certificate in use",
        )
        container_id = uuid.uuid4().hex
        added = cni_add(worker, tmp_path / "cache", pod_netns, container_id)
        assert added.result is not None
        cni_del(worker, tmp_path / "cache", pod_netns, container_id)
    finally:
        delete_netns(pod_netns)
    assert node_of(lab, "worker")["agent"]["pid"] == worker["agent"]["pid"]
