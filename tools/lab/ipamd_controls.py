"""`podnet-lab ipamd ...`: stop, start and restart the lab's ipamd with its original flags."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from tools.lab.daemons import daemon_alive, kill_now, stop_daemon
from tools.lab.errors import NodeControlError
from tools.lab.lab_lock import lab_lock
from tools.lab.launch import launch_ipamd, wait_for_ipamd
from tools.lab.layout import LabPaths, LabSettings
from tools.lab.pods import require_lab
from tools.lab.state import DaemonRecord, write_lab

Say = Callable[[str], None]


def _stop(ipamd: DaemonRecord | None, kill: bool, say: Say) -> None:
    if ipamd is None or not daemon_alive(ipamd):
        say("ipamd is not running")
        return
    if kill:
        kill_now(ipamd)
    else:
        stop_daemon(ipamd)
    say(f"{'killed' if kill else 'stopped'} ipamd (pid {ipamd.pid})")


def _start(settings: LabSettings, timeout: float, say: Say) -> DaemonRecord:
    paths = LabPaths(settings.state_dir)
    lab = require_lab(settings)
    if lab.ipamd is not None and daemon_alive(lab.ipamd):
        say(f"ipamd is already running (pid {lab.ipamd.pid})")
        return lab.ipamd
    if not lab.etcd_members:
        raise NodeControlError("the lab records no etcd for ipamd to use")
    ipamd = launch_ipamd(settings, lab.nodes[0], lab.etcd_endpoints, lab.daemon_options)
    write_lab(paths.lab_json, replace(lab, ipamd=ipamd))
    wait_for_ipamd(ipamd, timeout)
    say(f"ipamd serving on {ipamd.address} (pid {ipamd.pid})")
    return ipamd


def ipamd_stop(settings: LabSettings, kill: bool, say: Say) -> None:
    with lab_lock(LabPaths(settings.state_dir)):
        _stop(require_lab(settings).ipamd, kill, say)


def ipamd_start(settings: LabSettings, timeout: float, say: Say) -> DaemonRecord:
    with lab_lock(LabPaths(settings.state_dir)):
        return _start(settings, timeout, say)


def ipamd_restart(settings: LabSettings, kill: bool, timeout: float, say: Say) -> DaemonRecord:
    with lab_lock(LabPaths(settings.state_dir)):
        _stop(require_lab(settings).ipamd, kill, say)
        return _start(settings, timeout, say)
