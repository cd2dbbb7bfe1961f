"""`podnet-lab node ...`: a node's agent stops and starts, nodes join and leave a running lab."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tools.lab.agent_container import remove_containers
from tools.lab.convergence import agent_pod_cidr, agent_ready, wait_converged
from tools.lab.daemons import daemon_alive, kill_now, stop_daemon
from tools.lab.docker_network import attach_node
from tools.lab.errors import LabError, LabExistsError, LabStartError, NodeControlError
from tools.lab.lab_lock import lab_lock
from tools.lab.launch import ipamd_address, launch_agent, make_node_dirs, node_record
from tools.lab.layout import LabPaths, LabSettings, plan_node, role_index
from tools.lab.netns import delete_netns, list_netns, pids_in_netns, run_ip
from tools.lab.partition import apply_cut, endpoint_cut_rules, remove_cut
from tools.lab.pods import delete_pod, require_lab
from tools.lab.probes import log_tail
from tools.lab.processes import kill_pid
from tools.lab.state import DaemonRecord, LabRecord, NodeRecord, read_pods, remove_pod, write_lab

Say = Callable[[str], None]


def known_node(lab: LabRecord, name: str) -> NodeRecord:
    node = lab.node(name)
    if node is None:
        known = ", ".join(n.role for n in lab.nodes)
        raise NodeControlError(f"no node {name!r} (nodes: {known})")
    return node


def agent_running(node: NodeRecord) -> bool:
    return node.agent is not None and daemon_alive(node.agent)


def _with_node(lab: LabRecord, changed: NodeRecord) -> LabRecord:
    return replace(lab, nodes=[changed if n.role == changed.role else n for n in lab.nodes])


def _ipamd_address(lab: LabRecord) -> str:
    return lab.ipamd.address if lab.ipamd is not None else ipamd_address(lab.nodes[0])


def node_stop(settings: LabSettings, name: str, kill: bool, say: Say) -> None:
    """SIGTERM the node's agent (a clean shutdown), or SIGKILL it (a crash) with kill."""
    paths = LabPaths(settings.state_dir)
    with lab_lock(paths):
        node = known_node(require_lab(settings), name)
        if node.agent is None or not daemon_alive(node.agent):
            say(f"the agent of {node.role} is not running")
            return
        if kill:
            kill_now(node.agent)
        else:
            stop_daemon(node.agent)
        how = "killed" if kill else "stopped"
        say(f"{how} the agent of {node.role} (pid {node.agent.pid})")


