"""Starting the lab's ipamd and agents: used by `up` and by the node/ipamd controls alike."""

from __future__ import annotations

import time
from pathlib import Path

from netagent.server.internal_sockets import longest_path
from tools.lab.daemons import DaemonOptions, agent_argv, daemon_alive, ipamd_argv, start_daemon
from tools.lab.errors import LabStartError
from tools.lab.layout import (
    AGENT_HTTP_PORT,
    IPAMD_PORT,
    MAX_UNIX_SOCKET_PATH,
    LabPaths,
    LabSettings,
    NodePlan,
)
from tools.lab.pki import LabPki
from tools.lab.probes import json_events, log_tail, tcp_reachable
from tools.lab.state import DaemonRecord, NodeRecord


def node_record(settings: LabSettings, paths: LabPaths, plan: NodePlan) -> NodeRecord:
    node_paths = paths.node(plan.role)
    # The agent also listens on internal sockets beside it, with longer paths.
    if longest_path(node_paths.agent_socket) > MAX_UNIX_SOCKET_PATH:
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


def make_node_dirs(node: NodeRecord) -> None:
    for directory in (node.spool_dir, node.cni_conf_dir, node.cni_cache_dir):
        Path(directory).mkdir(parents=True, exist_ok=True)


def ipamd_address(control_plane: NodeRecord) -> str:
    return f"{control_plane.ip}:{IPAMD_PORT}"


def launch_ipamd(
    settings: LabSettings,
    control_plane: NodeRecord,
    etcd_address: str,
    options: DaemonOptions,
) -> DaemonRecord:
    address = ipamd_address(control_plane)
    pki = LabPki(LabPaths(settings.state_dir).pki_dir)
    return start_daemon(
        "podnet-ipamd",
        ipamd_argv(
            address,
            etcd_address,
            pki.ipamd_etcd_client(),
            pki.ipamd_server([control_plane.ip]),
            settings.cluster_cidr,
            settings.node_prefix_length,
            options,
        ),
        LabPaths(settings.state_dir).log("ipamd"),
        control_plane.netns,
        address,
    )


def serving_events(ipamd: DaemonRecord) -> int:
    """How many times ipamd logged "serving" so far (its log survives restarts)."""
    return len(json_events(Path(ipamd.log), "serving"))


def wait_for_ipamd(ipamd: DaemonRecord, timeout: float, events_before: int = 0) -> None:
    """Until this ipamd logged "serving" (one more time than events_before) and takes TCP."""
    host, _, port = ipamd.address.rpartition(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if serving_events(ipamd) > events_before and tcp_reachable(ipamd.netns, host, int(port)):
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


def launch_agent(
    settings: LabSettings, node: NodeRecord, ipamd_at: str, options: DaemonOptions
) -> DaemonRecord:
    paths = LabPaths(settings.state_dir)
    return start_daemon(
        "podnet-agent",
        agent_argv(
            node.name,
            node.ip,
            ipamd_at,
            LabPki(paths.pki_dir).node(node.name),
            paths.node(node.role),
            node.http_address,
            options,
        ),
        paths.log(f"{node.role}-agent"),
        node.netns,
        node.http_address,
    )


def wait_range_acquired(role: str, agent: DaemonRecord, timeout: float) -> None:
    """Until the agent has logged that it leased its node range."""
    log = Path(agent.log)
    deadline = time.monotonic() + timeout
    while not json_events(log, "range_acquired"):
        if not daemon_alive(agent):
            raise LabStartError(
                f"agent of {role} exited; its log ({log}) ends with:\n" + log_tail(log)
            )
        if time.monotonic() > deadline:
            raise LabStartError(
                f"agent of {role} leased no range within {timeout:.0f}s; "
                f"its log ends with:\n" + log_tail(log)
            )
        time.sleep(0.05)
