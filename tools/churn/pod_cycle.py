"""One pod's life as a runtime drives it: netns, ADD, CHECK, DEL, containerd's second DEL."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tools.churn.targets import ChurnNode
from tools.cniexec import (
    ChainResult,
    CniExecError,
    CniRuntime,
    PluginError,
    PluginRun,
    PluginTimeoutError,
    RuntimeConf,
    kubernetes_pod_args,
)
from tools.lab.netns import create_netns, delete_netns

K8S_NAMESPACE = "churn"
CONTAINER_PORT = 80


@dataclass(frozen=True)
class PodSpec:
    index: int
    node: ChurnNode
    netns: str
    host_port: int | None
    check: bool


@dataclass(frozen=True)
class CycleError:
    phase: str  # "netns", "ADD", "CHECK", "DEL", "DEL2"
    code: str  # the CNI error code, or "timeout", "no-code", "runtime", "netns"
    message: str


@dataclass
class CycleRecord:
    """What happened to one pod; times are time.monotonic() values."""

    index: int
    node: str
    container_id: str
    netns: str
    host_port: int | None
    ip: str = ""
    host_veth: str = ""
    added_at: float | None = None  # ADD's result was read
    released_at: float | None = None  # the first DEL started
    seconds: dict[str, float] = field(default_factory=dict)  # phase -> chain wall time
    plugin_runs: list[PluginRun] = field(default_factory=list)
    errors: list[CycleError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _error_of(phase: str, error: CniExecError) -> CycleError:
    if isinstance(error, PluginTimeoutError):
        code = "timeout"
    elif isinstance(error, PluginError):
        code = str(error.code) if error.code is not None else "no-code"
    else:
        code = "runtime"
    return CycleError(phase, code, str(error)[:300])


def _attachment(result: dict[str, Any]) -> tuple[str, str]:
    """(pod IP, host-side interface) from an ADD result."""
    ips = result.get("ips") or []
    ip = str(ips[0].get("address", "")).split("/")[0] if ips else ""
    host_side = [
        str(interface.get("name", ""))
        for interface in result.get("interfaces") or []
        if not interface.get("sandbox")
    ]
    return ip, host_side[0] if host_side else ""


def _capability_args(host_port: int | None) -> dict[str, Any]:
    if host_port is None:
        return {}
    mapping = {"hostPort": host_port, "containerPort": CONTAINER_PORT, "protocol": "tcp"}
    return {"portMappings": [mapping]}


def run_cycle(runtime: CniRuntime, spec: PodSpec) -> CycleRecord:
    """Runs the whole cycle; never raises for CNI failures (they land in errors)."""
    container_id = uuid.uuid4().hex + uuid.uuid4().hex
    pod_name = f"churn-{spec.index}"
    args = kubernetes_pod_args(K8S_NAMESPACE, pod_name, str(uuid.uuid4()))
    capabilities = _capability_args(spec.host_port)
    conf = RuntimeConf(container_id, f"/run/netns/{spec.netns}", "eth0", args, capabilities)
    record = CycleRecord(spec.index, spec.node.name, container_id, spec.netns, spec.host_port)
    conflist = spec.node.conflist

    def step(phase: str, call: Any) -> ChainResult | None:
        try:
            done: ChainResult = call()
        except CniExecError as error:
            record.errors.append(_error_of(phase, error))
            if isinstance(error, PluginError):
                record.plugin_runs.extend(error.runs)
            return None
        record.seconds[phase] = done.wall_seconds
        record.plugin_runs.extend(done.runs)
        return done

    try:
        create_netns(spec.netns)
    except RuntimeError as error:
        record.errors.append(CycleError("netns", "netns", str(error)[:300]))
        return record
    try:
        added = step("ADD", lambda: runtime.add(conflist, conf))
        if added is not None and added.result is not None:
            record.added_at = time.monotonic()
            record.ip, record.host_veth = _attachment(added.result)
            if spec.check:
                step("CHECK", lambda: runtime.check(conflist, conf))
        record.released_at = time.monotonic()
        step("DEL", lambda: runtime.delete(conflist, conf))
        # containerd's second DEL at sandbox removal: no netns, no cached result.
        gone = RuntimeConf(container_id, "", "eth0", args, capabilities)
        step("DEL2", lambda: runtime.delete(conflist, gone))
    finally:
        delete_netns(spec.netns)
    return record
