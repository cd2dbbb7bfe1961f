"""`show` and `ping`: the lab as text or JSON, and the pod reachability matrix."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.lab.convergence import agent_pod_cidr
from tools.lab.daemons import daemon_alive
from tools.lab.etcd_controls import member_state
from tools.lab.icmp import ping_once
from tools.lab.netns import run_ip
from tools.lab.pods import pod_summary
from tools.lab.state import LabRecord, NodeRecord, PodRecord


@dataclass(frozen=True)
class NodeReport:
    node: NodeRecord
    agent_alive: bool
    pod_cidr: str | None
    conflist: dict[str, Any] | None
    routes: list[str]

    @property
    def plugin_summary(self) -> str:
        if self.conflist is None:
            return "missing"
        plugins = [str(p.get("type")) for p in self.conflist.get("plugins", [])]
        return f"{' -> '.join(plugins)} (cniVersion {self.conflist.get('cniVersion')})"


def _read_conflist(path: str) -> dict[str, Any] | None:
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def node_reports(lab: LabRecord) -> list[NodeReport]:
    reports = []
    for node in lab.nodes:
        alive = node.agent is not None and daemon_alive(node.agent)
        routes = run_ip("route", "show", netns=node.netns, check=False)
        reports.append(
            NodeReport(
                node=node,
                agent_alive=alive,
                pod_cidr=(agent_pod_cidr(node) if alive else None) or node.pod_cidr,
                conflist=_read_conflist(node.conflist),
                routes=[line.rstrip() for line in routes.splitlines() if line.strip()],
            )
        )
    return reports


def show_text(lab: LabRecord, reports: list[NodeReport], pods: list[PodRecord]) -> str:
    lines = []
    for report in reports:
        node = report.node
        agent = "agent up" if report.agent_alive else "agent DOWN"
        if node.cut:
            agent += ", CUT OFF from ipamd and etcd"
        lines.append(f"{node.netns}  {node.ip}  pods {report.pod_cidr or '?'}  ({agent})")
        lines.append(f"  conflist {node.conflist}: {report.plugin_summary}")
        lines.append("  ip route:")
        lines.extend(f"    {route}" for route in report.routes)
        lines.append("")
    for member in lab.etcd_members:
        state = member_state(member)
        lines.append(f"etcd {member.name}  {member.netns}  {member.address}  {state}")
    lines.append("")
    lines.append(f"{'POD':<20} {'NODE':<16} {'IP':<15} INTERFACE")
    for pod in pods:
        lines.append(f"{pod.name:<20} {pod.node:<16} {pod.ip:<15} {pod.ifname} <-> {pod.host_veth}")
    return "\n".join(lines)


def show_json(lab: LabRecord, reports: list[NodeReport], pods: list[PodRecord]) -> str:
    return json.dumps(
        {
            "prefix": lab.prefix,
            "status": lab.status,
            "nodes": [
                {
                    "name": report.node.name,
                    "role": report.node.role,
                    "netns": report.node.netns,
                    "ip": report.node.ip,
                    "pod_cidr": report.pod_cidr,
                    "agent_alive": report.agent_alive,
                    "conflist_path": report.node.conflist,
                    "conflist": report.conflist,
                    "routes": report.routes,
                    "cut": report.node.cut,
                }
                for report in reports
            ],
            "etcd_members": [
                {
                    "name": member.name,
                    "netns": member.netns,
                    "address": member.address,
                    "state": member_state(member),
                }
                for member in lab.etcd_members
            ],
            "pods": [pod_summary(pod) for pod in pods],
        },
        indent=2,
    )


def ping_matrix(pods: list[PodRecord], timeout: float = 1.0) -> dict[tuple[str, str], bool]:
    """(source pod, destination pod) -> answered, for every ordered pair."""
    pairs = [(src, dst) for src in pods for dst in pods if src is not dst]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda pair: ping_once(pair[0].netns, pair[1].ip, timeout), pairs))
    return {
        (src.name, dst.name): answer is not None
        for (src, dst), answer in zip(pairs, answers, strict=True)
    }


def matrix_text(pods: list[PodRecord], matrix: dict[tuple[str, str], bool]) -> str:
    width = max([len(pod.name) for pod in pods] + [8])
    header = " " * (width + 1) + " ".join(f"{pod.name:>{width}}" for pod in pods)
    rows = [header]
    for src in pods:
        cells = []
        for dst in pods:
            cell = "-" if src is dst else ("ok" if matrix[(src.name, dst.name)] else "FAIL")
            cells.append(f"{cell:>{width}}")
        rows.append(f"{src.name:<{width}} " + " ".join(cells))
    return "\n".join(rows)
