"""What a churn run drives: nodes (namespace + conflist + plugin dirs) and what to watch."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from podnet.tls.files import TlsFiles

from tools.churn.errors import TargetError
from tools.churn.reference import REFERENCE_BIN_DIR, reference_conflist
from tools.cniexec import CniExecError, NetworkConfigList, load_conflist
from tools.lab.layout import LabPaths, workload_nodes
from tools.lab.netns import NETNS_DIR
from tools.lab.pki import LabPki
from tools.lab.state import LabRecord, read_lab, read_pods


@dataclass(frozen=True)
class ChurnNode:
    name: str
    netns: str
    conflist: NetworkConfigList
    bin_dirs: tuple[str, ...]


@dataclass(frozen=True)
class WatchedDaemon:
    """A daemon whose CPU time and peak RSS the report shows."""

    name: str  # e.g. "agent worker", "ipamd"
    pid: int
    program: str  # what /proc/<pid>/cmdline must contain


@dataclass(frozen=True)
class IpamdEndpoint:
    address: str
    netns: str  # ipamd listens inside the lab; it is queried from there
    nodes: tuple[str, ...]  # node names whose allocations are listed
    tls: TlsFiles | None = None  # an admin identity (None: ipamd serves plaintext)


@dataclass(frozen=True)
class Target:
    label: str
    nodes: tuple[ChurnNode, ...]
    pod_netns_prefix: str
    daemons: tuple[WatchedDaemon, ...] = ()
    ipamd: IpamdEndpoint | None = None
    host_local_dirs: tuple[tuple[str, Path], ...] = ()  # (node, host-local dataDir/<network>)
    live_container_ids: frozenset[str] = frozenset()  # pods that exist outside the run


@dataclass(frozen=True)
class TargetOptions:
    pod_netns_prefix: str
    nodes: int | None = None  # first N workers of a lab
    reference: str | None = None  # "ptp" or "ptp-portmap"
    reference_subnet: str = "10.245.0.0/24"
    reference_cni_version: str = "1.0.0"


def _require_netns(name: str) -> None:
    if not (NETNS_DIR / name).exists():
        raise TargetError(f"no network namespace {name!r}")


def _load(path: str | Path) -> NetworkConfigList:
    try:
        return load_conflist(path)
    except CniExecError as error:
        raise TargetError(str(error)) from error


def read_running_lab(state_dir: Path) -> LabRecord:
    lab = read_lab(state_dir / "lab.json")
    if lab is None or lab.status != "ready":
        raise TargetError(f"no ready lab in {state_dir} (run `podnet-lab up` first)")
    return lab


def _lab_workers(lab: LabRecord, count: int | None) -> list[str]:
    roles = workload_nodes([node.role for node in lab.nodes])
    if count is not None:
        if count < 1 or count > len(roles):
            raise TargetError(f"--nodes {count}: the lab has {len(roles)} worker node(s)")
        roles = roles[:count]
    return roles


def lab_target(state_dir: Path, options: TargetOptions) -> Target:
    lab = read_running_lab(state_dir)
    nodes = []
    for role in _lab_workers(lab, options.nodes):
        record = lab.node(role)
        assert record is not None
        _require_netns(record.netns)
        nodes.append(
            ChurnNode(record.name, record.netns, _load(record.conflist), tuple(record.cni_bin_dirs))
        )
    daemons = [
        WatchedDaemon(f"agent {node.role}", node.agent.pid, node.agent.program)
        for node in lab.nodes
        if node.agent is not None
    ]
    if lab.ipamd is not None:
        daemons.append(WatchedDaemon("ipamd", lab.ipamd.pid, lab.ipamd.program))
    for member in lab.etcd_members:
        if member.daemon is not None:
            daemons.append(WatchedDaemon(member.name, member.daemon.pid, member.daemon.program))
    ipamd = (
        IpamdEndpoint(
            lab.ipamd.address,
            lab.ipamd.netns,
            tuple(node.name for node in lab.nodes),
            None
            if lab.daemon_options.insecure_plaintext
            else LabPki(LabPaths(state_dir).pki_dir).admin(),
        )
        if lab.ipamd is not None
        else None
    )
    lab_pods = read_pods(state_dir / "pods")
    return Target(
        label="podnet",
        nodes=tuple(nodes),
        pod_netns_prefix=options.pod_netns_prefix,
        daemons=tuple(daemons),
        ipamd=ipamd,
        live_container_ids=frozenset(pod.container_id for pod in lab_pods),
    )


def single_node_target(
    netns: str, conflist: Path, bin_dirs: tuple[str, ...], options: TargetOptions
) -> Target:
    _require_netns(netns)
    node = ChurnNode(netns, netns, _load(conflist), bin_dirs)
    return Target(
        label=node.conflist.name, nodes=(node,), pod_netns_prefix=options.pod_netns_prefix
    )


@contextlib.contextmanager
def reference_target(node_netns: str, options: TargetOptions) -> Iterator[Target]:
    """kindnet's chain on one node, host-local state in a temp dir removed afterwards."""
    assert options.reference is not None
    _require_netns(node_netns)
    data_dir = Path(tempfile.mkdtemp(prefix="podnet-churn-ipam-"))
    try:
        conflist = reference_conflist(
            options.reference,
            options.reference_subnet,
            data_dir,
            options.reference_cni_version,
        )
        node = ChurnNode(node_netns, node_netns, conflist, (REFERENCE_BIN_DIR,))
        yield Target(
            label=f"reference {options.reference}",
            nodes=(node,),
            pod_netns_prefix=options.pod_netns_prefix,
            host_local_dirs=((node_netns, data_dir / conflist.name),),
        )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def reference_node_of_lab(state_dir: Path) -> str:
    """The namespace of the lab node the reference chain runs on: its first worker."""
    lab = read_running_lab(state_dir)
    record = lab.node(_lab_workers(lab, 1)[0])
    assert record is not None
    return record.netns