def wait_agent_ready(node: NodeRecord, agent: DaemonRecord, timeout: float) -> str:
    """Until this agent answers /readyz 200 and /status shows its range; returns it."""
    log = Path(agent.log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not daemon_alive(agent):
            raise LabStartError(
                f"agent of {node.role} exited; its log ({log}) ends with:\n" + log_tail(log)
            )
        cidr = agent_pod_cidr(node)
        if cidr and agent_ready(node):
            return cidr
        time.sleep(0.1)
    raise LabStartError(
        f"agent of {node.role} not ready after {timeout:.0f}s; log ends with:\n" + log_tail(log)
    )


def node_start(settings: LabSettings, name: str, timeout: float, say: Say) -> NodeRecord:
    """Starts the node's agent again with the lab's flags and paths; waits until ready."""
    paths = LabPaths(settings.state_dir)
    with lab_lock(paths):
        lab = require_lab(settings)
        node = known_node(lab, name)
        if agent_running(node):
            say(f"the agent of {node.role} is already running")
            return node
        agent = launch_agent(settings, node, _ipamd_address(lab), lab.daemon_options)
        node = replace(node, agent=agent)
        write_lab(paths.lab_json, _with_node(lab, node))
        cidr = wait_agent_ready(node, agent, timeout)
        node = replace(node, pod_cidr=cidr)
        write_lab(paths.lab_json, _with_node(lab, node))
    say(f"started the agent of {node.role} (pid {agent.pid}): pods {cidr}")
    return node


def node_add(settings: LabSettings, timeout: float, say: Say) -> NodeRecord:
    """A new worker joins: namespace on the bridge, agent started, routes converged."""
    paths = LabPaths(settings.state_dir)
    with lab_lock(paths):
        lab = require_lab(settings)
        plan = plan_node(settings, max(role_index(n.role) for n in lab.nodes) + 1)
        if plan.netns in list_netns(plan.netns):
            raise LabExistsError(f"namespace {plan.netns} exists already; run `down` first")
        node = node_record(settings, paths, plan)
        make_node_dirs(node)
        lab = replace(lab, nodes=[*lab.nodes, node])
        write_lab(paths.lab_json, lab)
        say(f"adding {node.role}: {node.netns} on {node.ip}")
        try:
            attach_node(settings, plan)
            node = replace(
                node, agent=launch_agent(settings, node, _ipamd_address(lab), lab.daemon_options)
            )
            lab = _with_node(lab, node)
            write_lab(paths.lab_json, lab)
            live = [n for n in lab.nodes if agent_running(n)]
            views = wait_converged(live, timeout, say)
        except (LabError, RuntimeError, OSError) as error:
            raise NodeControlError(
                f"{node.role} did not join: {error}\nit is left in place for `logs` and "
                f"`show`; `podnet-lab --prefix {settings.prefix} node remove {node.role}` "
                "removes it"
            ) from error
        cidrs = {view.role: view.pod_cidr for view in views}
        node = replace(node, pod_cidr=cidrs[node.role])
        write_lab(paths.lab_json, _with_node(lab, node))
    say(f"{node.role} joined: pods {node.pod_cidr}, routed by {len(live) - 1} peers")
    return node


def _drain(lab: LabRecord, paths: LabPaths, node: NodeRecord, say: Say) -> None:
    """The node's pods go with it: DEL through CNI while the agent runs, then namespaces."""
    for pod in read_pods(paths.pods_dir):
        if pod.node != node.role:
            continue
        if agent_running(node):
            try:
                delete_pod(lab, pod)
            except LabError as error:
                say(f"  DEL of {pod.name} failed ({error}); removing its namespace")
        delete_netns(pod.netns)
        remove_pod(paths.pods_dir, pod)
        say(f"  pod {pod.name} removed with {node.role}")


def control_plane_addresses(lab: LabRecord) -> list[str]:
    """ipamd's gRPC address and every etcd member's client and peer address."""
    addresses = [_ipamd_address(lab)]
    for member in lab.etcd_members:
        addresses += [member.address, f"{member.ip}:{member.peer_port}"]
    return addresses


def node_cut(settings: LabSettings, name: str, say: Say) -> None:
    """Drops the node's traffic with ipamd and etcd (inside its namespace), not pod
    traffic: its agent keeps running, cut off, as in a partition."""
    paths = LabPaths(settings.state_dir)
    require_lab(settings)  # before the lock, which creates a file
    with lab_lock(paths):
        lab = require_lab(settings)
        node = known_node(lab, name)
        if role_index(node.role) == 0:
            raise NodeControlError("the control-plane runs ipamd; cut off a worker")
        apply_cut(node.netns, endpoint_cut_rules(control_plane_addresses(lab)))
        write_lab(paths.lab_json, _with_node(lab, replace(node, cut=True)))
    say(f"cut {node.role} off from ipamd and etcd (pod traffic still flows)")


def node_heal(settings: LabSettings, name: str, say: Say) -> None:
    paths = LabPaths(settings.state_dir)
    require_lab(settings)
    with lab_lock(paths):
        lab = require_lab(settings)
        node = known_node(lab, name)
        had_cut = remove_cut(node.netns)
        write_lab(paths.lab_json, _with_node(lab, replace(node, cut=False)))
    say(f"healed {node.role}" if had_cut else f"{node.role} was not cut off")


def node_remove(settings: LabSettings, name: str, say: Say) -> None:
    """The node leaves: pods drained, agent stopped, namespace and state removed."""
    paths = LabPaths(settings.state_dir)
    with lab_lock(paths):
        lab = require_lab(settings)
        node = known_node(lab, name)
        if role_index(node.role) == 0:
            raise NodeControlError("the control-plane runs etcd and ipamd; it cannot leave")
        if remove_cut(node.netns):  # its pods' DELs must reach ipamd
            say(f"  healed {node.role} first")
        _drain(lab, paths, node, say)
        if node.agent is not None and stop_daemon(node.agent):
            say(f"stopped the agent of {node.role} (pid {node.agent.pid})")
        if lab.daemon_options.agent_image is not None:
            remove_containers(settings.prefix, node.role)
        for pid in pids_in_netns(node.netns):
            kill_pid(pid, signal.SIGKILL)
        # Deleting the bridge side first takes the pair down now, not when the kernel
        # gets round to destroying the namespace, so the port name is free for a new node.
        bridge_port = plan_node(settings, role_index(node.role)).bridge_port
        run_ip("link", "del", bridge_port, netns=settings.bridge_netns, check=False)
        delete_netns(node.netns)
        shutil.rmtree(paths.node(node.role).root, ignore_errors=True)
        paths.log(f"{node.role}-agent").unlink(missing_ok=True)
        write_lab(paths.lab_json, replace(lab, nodes=[n for n in lab.nodes if n != node]))
    say(f"{node.role} left the lab")
