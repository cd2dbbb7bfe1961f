"""podnetctl against a real two-node lab (etcd, ipamd, agents in namespaces, pods wired
through the CNI chain), reaching it through the podnetctl.json the lab writes.

The tests share the lab and run in file order; each one that plants a problem removes it
again and leaves the lab clean.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from podnet.version import podnet_version

from tests.lab.conftest import LabRunner
from tests.podnetctl.conftest import PODS, Ctl
from tools.lab.netns import run_ip
from tools.lab.probes import http_get, json_events

ROOT = Path(__file__).parents[2]


def shown(lab: LabRunner) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(lab.ok("show", "--json"))
    return document


def node_named(lab: LabRunner, role: str) -> dict[str, Any]:
    for node in shown(lab)["nodes"]:
        if node["role"] == role:
            return dict(node)
    raise AssertionError(f"no node {role}")


def lab_record(lab: LabRunner) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((lab.state_dir / "lab.json").read_text())
    return document


def in_bridge_netns(lab: LabRunner, *args: str) -> str:
    """tests.podnetctl.lab_calls run from the lab's operator spot (its bridge namespace)."""
    done = subprocess.run(
        ["ip", "netns", "exec", f"{lab.prefix}net", sys.executable, "-m",
         "tests.podnetctl.lab_calls", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def add_pod(lab: LabRunner, stem: str) -> dict[str, Any]:
    """A pod of its own for a test that breaks it (`pods del --name STEM` removes it)."""
    lab.ok("pods", "add", "--count", "1", "--name", stem)
    [pod] = [pod for pod in shown(lab)["pods"] if pod["name"] == f"{stem}-1"]
    return dict(pod)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_nodes_shows_each_range_node_ip_pod_count_and_lease(
    ctl: Ctl, running_lab: LabRunner
) -> None:
    lab = shown(running_lab)
    name_of = {node["role"]: node["name"] for node in lab["nodes"]}
    pods_per_node = Counter(name_of[pod["node"]] for pod in lab["pods"])
    ttl = lab_record(running_lab)["daemon_options"]["node_lease_ttl"]

    nodes = ctl.json("nodes")

    assert {(n["name"], n["cidr"], n["node_ip"], n["allocated"]) for n in nodes} == {
        (n["name"], n["pod_cidr"], n["ip"], pods_per_node[n["name"]]) for n in lab["nodes"]
    }
    for node in nodes:
        assert node["live"] and not node["quarantined"], node
        assert node["lease_ttl_seconds"] == ttl
        assert 0 <= node["renewed_seconds_ago"] <= ttl
    table = ctl.ok("nodes").splitlines()
    assert table[0].split() == ["NODE", "RANGE", "NODE", "IP", "PODS", "LEASE", "QUARANTINED"]
    for node in lab["nodes"]:
        [row] = [line for line in table if line.startswith(node["name"] + " ")]
        assert row.split()[:4] == [
            node["name"],
            node["pod_cidr"],
            node["ip"],
            str(pods_per_node[node["name"]]),
        ]
        assert row.split()[-1] == "no"


def test_ips_shows_every_pod_address_with_its_pod_and_container(
    ctl: Ctl, running_lab: LabRunner
) -> None:
    lab = shown(running_lab)
    name_of = {node["role"]: node["name"] for node in lab["nodes"]}
    expected = {
        (p["ip"], name_of[p["node"]], f"default/{p['name']}", p["container_id"], p["ifname"])
        for p in lab["pods"]
    }
    assert len(expected) == PODS

    ips = ctl.json("ips")

    assert {(a["address"], a["node"], a["pod"], a["container_id"], a["ifname"]) for a in ips} == (
        expected
    )
    worker, control_plane = name_of["worker"], name_of["control-plane"]
    assert len(ctl.json("ips", "--node", worker)) == PODS
    assert ctl.json("ips", "--node", control_plane) == []
    table = ctl.ok("ips").splitlines()
    assert table[0].split() == ["ADDRESS", "NODE", "POD", "CONTAINER", "IFNAME"]
    assert sorted(tuple(line.split()) for line in table[1:]) == sorted(
        (ip, node, pod, container[:12], ifname) for ip, node, pod, container, ifname in expected
    )
    unknown = ctl.run("ips", "--node", "no-such-node")
    assert unknown.returncode == 1
    assert "knows no node 'no-such-node'" in one_line(unknown.stderr)


def test_status_shows_ipamd_and_every_agent_serving(ctl: Ctl, running_lab: LabRunner) -> None:
    lab = shown(running_lab)

    status = ctl.json("status")

    assert status["healthy"] is True
    [ipamd] = status["ipamd"]
    assert ipamd["endpoint"] == lab_record(running_lab)["ipamd"]["address"]
    assert (ipamd["health"], ipamd["version"], ipamd["etcd_reachable"]) == (
        "SERVING",
        podnet_version(),
        True,
    )
    agents = {agent["name"]: agent for agent in status["agents"]}
    assert set(agents) == {node["name"] for node in lab["nodes"]}
    for node in lab["nodes"]:
        agent = agents[node["name"]]
        assert agent["health"] == "SERVING" and agent["version"] == podnet_version()
        assert (agent["cidr"], agent["fenced"], agent["ready"]) == (node["pod_cidr"], False, True)
        assert agent["ipamd_connected"] and agent["serving_adds"] and not agent["error"]
    table = ctl.ok("status")
    for node in lab["nodes"]:
        assert f"agent {node['name']}" in table
    assert table.splitlines()[1].startswith("ipamd")


def test_the_agents_report_each_pods_veth_netns_and_when_it_was_added(
    running_lab: LabRunner,
) -> None:
    lab = shown(running_lab)
    worker = node_named(running_lab, "worker")
    admin_address = lab_record(running_lab)["nodes"][1]["admin_address"]
    reply = json.loads(
        in_bridge_netns(
            running_lab,
            "attachments",
            str(running_lab.state_dir),
            "admin",
            "admin",
            admin_address,
        )
    )
    assert reply["node"] == worker["name"]
    attached = {a["container_id"]: a for a in reply["attachments"]}
    assert set(attached) == {pod["container_id"] for pod in lab["pods"]}
    for pod in lab["pods"]:
        attachment = attached[pod["container_id"]]
        assert attachment["addresses"] == [pod["ip"]]
        assert attachment["host_veth"] == pod["host_veth"]
        assert attachment["ifname"] == pod["ifname"]
        assert attachment["pod_netns"] == f"/run/netns/{pod['netns']}"
        assert attachment["since"].endswith("Z")


def test_check_is_clean_on_a_healthy_lab(ctl: Ctl, running_lab: LabRunner) -> None:
    report = ctl.json("ipam", "check")

    assert report["clean"] is True
    assert (report["allocations"], report["attachments"]) == (PODS, PODS)
    assert report["nodes_checked"] == sorted(n["name"] for n in shown(running_lab)["nodes"])
    assert report["leaks"] == report["orphans"] == report["unchecked"] == []
    assert ctl.ok("ipam", "check").strip().endswith("0 leak(s), 0 orphan(s)")


def test_check_finds_an_address_nobody_wired_and_release_frees_it(
    ctl: Ctl, running_lab: LabRunner
) -> None:
    worker = node_named(running_lab, "worker")
    address = in_bridge_netns(
        running_lab,
        "allocate",
        str(running_lab.state_dir),
        worker["name"],
        worker["pod_cidr"],
        "planted-leak",
    )

    table = ctl.run("ipam", "check")
    report = ctl.json("ipam", "check", status=1)

    assert table.returncode == 1
    [row] = [line for line in table.stdout.splitlines() if line.startswith("leak")]
    assert row.split()[:5] == ["leak", worker["name"], address, "planted-leak", "eth0"]
    assert "default/never-wired" in row and f"nothing routes {address}" in row
    assert report["orphans"] == [] and not report["clean"]
    assert report["leaks"] == [
        {
            "kind": "leak",
            "node": worker["name"],
            "address": address,
            "container_id": "planted-leak",
            "ifname": "eth0",
            "ipamd_says": "allocated to planted-leak/eth0 (pod default/never-wired)",
            "agent_says": f"no interface of this attachment, nothing routes {address}",
        }
    ]

    released = ctl.json("ipam", "release", "--ip", address)  # not attached: no --force

    assert released["released"] == address and released["forced"] is False
    assert address not in {a["address"] for a in ctl.json("ips")}
    assert ctl.json("ipam", "check")["clean"] is True


def test_release_refuses_an_attached_address_and_force_leaves_an_orphan(
    ctl: Ctl, running_lab: LabRunner
) -> None:
    pod = add_pod(running_lab, "forced")
    worker = node_named(running_lab, "worker")

    refused = ctl.run("ipam", "release", "--ip", pod["ip"])

    assert refused.returncode == 1 and refused.stdout == ""
    assert f"{pod['ip']} is attached on node {worker['name']} ({pod['host_veth']} of" in (
        one_line(refused.stderr)
    )
    assert "--force" in refused.stderr
    assert pod["ip"] in {a["address"] for a in ctl.json("ips")}, "refused means unchanged"

    forced = ctl.run("ipam", "release", "--ip", pod["ip"], "--force")

    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.startswith(f"released {pod['ip']} (pod default/{pod['name']}")
    assert "warning" in forced.stderr and "is attached" in forced.stderr
    report = ctl.json("ipam", "check", status=1)
    assert report["leaks"] == []
    assert report["orphans"] == [
        {
            "kind": "orphan",
            "node": worker["name"],
            "address": pod["ip"],
            "container_id": pod["container_id"],
            "ifname": pod["ifname"],
            "ipamd_says": f"{pod['ip']} is not allocated",
            "agent_says": f"{pod['host_veth']} routes {pod['ip']}",
        }
    ]

    running_lab.ok("pods", "del", "--name", "forced")  # DEL of a released address is fine
    assert ctl.json("ipam", "check")["clean"] is True


def test_a_veth_deleted_behind_the_agents_back_is_a_leak(ctl: Ctl, running_lab: LabRunner) -> None:
    pod = add_pod(running_lab, "cut")
    worker = node_named(running_lab, "worker")
    run_ip("link", "del", pod["host_veth"], netns=worker["netns"])

    report = ctl.json("ipam", "check", status=1)

    assert report["orphans"] == []
    assert [(f["address"], f["container_id"], f["agent_says"]) for f in report["leaks"]] == [
        (
            pod["ip"],
            pod["container_id"],
            f"no interface of this attachment, nothing routes {pod['ip']}",
        )
    ]
    running_lab.ok("pods", "del", "--name", "cut")
    assert ctl.json("ipam", "check")["clean"] is True


def test_a_node_certificate_is_refused_by_the_agent_admin_service(
    ctl: Ctl, running_lab: LabRunner
) -> None:
    record = lab_record(running_lab)
    control_plane, worker = record["nodes"][0], record["nodes"][1]

    as_node = json.loads(
        in_bridge_netns(
            running_lab,
            "attachments",
            str(running_lab.state_dir),
            "node",
            control_plane["name"],
            worker["admin_address"],
        )
    )

    assert as_node["code"] == "PERMISSION_DENIED"
    assert f"spiffe://podnet.local/node/{control_plane['name']}" in as_node["details"]
    refusals = json_events(Path(worker["agent"]["log"]), "admin_call_refused")
    assert refusals and refusals[-1]["method"] == "ListAttachments"
    host, _, port = worker["http_address"].rpartition(":")
    _, metrics = http_get(worker["netns"], host, int(port), "/metrics", 2.0)
    assert (
        'podnet_admin_calls_refused_total{method="ListAttachments",reason="not_admin"} 1.0'
        in metrics.decode()
    )
    pki = running_lab.state_dir / "pki"
    with_node_cert = ctl.run(
        "ipam",
        "check",
        "--cert",
        str(pki / "node" / f"{control_plane['name']}.crt"),
        "--key",
        str(pki / "node" / f"{control_plane['name']}.key"),
    )
    # ipamd, which serves mutual TLS too, already refuses a node's listing of every node.
    assert with_node_cert.returncode != 0
    assert "PERMISSION_DENIED" in with_node_cert.stdout + with_node_cert.stderr


def test_check_says_which_agent_it_could_not_reach(ctl: Ctl, running_lab: LabRunner) -> None:
    worker = node_named(running_lab, "worker")
    running_lab.ok("node", "stop", "worker")
    try:
        done = ctl.run("ipam", "check", "--settle", "0")
        report = ctl.json("ipam", "check", status=2)
        status = ctl.json("status", status=1)
    finally:
        running_lab.ok("node", "start", "worker")

    assert done.returncode == 2
    assert f"could not check node {worker['name']}: agent {worker['name']} at" in done.stdout
    assert "UNAVAILABLE" in done.stdout
    assert [u["node"] for u in report["unchecked"]] == [worker["name"]]
    assert report["nodes_checked"] == [node_named(running_lab, "control-plane")["name"]]
    agents = {agent["name"]: agent for agent in status["agents"]}
    assert agents[worker["name"]]["health"] == "UNREACHABLE" and not status["healthy"]
    assert ctl.json("ipam", "check")["clean"] is True
