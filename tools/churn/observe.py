"""Reading what the invariants are checked against: node namespaces and allocators."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.churn.errors import ObservationError
from tools.churn.invariants import Allocation, NodeState
from tools.churn.targets import IpamdEndpoint
from tools.cniexec import call_in_netns
from tools.lab.netns import list_netns

COMMAND_TIMEOUT = 30.0


def _run(argv: list[str], netns: str | None) -> str:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )

    try:
        done = call_in_netns(netns, run)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ObservationError(f"{' '.join(argv)} in {netns}: {error}") from error
    if done.returncode != 0:
        raise ObservationError(f"{' '.join(argv)} in {netns}: {done.stderr.strip()}")
    return done.stdout


def _json_list(text: str) -> list[dict[str, Any]]:
    document = json.loads(text) if text.strip() else []
    return [item for item in document if isinstance(item, dict)]


def _host_route(route: dict[str, Any]) -> str | None:
    destination = str(route.get("dst", ""))
    if "/" in destination and not destination.endswith("/32"):
        return None
    if destination in ("", "default") or route.get("type") == "broadcast":
        return None
    kind = route.get("type", "unicast")
    return f"{kind} {destination} dev {route.get('dev', '?')} table {route.get('table', 'main')}"


def node_state(netns: str) -> NodeState:
    links = _json_list(_run(["ip", "-j", "link", "show", "type", "veth"], netns))
    routes = _json_list(_run(["ip", "-j", "-4", "route", "show", "table", "all"], netns))
    ruleset = _run(["nft", "-s", "list", "ruleset"], netns)
    host_routes = {key for key in map(_host_route, routes) if key is not None}
    return NodeState(
        veths=frozenset(str(link["ifname"]) for link in links if "ifname" in link),
        host_routes=frozenset(host_routes),
        ruleset_lines=tuple(line.strip() for line in ruleset.splitlines() if line.strip()),
    )


def ipamd_allocations(endpoint: IpamdEndpoint) -> list[Allocation]:
    """ListAllocations for every node, asked from inside the namespace ipamd serves."""
    argv = [sys.executable, "-m", "tools.churn.ipam_query", "--address", endpoint.address]
    if endpoint.tls is not None:
        argv += ["--cacert", str(endpoint.tls.ca), "--cert", str(endpoint.tls.cert)]
        argv += ["--key", str(endpoint.tls.key)]
    output = _run([*argv, *endpoint.nodes], endpoint.netns)
    allocations = []
    for line in output.splitlines():
        item = json.loads(line)
        allocations.append(Allocation(item["node"], item["ip"], item["container_id"]))
    return allocations


def host_local_allocations(node: str, network_dir: Path) -> list[Allocation]:
    """host-local keeps one file per address, named by it, holding the container id."""
    if not network_dir.is_dir():
        return []
    allocations = []
    for path in network_dir.iterdir():
        if path.name.count(".") != 3:  # last_reserved_ip.0, lock
            continue
        owner = path.read_text(errors="replace").splitlines()
        allocations.append(Allocation(node, path.name, owner[0].strip() if owner else ""))
    return allocations


def leftover_pod_netns(prefix: str) -> list[str]:
    return list_netns(prefix)
