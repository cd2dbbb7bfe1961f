"""Is the lab's cluster formed? Every agent ready with a range, every peer range routed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.lab.daemons import daemon_alive
from tools.lab.errors import LabStartError
from tools.lab.netns import run_ip
from tools.lab.probes import http_get, log_tail
from tools.lab.state import NodeRecord


@dataclass(frozen=True)
class NodeView:
    """What one node looks like right now."""

    role: str
    ip: str
    ready: bool
    pod_cidr: str | None
    routes: tuple[tuple[str, str], ...]  # (dst, gateway) of every gatewayed route


def agent_status(node: NodeRecord, timeout: float = 1.0) -> dict[str, Any] | None:
    """The agent's GET /status document; None while it does not answer."""
    host, _, port = node.http_address.rpartition(":")
    try:
        status, body = http_get(node.netns, host, int(port), "/status", timeout)
        document = json.loads(body) if status == 200 else None
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def agent_pod_cidr(node: NodeRecord) -> str | None:
    """The range the agent holds right now (None when fenced or not answering)."""
    status = agent_status(node)
    cidr = status.get("range") if status else None
    return cidr if isinstance(cidr, str) and cidr else None


def gateway_routes(netns: str) -> tuple[tuple[str, str], ...]:
    raw: list[dict[str, Any]] = json.loads(run_ip("-j", "route", "show", netns=netns) or "[]")
    return tuple((str(route["dst"]), str(route["gateway"])) for route in raw if "gateway" in route)


def agent_ready(node: NodeRecord, timeout: float = 1.0) -> bool:
    host, _, port = node.http_address.rpartition(":")
    try:
        status, _ = http_get(node.netns, host, int(port), "/readyz", timeout)
    except OSError:
        return False
    return status == 200


def observe(node: NodeRecord) -> NodeView:
    return NodeView(
        role=node.role,
        ip=node.ip,
        ready=agent_ready(node),
        pod_cidr=agent_pod_cidr(node) if node.agent else None,
        routes=gateway_routes(node.netns),
    )


def missing_pieces(views: list[NodeView]) -> list[str]:
    """What still keeps the cluster from being formed, one line per gap."""
    gaps = []
    for view in views:
        if not view.ready:
            gaps.append(f"{view.role}: agent not ready")
        if view.pod_cidr is None:
            gaps.append(f"{view.role}: no pod range yet")
    for view in views:
        for peer in views:
            if peer is view or peer.pod_cidr is None:
                continue
            if (peer.pod_cidr, peer.ip) not in view.routes:
                gaps.append(f"{view.role}: no route {peer.pod_cidr} via {peer.ip}")
    cidrs = [view.pod_cidr for view in views if view.pod_cidr is not None]
    if len(set(cidrs)) != len(cidrs):
        gaps.append(f"two nodes hold the same range: {sorted(cidrs)}")
    return gaps


def wait_converged(
    nodes: list[NodeRecord], timeout: float, say: Callable[[str], None]
) -> list[NodeView]:
    deadline = time.monotonic() + timeout
    last_report: list[str] | None = None
    while True:
        for node in nodes:
            if node.agent is not None and not daemon_alive(node.agent):
                raise LabStartError(
                    f"agent of {node.role} exited; its log ({node.agent.log}) ends with:\n"
                    + log_tail(Path(node.agent.log))
                )
        views = [observe(node) for node in nodes]
        gaps = missing_pieces(views)
        if not gaps:
            return views
        if gaps != last_report:
            ready = sum(1 for view in views if view.ready and view.pod_cidr)
            say(f"  {ready}/{len(views)} nodes ready; waiting for: " + "; ".join(gaps))
            last_report = gaps
        if time.monotonic() > deadline:
            raise LabStartError(
                f"cluster not formed after {timeout:.0f}s; still missing:\n  " + "\n  ".join(gaps)
            )
        time.sleep(0.2)
