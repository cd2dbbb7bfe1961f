"""Pods: a namespace per pod, networked through its node's conflist like a runtime does."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tools.cniexec import (
    CniExecError,
    CniRuntime,
    NetworkConfigList,
    RuntimeConf,
    RuntimeSettings,
    kubernetes_pod_args,
    load_conflist,
    parse_conflist,
)
from tools.lab.errors import LabNotUpError, PodError
from tools.lab.layout import LabPaths, LabSettings, workload_nodes
from tools.lab.netns import create_netns, delete_netns
from tools.lab.state import LabRecord, NodeRecord, PodRecord, read_lab, read_pods, remove_pod
from tools.lab.state import write_pod as store_pod

K8S_NAMESPACE = "default"
PLUGIN_TIMEOUT = 30.0


def require_lab(settings: LabSettings) -> LabRecord:
    lab = read_lab(LabPaths(settings.state_dir).lab_json)
    if lab is None or lab.status != "ready":
        raise LabNotUpError(
            f"no running lab with prefix {settings.prefix!r} in {settings.state_dir}; "
            "run `podnet-lab up` first"
        )
    return lab


def node_runtime(node: NodeRecord) -> CniRuntime:
    """A CNI runtime as it would run on the node: in its namespace, with its dirs."""
    return CniRuntime(
        RuntimeSettings(
            bin_dirs=tuple(node.cni_bin_dirs),
            cache_dir=Path(node.cni_cache_dir),
            exec_netns=node.netns,
            plugin_timeout=PLUGIN_TIMEOUT,
        )
    )


def _pod_conf(pod_netns: str, container_id: str, pod_name: str, uid: str) -> RuntimeConf:
    return RuntimeConf(
        container_id=container_id,
        netns=f"/run/netns/{pod_netns}",
        ifname="eth0",
        args=kubernetes_pod_args(K8S_NAMESPACE, pod_name, uid),
    )


def _attachment(result: dict[str, Any]) -> tuple[str, str]:
    """(pod IP, host-side interface) from a CNI result."""
    ips = result.get("ips") or []
    address = str(ips[0]["address"]).split("/")[0] if ips else ""
    host_side = [i.get("name", "") for i in result.get("interfaces", []) if not i.get("sandbox")]
    return address, str(host_side[0]) if host_side else ""


def _next_index(existing: list[PodRecord], name: str) -> int:
    taken = [
        int(pod.name.rsplit("-", 1)[1])
        for pod in existing
        if pod.name.rsplit("-", 1)[0] == name and pod.name.rsplit("-", 1)[1].isdigit()
    ]
    return max(taken, default=0) + 1


def add_pod(settings: LabSettings, node: NodeRecord, pod_name: str, index: int) -> PodRecord:
    pod_netns = settings.pod_netns(pod_name, index)
    k8s_name = f"{pod_name}-{index}"
    uid = str(uuid.uuid4())
    conf = _pod_conf(pod_netns, uuid.uuid4().hex + uuid.uuid4().hex, k8s_name, uid)
    runtime = node_runtime(node)
    try:
        conflist = load_conflist(node.conflist)
    except CniExecError as error:
        raise PodError(f"{node.role} has no usable conflist: {error}") from error
    create_netns(pod_netns)
    try:
        added = runtime.add(conflist, conf)
    except CniExecError as error:
        with contextlib.suppress(CniExecError):
            runtime.delete(conflist, conf)  # what a runtime does after a failed ADD
        delete_netns(pod_netns)
        raise PodError(f"ADD of {k8s_name} on {node.role} failed: {error}") from error
    assert added.result is not None
    ip, host_veth = _attachment(added.result)
    return PodRecord(
        name=k8s_name,
        netns=pod_netns,
        node=node.role,
        container_id=conf.container_id,
        uid=uid,
        ifname=conf.ifname,
        ip=ip,
        host_veth=host_veth,
        k8s_namespace=K8S_NAMESPACE,
        add_seconds=round(added.wall_seconds, 4),
        extra={"network_config": _conflist_document(conflist), "result": added.result},
    )


def _conflist_document(conflist: NetworkConfigList) -> dict[str, Any]:
    return {
        "cniVersion": conflist.cni_version,
        "name": conflist.name,
        "plugins": [dict(plugin) for plugin in conflist.plugins],
    }


def add_pods(
    settings: LabSettings, count: int, pod_name: str, say: Callable[[str], None]
) -> list[PodRecord]:
    """count pods named <pod_name>-<k>, each on the least-loaded worker."""
    lab = require_lab(settings)
    paths = LabPaths(settings.state_dir)
    existing = read_pods(paths.pods_dir)
    targets = workload_nodes([node.role for node in lab.nodes])
    load = Counter({role: 0 for role in targets})
    load.update(pod.node for pod in existing if pod.node in load)
    first = _next_index(existing, pod_name)
    added = []
    for index in range(first, first + count):
        role = min(targets, key=lambda r: (load[r], targets.index(r)))
        node = lab.node(role)
        assert node is not None
        pod = add_pod(settings, node, pod_name, index)
        store_pod(paths.pods_dir, pod)
        load[role] += 1
        added.append(pod)
        say(
            f"pod {pod.name} on {role}: {pod.ip} via {pod.host_veth} "
            f"(ADD {pod.add_seconds * 1000:.0f} ms)"
        )
    return added


def delete_pod(lab: LabRecord, pod: PodRecord) -> float:
    """DEL through the chain (cached config and result), then the namespace."""
    node = lab.node(pod.node)
    if node is None:
        raise PodError(f"pod {pod.name} is on unknown node {pod.node}")
    document = pod.extra.get("network_config")
    try:
        conflist = (
            parse_conflist(json.dumps(document))
            if isinstance(document, dict)
            else load_conflist(node.conflist)
        )
        deleted = node_runtime(node).delete(
            conflist,
            _pod_conf(pod.netns, pod.container_id, pod.name, pod.uid),
        )
    except CniExecError as error:
        raise PodError(f"DEL of {pod.name} on {pod.node} failed: {error}") from error
    delete_netns(pod.netns)
    return deleted.wall_seconds


def delete_pods(
    settings: LabSettings, pod_name: str | None, say: Callable[[str], None]
) -> list[PodRecord]:
    """Deletes pods named <pod_name>-<k> (every pod for None); raises after trying all."""
    paths = LabPaths(settings.state_dir)
    lab = read_lab(paths.lab_json)
    if lab is None:
        raise LabNotUpError(f"no lab with prefix {settings.prefix!r} in {settings.state_dir}")
    chosen = [
        pod
        for pod in read_pods(paths.pods_dir)
        if pod_name is None or pod.name.rsplit("-", 1)[0] == pod_name
    ]
    failures = []
    removed = []
    for pod in chosen:
        try:
            seconds = delete_pod(lab, pod)
        except PodError as error:
            failures.append(str(error))
            continue
        remove_pod(paths.pods_dir, pod)
        removed.append(pod)
        say(f"pod {pod.name} deleted from {pod.node} (DEL {seconds * 1000:.0f} ms)")
    if failures:
        raise PodError("; ".join(failures))
    return removed


def pod_summary(pod: PodRecord) -> dict[str, Any]:
    summary = asdict(pod)
    summary.pop("extra", None)
    return summary
