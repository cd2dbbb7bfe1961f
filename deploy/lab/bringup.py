"""`podnet-lab up`: network, etcd, ipamd, agents, then wait for the cluster to form."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from deploy.lab.cni_bin import install_cni_bin
from deploy.lab.convergence import wait_converged
from deploy.lab.daemons import (
    DaemonOptions,
    agent_argv,
    daemon_alive,
    ipamd_argv,
    start_daemon,
)
from deploy.lab.docker_network import attach_node, create_bridge
from deploy.lab.errors import LabExistsError, LabStartError
from deploy.lab.etcd_server import EtcdServer
from deploy.lab.layout import (
    AGENT_HTTP_PORT,
    DOCKER_NETWORK,
    ETCD_CLIENT_PORT,
    ETCD_PEER_PORT,
    IPAMD_PORT,
    MAX_UNIX_SOCKET_PATH,
    LabPaths,
    LabSettings,
    NodePlan,
    gateway_ip,
    plan_nodes,
)
from deploy.lab.netns import list_netns
from deploy.lab.probes import json_events, log_tail, tcp_reachable
from deploy.lab.state import DaemonRecord, LabRecord, NodeRecord, read_lab, write_lab


@dataclass(frozen=True)
class UpOptions:
    nodes: int = 3
    timeout: float = 90.0
    daemons: DaemonOptions = field(default_factory=DaemonOptions)


def lab_is_healthy(lab: LabRecord) -> bool:
    return lab.status == "ready" and all(daemon_alive(d) for d in lab.daemons())


def _refuse_existing(settings: LabSettings, paths: LabPaths) -> LabRecord | None:
    """The running lab (to report), or raise if leftovers of a broken one exist."""
    lab = read_lab(paths.lab_json)
    if lab is not None and lab_is_healthy(lab):
        return lab
    leftovers = [name for name in list_netns(settings.prefix) if settings.owns_netns(name)]
    if lab is not None or leftovers or paths.marker.exists():
        shown = ", ".join(leftovers[:5]) or str(paths.state_dir)
        raise LabExistsError(
            f"a lab with prefix {settings.prefix!r} exists but is not healthy ({shown}); "
            f"run `podnet-lab --prefix {settings.prefix} down` first"
        )
    return None


def _node_record(settings: LabSettings, paths: LabPaths, plan: NodePlan) -> NodeRecord:
    node_paths = paths.node(plan.role)
    if len(str(node_paths.agent_socket)) > MAX_UNIX_SOCKET_PATH:
        raise LabStartError(
            f"agent socket path {node_paths.agent_socket} is too long for a unix socket; "
            "use a shorter --state-dir"
        )
    return NodeRecord(
        name=plan.netns,
        role=plan.role,
        netns=plan.netns,
        ip=plan.ip,
        agent_socket=str(node_paths.agent_socket),
        spool_dir=str(node_paths.spool_dir),
        cni_conf_dir=str(node_paths.conf_dir),
        conflist=str(node_paths.conflist),
        cni_bin_dirs=[str(paths.bin_dir)],
        cni_cache_dir=str(node_paths.cni_cache_dir),
        http_address=f"{plan.ip}:{AGENT_HTTP_PORT}",
    )


def _wait_for_ipamd(ipamd: DaemonRecord, timeout: float) -> None:
    host, _, port = ipamd.address.rpartition(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if json_events(Path(ipamd.log), "serving") and tcp_reachable(ipamd.netns, host, int(port)):
            return
        if not daemon_alive(ipamd):
            raise LabStartError(
                f"ipamd exited; its log ({ipamd.log}) ends with:\n" + log_tail(Path(ipamd.log))
            )
        time.sleep(0.1)
    raise LabStartError(
        f"ipamd not serving on {ipamd.address} after {timeout:.0f}s; log ends with:\n"
        + log_tail(Path(ipamd.log))
    )


def lab_up(settings: LabSettings, options: UpOptions, say: Callable[[str], None]) -> LabRecord:
    paths = LabPaths(settings.state_dir)
    running = _refuse_existing(settings, paths)
    if running is not None:
        say(f"lab {settings.prefix!r} is already up ({len(running.nodes)} nodes)")
        return running
    started = time.monotonic()
    plans = plan_nodes(settings, options.nodes)
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    paths.marker.write_text("podnet-lab state dir; `podnet-lab down` deletes it\n")
    nodes = [_node_record(settings, paths, plan) for plan in plans]
    control_plane = nodes[0]
    lab = LabRecord(
        prefix=settings.prefix,
        state_dir=str(paths.state_dir),
        status="starting",
        cluster_cidr=settings.cluster_cidr,
        bridge_netns=settings.bridge_netns,
        docker_subnet=str(DOCKER_NETWORK),
        gateway=gateway_ip(),
        cni_bin_dir=str(paths.bin_dir),
        nodes=nodes,
    )
    write_lab(paths.lab_json, lab)

    say(f"creating network {DOCKER_NETWORK} and {len(plans)} node namespaces")
    install_cni_bin(paths.bin_dir)
    for node in nodes:
        for directory in (node.spool_dir, node.cni_conf_dir, node.cni_cache_dir):
            Path(directory).mkdir(parents=True, exist_ok=True)
    create_bridge(settings)
    for plan in plans:
        attach_node(settings, plan)

    say(f"starting etcd on {control_plane.role}")
    paths.logs_dir.mkdir(parents=True, exist_ok=True)
    etcd = EtcdServer(
        paths.etcd_data_dir,
        control_plane.ip,
        ETCD_CLIENT_PORT,
        ETCD_PEER_PORT,
        netns=control_plane.netns,
        name="etcd",
    )
    try:
        etcd.start(timeout=min(options.timeout, 30.0))
    finally:
        if etcd.process is not None:
            lab = replace(
                lab,
                etcd=DaemonRecord(
                    "etcd",
                    control_plane.netns,
                    etcd.endpoint.address,
                    etcd.process.pid,
                    str(etcd.log_path),
                ),
            )
            write_lab(paths.lab_json, lab)

    say(f"starting ipamd on {control_plane.role}")
    ipamd_address = f"{control_plane.ip}:{IPAMD_PORT}"
    ipamd = start_daemon(
        "podnet-ipamd",
        ipamd_argv(
            ipamd_address,
            etcd.endpoint.address,
            settings.cluster_cidr,
            settings.node_prefix_length,
            options.daemons,
        ),
        paths.log("ipamd"),
        control_plane.netns,
        ipamd_address,
    )
    lab = replace(lab, ipamd=ipamd)
    write_lab(paths.lab_json, lab)
    _wait_for_ipamd(ipamd, min(options.timeout, 30.0))

    say(f"starting agents on {', '.join(node.role for node in nodes)}")
    with_agents = []
    for node in nodes:
        agent = start_daemon(
            "podnet-agent",
            agent_argv(
                node.name,
                node.ip,
                ipamd_address,
                paths.node(node.role),
                node.http_address,
                options.daemons,
            ),
            paths.log(f"{node.role}-agent"),
            node.netns,
            node.http_address,
        )
        with_agents.append(replace(node, agent=agent))
    lab = replace(lab, nodes=with_agents)
    write_lab(paths.lab_json, lab)

    remaining = max(5.0, options.timeout - (time.monotonic() - started))
    views = wait_converged(lab.nodes, remaining, say)
    cidrs = {view.role: view.pod_cidr for view in views}
    lab = replace(
        lab,
        status="ready",
        nodes=[replace(node, pod_cidr=cidrs[node.role]) for node in lab.nodes],
    )
    write_lab(paths.lab_json, lab)
    say(f"lab {settings.prefix!r} is up in {time.monotonic() - started:.1f}s:")
    for node in lab.nodes:
        say(f"  {node.netns:<24} {node.ip:<12} pods {node.pod_cidr}")
    return lab
