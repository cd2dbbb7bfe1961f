"""The lab's pure parts: node plan, namespace ownership, convergence gaps, state files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tools.lab.convergence import NodeView, missing_pieces
from tools.lab.layout import LabSettings, plan_etcd_members, plan_nodes, workload_nodes
from tools.lab.state import (
    DaemonRecord,
    EtcdMemberRecord,
    LabRecord,
    PodRecord,
    read_lab,
    read_pods,
    write_lab,
    write_pod,
)


def test_nodes_are_named_and_addressed_like_kind(tmp_path: Path) -> None:
    nodes = plan_nodes(LabSettings("pl-", tmp_path), 4)
    assert [(n.netns, n.ip) for n in nodes] == [
        ("pl-control-plane", "172.18.0.2"),
        ("pl-worker", "172.18.0.3"),
        ("pl-worker2", "172.18.0.4"),
        ("pl-worker3", "172.18.0.5"),
    ]
    assert workload_nodes([n.role for n in nodes]) == ["worker", "worker2", "worker3"]
    assert workload_nodes(["control-plane"]) == ["control-plane"]


def test_a_lab_owns_only_its_own_namespaces(tmp_path: Path) -> None:
    settings = LabSettings("pl-", tmp_path)
    assert settings.owns_netns("pl-worker2")
    assert settings.owns_netns("pl-pod-webserver-3")
    assert settings.owns_netns("pl-net")
    assert not settings.owns_netns("pl-2-worker")
    assert not settings.owns_netns("pl-2-net")
    assert not settings.owns_netns("other-worker")
    assert settings.owns_netns("pl-etcd-2")


def test_etcd_members_run_alone_on_the_control_plane_or_in_namespaces_of_their_own(
    tmp_path: Path,
) -> None:
    settings = LabSettings("pl-", tmp_path)
    (alone,) = plan_etcd_members(settings, 1)
    assert (alone.name, alone.netns, alone.ip, alone.bridge_port) == (
        "etcd",
        "pl-control-plane",
        "172.18.0.2",
        None,
    )
    cluster = plan_etcd_members(settings, 3)
    assert [(m.name, m.netns, m.ip, m.bridge_port) for m in cluster] == [
        ("etcd-1", "pl-etcd-1", "172.18.1.1", "veth-e1"),
        ("etcd-2", "pl-etcd-2", "172.18.1.2", "veth-e2"),
        ("etcd-3", "pl-etcd-3", "172.18.1.3", "veth-e3"),
    ]
    assert all(settings.owns_netns(member.netns) for member in cluster)


def test_missing_pieces_names_every_gap() -> None:
    views = [
        NodeView("control-plane", "172.18.0.2", True, "10.244.0.0/24", ()),
        NodeView("worker", "172.18.0.3", True, "10.244.1.0/24", (("10.244.0.0/24", "172.18.0.2"),)),
        NodeView("worker2", "172.18.0.4", False, None, ()),
    ]
    assert missing_pieces(views) == [
        "worker2: agent not ready",
        "worker2: no pod range yet",
        "control-plane: no route 10.244.1.0/24 via 172.18.0.3",
        "worker2: no route 10.244.0.0/24 via 172.18.0.2",
        "worker2: no route 10.244.1.0/24 via 172.18.0.3",
    ]
    converged = [
        NodeView("a", "172.18.0.2", True, "10.244.0.0/24", (("10.244.1.0/24", "172.18.0.3"),)),
        NodeView("b", "172.18.0.3", True, "10.244.1.0/24", (("10.244.0.0/24", "172.18.0.2"),)),
    ]
    assert missing_pieces(converged) == []


def test_state_files_round_trip(tmp_path: Path) -> None:
    daemon = DaemonRecord("etcd", "pl-etcd-1", "172.18.1.1:2379", 42, "/x/etcd-1.log")
    member = EtcdMemberRecord("etcd-1", "pl-etcd-1", "172.18.1.1", 2379, 2380, daemon, frozen=True)
    lab = LabRecord(
        prefix="pl-",
        state_dir=str(tmp_path),
        status="ready",
        cluster_cidr="10.244.0.0/16",
        bridge_netns="pl-net",
        docker_subnet="172.18.0.0/16",
        gateway="172.18.0.1",
        cni_bin_dir=str(tmp_path / "bin"),
        nodes=[],
        etcd_members=[member],
    )
    write_lab(tmp_path / "lab.json", lab)
    assert read_lab(tmp_path / "lab.json") == lab
    assert lab.etcd_member("pl-etcd-1") == member and lab.etcd_endpoints == "172.18.1.1:2379"

    # podnet-lab/v1 recorded its one etcd as "etcd".
    older = json.loads((tmp_path / "lab.json").read_text())
    del older["etcd_members"]
    older["etcd"] = dataclasses.asdict(daemon)
    (tmp_path / "lab.json").write_text(json.dumps(older))
    reread = read_lab(tmp_path / "lab.json")
    assert reread is not None
    assert reread.etcd_members == [
        EtcdMemberRecord("etcd", "pl-etcd-1", "172.18.1.1", 2379, 2380, daemon)
    ]
    (tmp_path / "broken.json").write_text("{")
    assert read_lab(tmp_path / "broken.json") is None

    pods = [
        PodRecord(f"web-{k}", f"pl-pod-web-{k}", "worker", "c", "u", "eth0", "10.244.1.2", "v")
        for k in (10, 2, 1)
    ]
    for pod in pods:
        write_pod(tmp_path / "pods", pod)
    assert [pod.name for pod in read_pods(tmp_path / "pods")] == ["web-1", "web-2", "web-10"]
