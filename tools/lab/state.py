"""lab.json (the running lab, for other tools) and the per-pod records.

Schema documented in docs/lab.md. Files are written atomically; readers are
tolerant, because `down` must work from whatever a crashed `up` left behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.lab.options import DaemonOptions
from tools.lab.podnetctl_config import PODNETCTL_CONFIG, podnetctl_config

SCHEMA = "podnet-lab/v2"


@dataclass(frozen=True)
class DaemonRecord:
    program: str  # what /proc/<pid>/cmdline must contain before we signal the pid
    netns: str
    address: str
    pid: int
    log: str


@dataclass(frozen=True)
class NodeRecord:
    name: str  # the node name given to the agent (= its namespace name)
    role: str
    netns: str
    ip: str
    agent_socket: str
    spool_dir: str
    cni_conf_dir: str
    conflist: str
    cni_bin_dirs: list[str]
    cni_cache_dir: str
    http_address: str
    agent: DaemonRecord | None = None
    pod_cidr: str | None = None
    admin_address: str = ""  # the agent's admin service (podnetctl)
    cut: bool = False  # `node cut`: its traffic with ipamd and etcd is dropped


@dataclass(frozen=True)
class EtcdMemberRecord:
    name: str  # etcd's --name: "etcd" when alone, "etcd-1", "etcd-2", ... in a cluster
    netns: str
    ip: str
    client_port: int
    peer_port: int
    daemon: DaemonRecord | None = None
    frozen: bool = False  # `etcd freeze`: SIGSTOPped, until `etcd thaw`
    cut: bool = False  # `etcd cut`: all traffic of its namespace dropped, until `etcd heal`

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.client_port}"


@dataclass(frozen=True)
class LabRecord:
    prefix: str
    state_dir: str
    status: str  # "starting" until every node converged, then "ready"
    cluster_cidr: str
    bridge_netns: str
    docker_subnet: str
    gateway: str
    cni_bin_dir: str
    nodes: list[NodeRecord]
    etcd_members: list[EtcdMemberRecord] = field(default_factory=list)
    ipamd: DaemonRecord | None = None
    daemon_options: DaemonOptions = field(default_factory=DaemonOptions)
    schema: str = SCHEMA

    def node(self, name: str) -> NodeRecord | None:
        for node in self.nodes:
            if name in (node.name, node.role, node.netns):
                return node
        return None

    def etcd_member(self, name: str) -> EtcdMemberRecord | None:
        for member in self.etcd_members:
            if name in (member.name, member.netns, f"{self.prefix}{member.name}"):
                return member
        return None

    @property
    def etcd_endpoints(self) -> str:
        """Every member's client address, comma-separated (ipamd's --etcd)."""
        return ",".join(member.address for member in self.etcd_members)

    def daemons(self) -> list[DaemonRecord]:
        """Agents first, then ipamd, then etcd: the order to stop them in."""
        found = [node.agent for node in self.nodes if node.agent is not None]
        if self.ipamd is not None:
            found.append(self.ipamd)
        return found + [m.daemon for m in self.etcd_members if m.daemon is not None]


@dataclass(frozen=True)
class PodRecord:
    name: str  # the Kubernetes pod name, e.g. webserver-1
    netns: str
    node: str  # node role, e.g. worker2
    container_id: str
    uid: str
    ifname: str
    ip: str
    host_veth: str
    k8s_namespace: str = "default"
    add_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def write_json_atomically(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _daemon(raw: Any) -> DaemonRecord | None:
    return DaemonRecord(**raw) if isinstance(raw, dict) else None


def lab_to_json(lab: LabRecord) -> dict[str, Any]:
    return dataclasses.asdict(lab)


def _etcd_members(document: dict[str, Any]) -> list[EtcdMemberRecord]:
    members = [
        EtcdMemberRecord(**{**raw, "daemon": _daemon(raw.get("daemon"))})
        for raw in document.get("etcd_members", [])
    ]
    alone = _daemon(document.get("etcd"))  # podnet-lab/v1: one etcd, on the control-plane
    if not members and alone is not None:
        host, _, port = alone.address.rpartition(":")
        members = [EtcdMemberRecord("etcd", alone.netns, host, int(port), int(port) + 1, alone)]
    return members


def lab_from_json(document: dict[str, Any]) -> LabRecord:
    nodes = [NodeRecord(**{**raw, "agent": _daemon(raw.get("agent"))}) for raw in document["nodes"]]
    return LabRecord(
        **{
            **{key: value for key, value in document.items() if key != "etcd"},
            "nodes": nodes,
            "etcd_members": _etcd_members(document),
            "ipamd": _daemon(document.get("ipamd")),
            "daemon_options": DaemonOptions.from_json(document.get("daemon_options")),
        }
    )


def write_lab(path: Path, lab: LabRecord) -> None:
    """lab.json, and podnetctl.json beside it so that podnetctl follows the lab."""
    write_json_atomically(path, lab_to_json(lab))
    write_json_atomically(path.parent / PODNETCTL_CONFIG, podnetctl_config(lab))


def read_lab(path: Path) -> LabRecord | None:
    """The recorded lab, or None when missing or unreadable."""
    try:
        return lab_from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_pod(pods_dir: Path, pod: PodRecord) -> None:
    write_json_atomically(pods_dir / f"{pod.netns}.json", dataclasses.asdict(pod))


def remove_pod(pods_dir: Path, pod: PodRecord) -> None:
    (pods_dir / f"{pod.netns}.json").unlink(missing_ok=True)


def read_pods(pods_dir: Path) -> list[PodRecord]:
    pods = []
    for path in sorted(pods_dir.glob("*.json")):
        try:
            pods.append(PodRecord(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(pods, key=lambda pod: (pod.name.rsplit("-", 1)[0], _index(pod.name)))


def _index(pod_name: str) -> int:
    tail = pod_name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0
