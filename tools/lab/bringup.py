"""`podnet-lab up`: network, etcd, ipamd, agents, then wait for the cluster to form."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from tools.lab.agent_container import require_image
from tools.lab.cni_bin import install_cni_bin
from tools.lab.convergence import wait_converged
from tools.lab.daemons import DaemonOptions, daemon_alive
from tools.lab.docker_network import attach_node, create_bridge
from tools.lab.errors import LabExistsError, LabUsageError
from tools.lab.etcd_cluster import start_etcd
from tools.lab.launch import (
    ipamd_address,
    launch_agent,
    launch_ipamd,
    make_node_dirs,
    node_record,
    wait_for_ipamd,
    wait_range_acquired,
)
from tools.lab.layout import (
    DOCKER_NETWORK,
    LabPaths,
    LabSettings,
    gateway_ip,
    plan_etcd_members,
    plan_nodes,
    require_etcd_member_count,
    require_node_count,
)
from tools.lab.netns import list_netns
from tools.lab.pki import LabPki
from tools.lab.state import EtcdMemberRecord, LabRecord, NodeRecord, read_lab, write_lab


@dataclass(frozen=True)
class UpOptions:
    nodes: int = 3
    timeout: float = 90.0
    daemons: DaemonOptions = field(default_factory=DaemonOptions)
    etcd_members: int = 1

    def __post_init__(self) -> None:
        require_node_count(self.nodes)
        require_etcd_member_count(self.etcd_members)
        if not self.timeout > 0:
            raise LabUsageError(f"--timeout: must be positive, got {self.timeout}")


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


def lab_up(settings: LabSettings, options: UpOptions, say: Callable[[str], None]) -> LabRecord:
    paths = LabPaths(settings.state_dir)
    running = _refuse_existing(settings, paths)
    if running is not None:
        say(f"lab {settings.prefix!r} is already up ({len(running.nodes)} nodes)")
        return running
    image = options.daemons.agent_image
    if image is not None:
        require_image(image)
    started = time.monotonic()
    plans = plan_nodes(settings, options.nodes)
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    paths.marker.write_text("podnet-lab state dir; `podnet-lab down` deletes it\n")
    nodes = [node_record(settings, paths, plan) for plan in plans]
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
        daemon_options=options.daemons,
    )
    write_lab(paths.lab_json, lab)

    say(f"creating network {DOCKER_NETWORK} and {len(plans)} node namespaces")
    install_cni_bin(paths.bin_dir, with_podnet=image is None)
    for node in nodes:
        make_node_dirs(node)
    create_bridge(settings)
    for plan in plans:
        attach_node(settings, plan)

    etcd_plans = plan_etcd_members(settings, options.etcd_members)
    where = ", ".join(plan.netns for plan in etcd_plans)
    say(f"starting etcd ({len(etcd_plans)} member(s)) in {where}")
    paths.logs_dir.mkdir(parents=True, exist_ok=True)

    def record_members(members: list[EtcdMemberRecord]) -> None:
        nonlocal lab
        lab = replace(lab, etcd_members=members)
        write_lab(paths.lab_json, lab)

    start_etcd(settings, etcd_plans, min(options.timeout, 30.0), record_members)

    LabPki(paths.pki_dir).admin()  # the operator's: grpcurl, podnetctl, podnet-churn's checks
    say(f"starting ipamd on {control_plane.role}")
    ipamd = launch_ipamd(settings, control_plane, lab.etcd_endpoints, options.daemons)
    lab = replace(lab, ipamd=ipamd)
    write_lab(paths.lab_json, lab)
    wait_for_ipamd(ipamd, min(options.timeout, 30.0))

    where = f" from {image}" if image else ""
    say(f"starting agents{where} on {', '.join(node.role for node in nodes)}")
    with_agents: list[NodeRecord] = []
    for node in nodes:
        # One at a time, each once its range is leased, so ranges follow node order
        # (control-plane 10.244.0.0/24, worker 10.244.1.0/24, ...) as in kind.
        agent = launch_agent(settings, node, ipamd_address(control_plane), options.daemons)
        with_agents.append(replace(node, agent=agent))
        lab = replace(lab, nodes=[*with_agents, *nodes[len(with_agents) :]])
        write_lab(paths.lab_json, lab)
        wait_range_acquired(node, agent, min(options.timeout, 30.0))

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
