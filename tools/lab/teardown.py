"""`podnet-lab down`: pods, daemons, stragglers, namespaces, state dir. Idempotent."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable

from tools.lab.agent_container import remove_containers
from tools.lab.daemons import daemon_alive, stop_daemon
from tools.lab.errors import LabError
from tools.lab.layout import LabPaths, LabSettings
from tools.lab.netns import delete_netns, list_netns, pids_in_netns
from tools.lab.partition import remove_cut
from tools.lab.pods import delete_pods
from tools.lab.processes import kill_pid
from tools.lab.state import LabRecord, read_lab


def _undo_faults(lab: LabRecord, say: Callable[[str], None]) -> None:
    """Heals partitions and thaws frozen members, so pods' DELs reach ipamd and every
    daemon can stop cleanly."""
    for node in lab.nodes:
        if node.cut and remove_cut(node.netns):
            say(f"healed {node.role}")
    for member in lab.etcd_members:
        if member.cut and remove_cut(member.netns):
            say(f"healed etcd member {member.name}")
        if member.frozen and member.daemon is not None and daemon_alive(member.daemon):
            kill_pid(member.daemon.pid, signal.SIGCONT)
            say(f"thawed etcd member {member.name}")


def lab_down(settings: LabSettings, say: Callable[[str], None]) -> None:
    paths = LabPaths(settings.state_dir)
    lab = read_lab(paths.lab_json)
    if lab is not None:
        _undo_faults(lab, say)
        agents_alive = all(
            node.agent is not None and daemon_alive(node.agent) for node in lab.nodes
        )
        if agents_alive:
            try:
                delete_pods(settings, None, say)
            except LabError as error:
                say(f"  some pods could not be deleted through CNI: {error}")
        for daemon in lab.daemons():
            if stop_daemon(daemon):
                say(f"stopped {daemon.program} (pid {daemon.pid}) in {daemon.netns}")
    if lab is None or lab.daemon_options.agent_image is not None:
        removed = remove_containers(settings.prefix)
        if removed:
            say(f"removed containers {', '.join(removed)}")

    namespaces = [name for name in list_netns(settings.prefix) if settings.owns_netns(name)]
    for name in namespaces:
        for pid in pids_in_netns(name):
            say(f"killing leftover process {pid} in {name}")
            kill_pid(pid, 9)
    for name in namespaces:
        delete_netns(name)
    if namespaces:
        say(f"deleted {len(namespaces)} namespaces")

    if paths.marker.exists():
        shutil.rmtree(paths.state_dir, ignore_errors=True)
        say(f"removed {paths.state_dir}")
    elif paths.state_dir.exists() and lab is not None:
        say(f"left {paths.state_dir} in place: it has no {paths.marker.name} marker")
    say(f"lab {settings.prefix!r} is down")
