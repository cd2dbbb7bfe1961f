"""Names, addresses and paths of a lab: pure, derived from the settings alone."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from tools.lab.errors import LabUsageError

DOCKER_NETWORK = ipaddress.IPv4Network("172.18.0.0/16")
CONFLIST_FILE = "10-podnet.conflist"
IPAMD_PORT = 9090
IPAMD_HTTP_PORT = 9091
AGENT_HTTP_PORT = 9099
AGENT_ADMIN_PORT = 9611
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
MAX_UNIX_SOCKET_PATH = 107
# Node addresses stay within 172.18.0.2-201 and node ranges well within the /16.
MAX_NODES = 200
# An etcd cluster of its own namespaces has its members on 172.18.1.1, .2, ...
ETCD_MEMBER_COUNTS = (1, 3, 5)


@dataclass(frozen=True)
class LabSettings:
    prefix: str
    state_dir: Path
    cluster_cidr: str = "10.244.0.0/16"
    node_prefix_length: int = 24

    @property
    def bridge_netns(self) -> str:
        """The namespace holding the bridge that stands in for kind's docker network."""
        return f"{self.prefix}net"

    def pod_netns(self, pod_name: str, index: int) -> str:
        return f"{self.prefix}pod-{pod_name}-{index}"

    def owns_netns(self, name: str) -> bool:
        """True for namespaces this lab makes (not for another lab's longer prefix)."""
        if not name.startswith(self.prefix):
            return False
        rest = name[len(self.prefix) :]
        return bool(re.fullmatch(r"net|control-plane|worker\d*|etcd-\d+|pod-.+-\d+", rest))


@dataclass(frozen=True)
class NodePlan:
    role: str  # "control-plane", "worker", "worker2", ... (kind's node suffixes)
    netns: str
    ip: str
    bridge_port: str  # the bridge-side veth in the bridge namespace


@dataclass(frozen=True)
class EtcdMemberPlan:
    name: str  # etcd's --name
    netns: str
    ip: str
    bridge_port: str | None  # None: the member runs in the control-plane's namespace


@dataclass(frozen=True)
class NodePaths:
    root: Path

    @property
    def agent_socket(self) -> Path:
        return self.root / "agent.sock"

    @property
    def spool_dir(self) -> Path:
        return self.root / "spool"

    @property
    def conf_dir(self) -> Path:
        return self.root / "net.d"

    @property
    def conflist(self) -> Path:
        return self.conf_dir / CONFLIST_FILE

    @property
    def cni_cache_dir(self) -> Path:
        return self.root / "cni-cache"


@dataclass(frozen=True)
class LabPaths:
    state_dir: Path

    @property
    def marker(self) -> Path:
        """Written first by `up`; `down` only deletes a state dir that carries it."""
        return self.state_dir / ".podnet-lab"

    @property
    def lock_file(self) -> Path:
        """Held by commands that change a running lab (node and ipamd controls)."""
        return self.state_dir / ".lab.lock"

    @property
    def lab_json(self) -> Path:
        return self.state_dir / "lab.json"

    @property
    def bin_dir(self) -> Path:
        return self.state_dir / "bin"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pods_dir(self) -> Path:
        return self.state_dir / "pods"

    def etcd_data_dir(self, member: str) -> Path:
        """A member's data dir; its log is beside it, etcd/<member>.log."""
        return self.state_dir / "etcd" / member

    @property
    def pki_dir(self) -> Path:
        """The lab's CA and every certificate it issued (podnetctl certs layout)."""
        return self.state_dir / "pki"

    def node(self, role: str) -> NodePaths:
        return NodePaths(self.state_dir / "nodes" / role)

    def log(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"


def role_name(index: int) -> str:
    if index == 0:
        return "control-plane"
    return "worker" if index == 1 else f"worker{index}"


def plan_nodes(settings: LabSettings, count: int) -> tuple[NodePlan, ...]:
    """control-plane, worker, worker2, ... on 172.18.0.2, .3, ... like kind."""
    require_node_count(count)
    return tuple(plan_node(settings, index) for index in range(count))


def require_node_count(count: int) -> None:
    if not 1 <= count <= MAX_NODES:
        raise LabUsageError(f"a lab has 1 to {MAX_NODES} nodes, not {count}")


def plan_node(settings: LabSettings, index: int) -> NodePlan:
    """Node number index (0 = control-plane) on 172.18.0.(2 + index)."""
    if not 0 <= index < MAX_NODES:
        raise LabUsageError(f"a lab has at most {MAX_NODES} nodes")
    return NodePlan(
        role=role_name(index),
        netns=f"{settings.prefix}{role_name(index)}",
        ip=str(DOCKER_NETWORK.network_address + 2 + index),
        bridge_port=f"veth-n{index}",
    )


def require_etcd_member_count(count: int) -> None:
    if count not in ETCD_MEMBER_COUNTS:
        raise LabUsageError(
            f"--etcd-members: 1, 3 or 5 (an odd number keeps a quorum), not {count}"
        )


def plan_etcd_members(settings: LabSettings, count: int) -> tuple[EtcdMemberPlan, ...]:
    """One member: "etcd" on the control-plane, as before. More: "etcd-1", "etcd-2", ...
    each in a namespace of its own on the bridge (so that one can be partitioned)."""
    require_etcd_member_count(count)
    if count == 1:
        control_plane = plan_node(settings, 0)
        return (EtcdMemberPlan("etcd", control_plane.netns, control_plane.ip, None),)
    return tuple(
        EtcdMemberPlan(
            name=f"etcd-{index}",
            netns=f"{settings.prefix}etcd-{index}",
            ip=str(DOCKER_NETWORK.network_address + 256 + index),
            bridge_port=f"veth-e{index}",
        )
        for index in range(1, count + 1)
    )


def role_index(role: str) -> int:
    """The inverse of role_name: control-plane 0, worker 1, worker2 2, ..."""
    if role == "control-plane":
        return 0
    if role == "worker":
        return 1
    match = re.fullmatch(r"worker([2-9]|[1-9]\d+)", role)
    if match is None:
        raise ValueError(f"not a lab node role: {role!r}")
    return int(match.group(1))


def gateway_ip() -> str:
    return str(DOCKER_NETWORK.network_address + 1)


def workload_nodes(roles: list[str]) -> list[str]:
    """Workers take pods, like kind; a one-node lab schedules on its control-plane."""
    workers = [role for role in roles if role != "control-plane"]
    return workers or roles
