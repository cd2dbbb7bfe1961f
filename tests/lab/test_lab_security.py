"""What a pod, and a node gone rogue, can do on the lab: real etcd, certificates and
namespaces. A pod reaches ipamd's and etcd's ports but gets nothing from either without
a certificate; the worker's certificate acts for the worker only, and each refused
call leaves etcd exactly as it was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from podnet.tls.files import TlsFiles

from tests.lab.cluster_probes import GRPCURL, add_pod_on, lab_json, node_of, pods_of
from tests.lab.conftest import LabRunner
from tools.lab.daemons import ETCD_PREFIX
from tools.lab.layout import ETCD_CLIENT_PORT, LabPaths
from tools.lab.pki import LabPki

ROOT = Path(__file__).parents[2]


def in_netns(netns: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", netns, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def pki_of(lab: LabRunner) -> LabPki:
    return LabPki(LabPaths(lab.state_dir).pki_dir)


def as_(files: TlsFiles) -> list[str]:
    """grpcurl's flags for mutual TLS as files' identity."""
    return ["-cacert", str(files.ca), "-cert", str(files.cert), "-key", str(files.key)]


def grpcurl(
    netns: str, address: str, flags: list[str], method: str, body: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    data = ["-d", json.dumps(body)] if body is not None else []
    return in_netns(netns, GRPCURL, "-max-time", "5", *flags, *data, address, method)


def etcd_read(
    lab: LabRunner, netns: str, ca: Path | None = None, pair: TlsFiles | None = None
) -> subprocess.CompletedProcess[str]:
    etcd = f"{node_of(lab, 'control-plane')['ip']}:{ETCD_CLIENT_PORT}"
    argv = [sys.executable, "-m", "tests.lab.etcd_read", etcd, f"{ETCD_PREFIX}/"]
    if ca is not None:
        argv += ["--ca", str(ca)]
    if pair is not None:
        argv += ["--cert", str(pair.cert), "--key", str(pair.key)]
    return in_netns(netns, *argv)


def etcd_dump(lab: LabRunner) -> dict[str, list[Any]]:
    """Everything under podnet's prefix, read as ipamd (the only identity that may)."""
    pki = pki_of(lab)
    done = etcd_read(lab, node_of(lab, "control-plane")["netns"], pki.ca, pki.ipamd_etcd_client())
    assert done.returncode == 0, done.stderr
    dump: dict[str, list[Any]] = json.loads(done.stdout)
    return dump


def test_a_pod_gets_nothing_from_ipamd_or_etcd_without_a_certificate(lab: LabRunner) -> None:
    lab.ok("up", "--nodes", "2", timeout=180)
    lab.ok("pods", "add", "--count", "1")
    (pod,) = pods_of(lab)
    pki = pki_of(lab)
    ipamd = lab_json(lab)["ipamd"]["address"]
    host, _, port = ipamd.rpartition(":")

    # The ports are reachable from the pod: what stops it is the TLS, not the network.
    for target in (port, str(ETCD_CLIENT_PORT)):
        probe = in_netns(pod["netns"], "bash", "-c", f"exec 3<>/dev/tcp/{host}/{target}")
        assert probe.returncode == 0, (target, probe.stderr)

    plaintext = grpcurl(pod["netns"], ipamd, ["-plaintext"], "list")
    assert plaintext.returncode != 0
    no_certificate = grpcurl(pod["netns"], ipamd, ["-cacert", str(pki.ca)], "list")
    assert no_certificate.returncode != 0
    assert "podnet.v1.Ipam" not in plaintext.stdout + no_certificate.stdout

    assert etcd_read(lab, pod["netns"]).returncode == 1  # plaintext
    assert etcd_read(lab, pod["netns"], pki.ca).returncode == 1  # no client certificate
    # A certificate of the same CA gets through TLS, and etcd's RBAC refuses it.
    as_node = etcd_read(lab, pod["netns"], pki.ca, pki.node(node_of(lab, "worker")["name"]))
    assert as_node.returncode == 1 and "PERMISSION_DENIED" in as_node.stderr
    # Only ipamd's identity reads podnet's keys (here from the pod, to show the path).
    as_ipamd = etcd_read(lab, pod["netns"], pki.ca, pki.ipamd_etcd_client())
    assert as_ipamd.returncode == 0 and f"{ETCD_PREFIX}/ranges/" in as_ipamd.stdout


def test_the_workers_certificate_acts_for_the_worker_only(lab: LabRunner) -> None:
    lab.ok("up", "--nodes", "2", timeout=180)
    victim = add_pod_on(lab, "control-plane", "victim")
    control_plane, worker = node_of(lab, "control-plane"), node_of(lab, "worker")
    pki = pki_of(lab)
    as_worker = as_(pki.node(worker["name"]))
    ipamd = lab_json(lab)["ipamd"]["address"]
    their_cidr = control_plane["pod_cidr"]
    ours = {"node": worker["name"]}

    attempts: dict[str, tuple[str, dict[str, Any], str]] = {
        "acquire the control-plane's range": (
            "AcquireNodeRange",
            {"node": control_plane["name"], "node_ip": worker["ip"]},
            "PermissionDenied",
        ),
        "renew the control-plane's range": (
            "RenewNodeRange",
            {"node": control_plane["name"], "cidr": their_cidr},
            "PermissionDenied",
        ),
        "renew the control-plane's range as the worker": (
            "RenewNodeRange",
            {**ours, "cidr": their_cidr},
            "NotFound",
        ),
        "release the control-plane's pod": (
            "ReleasePodIp",
            {
                "node": control_plane["name"],
                "container_id": victim["container_id"],
                "ifname": "eth0",
            },
            "PermissionDenied",
        ),
        "list the control-plane's pods": (
            "ListAllocations",
            {"node": control_plane["name"]},
            "PermissionDenied",
        ),
        "allocate in the control-plane's range": (
            "AllocatePodIp",
            {**ours, "cidr": their_cidr, "container_id": "intruder", "ifname": "eth0"},
            "PermissionDenied",
        ),
        "acquire a second range under another name": (
            "AcquireNodeRange",
            {"node": f"{worker['name']}-2", "node_ip": worker["ip"]},
            "PermissionDenied",
        ),
    }
    for what, (method, body, code) in attempts.items():
        before = etcd_dump(lab)
        done = grpcurl(worker["netns"], ipamd, as_worker, f"podnet.v1.Ipam/{method}", body)
        assert done.returncode != 0, what
        assert f"Code: {code}" in done.stdout + done.stderr, (what, done.stdout, done.stderr)
        assert etcd_dump(lab) == before, what

    # The control-plane's pod still has its address; the worker lists its own node.
    listed = grpcurl(
        control_plane["netns"],
        ipamd,
        as_(pki.admin()),
        "podnet.v1.Ipam/ListAllocations",
        {"node": control_plane["name"]},
    )
    assert listed.returncode == 0, listed.stderr
    assert [a["address"] for a in json.loads(listed.stdout)["allocations"]] == [victim["ip"]]
    own = grpcurl(worker["netns"], ipamd, as_worker, "podnet.v1.Ipam/ListAllocations", ours)
    assert own.returncode == 0, own.stderr

    denials = [
        json.loads(line)
        for line in Path(lab_json(lab)["ipamd"]["log"]).read_text().splitlines()
        if '"request_denied"' in line
    ]
    assert len(denials) == sum(code == "PermissionDenied" for _, _, code in attempts.values())
    assert {d["peer_identity"] for d in denials} == {f"spiffe://podnet.local/node/{worker['name']}"}
