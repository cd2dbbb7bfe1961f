"""Starting the lab's ipamd and agents: used by `up` and by the node/ipamd controls alike."""

from __future__ import annotations

import time
from pathlib import Path

from netagent.server.internal_sockets import longest_path
from tools.lab.agent_container import install_shim_from_image, start_agent_container
from tools.lab.convergence import agent_pod_cidr
from tools.lab.daemons import DaemonOptions, agent_argv, daemon_alive, ipamd_argv, start_daemon
from tools.lab.errors import LabStartError
from tools.lab.layout import (
    AGENT_ADMIN_PORT,
    AGENT_HTTP_PORT,
    IPAMD_HTTP_PORT,
    IPAMD_PORT,
    MAX_UNIX_SOCKET_PATH,
    LabPaths,
    LabSettings,
    NodePlan,
)
from tools.lab.pki import LabPki
from tools.lab.probes import http_get, log_tail
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
        admin_address=f"{plan.ip}:{AGENT_ADMIN_PORT}",
    )


def make_node_dirs(node: NodeRecord) -> None:
    for directory in (node.spool_dir, node.cni_conf_dir, node.cni_cache_dir):
        Path(directory).mkdir(parents=True, exist_ok=True)


def ipamd_address(control_plane: NodeRecord) -> str:
    return f"{control_plane.ip}:{IPAMD_PORT}"


def ipamd_http_address(ipamd: DaemonRecord) -> str:
    """Where the lab's ipamd serves /readyz and /metrics: its gRPC host, IPAMD_HTTP_PORT."""
    host, _, _ = ipamd.address.rpartition(":")
    return f"{host}:{IPAMD_HTTP_PORT}"


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
            f"{control_plane.ip}:{IPAMD_HTTP_PORT}",
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


def ipamd_ready(ipamd: DaemonRecord, timeout: float = 1.0) -> bool:
    host, _, port = ipamd_http_address(ipamd).rpartition(":")
    try:
        status, _ = http_get(ipamd.netns, host, int(port), "/readyz", timeout)
    except OSError:
        return False
    return status == 200


def wait_for_ipamd(ipamd: DaemonRecord, timeout: float) -> None:
    """Until this ipamd answers /readyz with 200 (etcd connected, indexes loaded, serving)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon_alive(ipamd) and ipamd_ready(ipamd):
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
    argv = agent_argv(
        node.name,
        node.ip,
        ipamd_at,
        paths.node(node.role),
        node.http_address,
        options,
        LabPki(paths.pki_dir).node(node.name, node.ip),
        node.admin_address or f"{node.ip}:{AGENT_ADMIN_PORT}",
    )
    log = paths.log(f"{node.role}-agent")
    if options.agent_image is None:
        return start_daemon("podnet-agent", argv, log, node.netns, node.http_address)
    # As a DaemonSet's pod starts: the init step, then the agent (the image's, by name).
    install_shim_from_image(options.agent_image, paths.bin_dir)
    return start_agent_container(
        options.agent_image, settings.prefix, node, paths.pki_dir, argv[1:], log
    )


def wait_range_acquired(node: NodeRecord, agent: DaemonRecord, timeout: float) -> None:
    """Until the agent's /status shows the node range it leased."""
    role, log = node.role, Path(agent.log)
    deadline = time.monotonic() + timeout
    while agent_pod_cidr(node) is None:
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
