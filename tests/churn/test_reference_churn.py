"""podnet-churn against kindnet's reference chain (ptp + host-local [+ portmap]) on one node."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.churn.conftest import run_churn_cli
from tests.conftest import NetnsFactory
from tools.churn.runner import Workload, run_churn
from tools.churn.targets import TargetOptions, reference_target
from tools.churn.verification import take_baseline, verify_run
from tools.cniexec import CniRuntime, RuntimeConf, RuntimeSettings, kubernetes_pod_args
from tools.lab.netns import list_netns


def test_reference_churn_with_host_ports_keeps_every_invariant(
    netns: NetnsFactory, tmp_path: Path
) -> None:
    node = netns("node")
    prefix = f"{netns.prefix}pod-"
    done, report = run_churn_cli(
        "--node-netns", node, "--reference", "ptp-portmap", "-c", "8", "--count", "16",
        "--host-port", "--netns-prefix", prefix, report=tmp_path / "report.json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert report is not None
    assert report["pods"] == {"total": 16, "completed": 16, "with_errors": 0}
    assert report["chain"] == ["ptp", "portmap"]
    assert report["invariants"] == {"checked": True, "violations": []}
    assert report["latency"]["ADD"]["count"] == 16
    assert report["latency"]["DEL2"]["count"] == 16
    assert report["pods_per_second"] > 0
    assert "pods/s" in done.stdout and "invariants: ok" in done.stdout
    assert list_netns(prefix) == []


def test_cli_fails_loudly_when_an_invariant_breaks(netns: NetnsFactory, tmp_path: Path) -> None:
    node = netns("node")
    stray = netns("podx")  # looks like one of the run's pod namespaces, left behind
    done, report = run_churn_cli(
        "--node-netns", node, "--reference", "ptp", "-c", "2", "--count", "2", "--settle", "1",
        "--netns-prefix", f"{netns.prefix}pod", report=tmp_path / "report.json",
    )  # fmt: skip
    assert done.returncode == 1
    assert "INVARIANT VIOLATED" in done.stderr
    assert f"leftover-netns: {stray}" in done.stderr
    assert report is not None and report["invariants"]["violations"]


def test_an_add_made_outside_the_run_is_reported_as_leaked(
    netns: NetnsFactory, tmp_path: Path
) -> None:
    node = netns("node")
    options = TargetOptions(pod_netns_prefix=f"{netns.prefix}pod-", reference="ptp")
    with reference_target(node, options) as target:
        baseline = take_baseline(target)
        outcome = run_churn(target, Workload(concurrency=2, count=4))
        assert verify_run(outcome, baseline) == []

        runtime = CniRuntime(RuntimeSettings(("/usr/lib/cni",), tmp_path / "cache", node))
        conflist = target.nodes[0].conflist
        stray_pod = netns("stray")
        conf = RuntimeConf(
            uuid.uuid4().hex,
            f"/run/netns/{stray_pod}",
            "eth0",
            kubernetes_pod_args("default", "stray", str(uuid.uuid4())),
        )
        added = runtime.add(conflist, conf)
        assert added.result is not None
        stray_ip = added.result["ips"][0]["address"].split("/")[0]

        violations = verify_run(outcome, baseline)
        kinds = {violation.invariant for violation in violations}
        assert {"leaked-allocation", "leftover-veth", "leftover-route"} <= kinds
        leak = next(v for v in violations if v.invariant == "leaked-allocation")
        assert stray_ip in leak.detail

        runtime.delete(conflist, conf)
        assert verify_run(outcome, baseline) == []
