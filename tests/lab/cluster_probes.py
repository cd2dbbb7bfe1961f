"""Looking at a running lab from outside: lab.json, routes, nft, ipamd records, CNI calls."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.lab.conftest import LabRunner
from tools.cniexec import (
    ChainResult,
    CniRuntime,
    NetworkConfigList,
    RuntimeConf,
    RuntimeSettings,
    kubernetes_pod_args,
    load_conflist,
)
from tools.lab.layout import LabPaths, LabSettings
from tools.lab.netns import run_ip
from tools.lab.pki import LabPki
from tools.lab.pods import add_pod
from tools.lab.probes import http_get
from tools.lab.state import read_lab, write_pod

GRPCURL = str(Path(sys.executable).parent / "grpcurl")
Route = tuple[str, str]  # (destination, gateway)


def lab_json(lab: LabRunner) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((lab.state_dir / "lab.json").read_text())
    return document


def node_of(lab: LabRunner, role: str) -> dict[str, Any]:
    for node in lab_json(lab)["nodes"]:
        if node["role"] == role:
            return dict(node)
    raise AssertionError(f"no node {role} in lab.json")


def pods_of(lab: LabRunner) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = json.loads(lab.ok("show", "--json"))["pods"]
    return pods


def peer_routes(netns: str) -> set[Route]:
    """Every `<range> via <node ip>` route of the namespace (the default route excluded)."""
    raw: list[dict[str, Any]] = json.loads(run_ip("-j", "route", "show", netns=netns) or "[]")
    return {(r["dst"], r["gateway"]) for r in raw if "gateway" in r and r["dst"] != "default"}


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Polls condition; returns the seconds it took, fails the test after timeout."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def ipamd_allocations(lab: LabRunner, node_name: str) -> dict[str, str]:
    """container id -> address that ipamd records for node_name (via grpcurl, like an operator)."""
    document = lab_json(lab)
    admin = LabPki(LabPaths(lab.state_dir).pki_dir).admin()
    done = subprocess.run(
        [
            "ip", "netns", "exec", document["nodes"][0]["netns"],
            GRPCURL, "-max-time", "10",
            "-cacert", str(admin.ca), "-cert", str(admin.cert), "-key", str(admin.key),
            "-d", json.dumps({"node": node_name}),
            document["ipamd"]["address"], "podnet.v1.Ipam/ListAllocations",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=20,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    reply: dict[str, Any] = json.loads(done.stdout or "{}")
    return {a["container_id"]: a["address"] for a in reply.get("allocations", [])}


def nft_table(netns: str, table: str = "podnet") -> list[dict[str, Any]]:
    done = subprocess.run(
        ["ip", "netns", "exec", netns, "nft", "-j", "list", "table", "ip", table],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    items: list[dict[str, Any]] = json.loads(done.stdout)["nftables"]
    return items


def masquerade_rules(netns: str) -> list[tuple[str, str, str, str, int]]:
    """(saddr, op, daddr, action, packets) for each rule of podnet's nft table."""
    summary = []
    for item in nft_table(netns):
        if "rule" not in item:
            continue
        expressions = item["rule"]["expr"]
        matches = [e["match"] for e in expressions if "match" in e]
        fields = {m["left"]["payload"]["field"]: m for m in matches}
        packets = sum(e["counter"]["packets"] for e in expressions if "counter" in e)
        actions = [key for e in expressions for key in e if key in ("masquerade", "snat", "accept")]

        def prefix(match: dict[str, Any]) -> str:
            right = match["right"]["prefix"]
            return f"{right['addr']}/{right['len']}"

        summary.append(
            (
                prefix(fields["saddr"]),
                fields["daddr"]["op"],
                prefix(fields["daddr"]),
                ",".join(actions),
                packets,
            )
        )
    return summary


def node_runtime(node: dict[str, Any], cache_dir: Path) -> CniRuntime:
    """A CNI runtime on the node (plugins run inside its namespace), with its own cache."""
    return CniRuntime(
        RuntimeSettings(
            tuple(node["cni_bin_dirs"]), cache_dir, exec_netns=node["netns"], plugin_timeout=30.0
        )
    )


def cni_add(
    node: dict[str, Any], cache_dir: Path, pod_netns: str, container_id: str
) -> ChainResult:
    conf = RuntimeConf(
        container_id,
        f"/run/netns/{pod_netns}",
        "eth0",
        kubernetes_pod_args("default", pod_netns, container_id[:8]),
    )
    return node_runtime(node, cache_dir).add(load_conflist(node["conflist"]), conf)


def cni_del(node: dict[str, Any], cache_dir: Path, pod_netns: str, container_id: str) -> None:
    conf = RuntimeConf(container_id, f"/run/netns/{pod_netns}", "eth0")
    node_runtime(node, cache_dir).delete(load_conflist(node["conflist"]), conf)


def cni_status(node: dict[str, Any], cache_dir: Path) -> ChainResult:
    """STATUS of the node's podnet plugin alone, at cniVersion 1.1.0 (as libcni >= 1.2 sends)."""
    podnet_plugin = json.loads(Path(node["conflist"]).read_text())["plugins"][0]
    conflist = NetworkConfigList("podnet", "1.1.0", (podnet_plugin,))
    return node_runtime(node, cache_dir).status(conflist)


def peer_route_list(netns: str) -> list[Route]:
    """Like peer_routes, but as listed by the kernel, so a duplicate would show."""
    raw: list[dict[str, Any]] = json.loads(run_ip("-j", "route", "show", netns=netns) or "[]")
    return sorted((r["dst"], r["gateway"]) for r in raw if "gateway" in r and r["dst"] != "default")


def agent_metric(node: dict[str, Any], name: str) -> float:
    """One unlabelled sample from the agent's Prometheus /metrics."""
    host, _, port = node["http_address"].rpartition(":")
    status, body = http_get(node["netns"], host, int(port), "/metrics", 2.0)
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name} from {node['role']}")


def agent_status(node: dict[str, Any]) -> dict[str, Any]:
    """The agent's GET /status document."""
    host, _, port = node["http_address"].rpartition(":")
    status, body = http_get(node["netns"], host, int(port), "/status", 2.0)
    assert status == 200, body
    document: dict[str, Any] = json.loads(body)
    return document


def add_pod_on(lab: LabRunner, role: str, pod_name: str) -> dict[str, Any]:
    """A pod on any node (`pods add` only schedules on workers), recorded like the CLI's."""
    settings = LabSettings(prefix=lab.prefix, state_dir=lab.state_dir)
    record = read_lab(LabPaths(lab.state_dir).lab_json)
    assert record is not None
    node = record.node(role)
    assert node is not None
    pod = add_pod(settings, node, pod_name, 1)
    write_pod(LabPaths(lab.state_dir).pods_dir, pod)
    return {"name": pod.name, "netns": pod.netns, "ip": pod.ip, "container_id": pod.container_id}
