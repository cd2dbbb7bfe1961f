"""`podnet-lab down`: pods, daemons, stragglers, namespaces, state dir. Idempotent."""

from __future__ import annotations

import shutil
from collections.abc import Callable

from tools.lab.agent_container import remove_containers
from tools.lab.daemons import daemon_alive, stop_daemon
from tools.lab.errors import LabError
from tools.lab.layout import LabPaths, LabSettings
from tools.lab.netns import delete_netns, list_netns, pids_in_netns
from tools.lab.pods import delete_pods
from tools.lab.processes import kill_pid
from tools.lab.state import read_lab


def lab_down(settings: LabSettings, say: Callable[[str], None]) -> None:
    paths = LabPaths(settings.state_dir)
    lab = read_lab(paths.lab_json)
    if lab is not None:
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
