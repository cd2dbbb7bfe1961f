"""`podnet-lab etcd ...`: stop, kill, start, freeze, thaw, cut off and heal one etcd member
of a running lab, and ask the members who leads."""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import replace

from tools.lab.daemons import daemon_alive, kill_now, stop_daemon
from tools.lab.errors import NodeControlError
from tools.lab.etcd_cluster import MemberStatus, launch_member, leader_name, member_statuses
from tools.lab.lab_lock import lab_lock
from tools.lab.layout import LabPaths, LabSettings
from tools.lab.partition import apply_cut, isolation_rules, remove_cut
from tools.lab.pods import require_lab
from tools.lab.processes import kill_pid
from tools.lab.state import EtcdMemberRecord, LabRecord, write_lab

Say = Callable[[str], None]
LEADER = "leader"


def member_running(member: EtcdMemberRecord) -> bool:
    return member.daemon is not None and daemon_alive(member.daemon)


def member_state(member: EtcdMemberRecord) -> str:
    if not member_running(member):
        return "stopped"
    return "frozen" if member.frozen else "cut off" if member.cut else "running"


def _with_member(lab: LabRecord, changed: EtcdMemberRecord) -> LabRecord:
    members = [changed if m.name == changed.name else m for m in lab.etcd_members]
    return replace(lab, etcd_members=members)


def _known_member(settings: LabSettings, lab: LabRecord, name: str) -> EtcdMemberRecord:
    """The member by name or namespace; "leader" for the one the members agree leads."""
    if name == LEADER:
        leader = leader_name(member_statuses(settings, lab))
        if leader is None:
            raise NodeControlError("the etcd members do not agree on a leader right now")
        name = leader
    member = lab.etcd_member(name)
    if member is None:
        known = ", ".join(m.name for m in lab.etcd_members)
        raise NodeControlError(f"no etcd member {name!r} (members: {known})")
    return member


def _change_member(
    settings: LabSettings,
    name: str,
    change: Callable[[LabRecord, EtcdMemberRecord], EtcdMemberRecord | None],
) -> None:
    """Runs change under the lab lock and records the member it returns (None: no change)."""
    paths = LabPaths(settings.state_dir)
    require_lab(settings)  # before the lock, which creates a file
    with lab_lock(paths):
        lab = require_lab(settings)
        changed = change(lab, _known_member(settings, lab, name))
        if changed is not None:
            write_lab(paths.lab_json, _with_member(lab, changed))


def _require_running(member: EtcdMemberRecord) -> None:
    if not member_running(member):
        raise NodeControlError(f"etcd member {member.name} is not running")


def etcd_stop(settings: LabSettings, name: str, kill: bool, say: Say) -> None:
    """SIGTERM the member (SIGKILL with kill, like a crash); its data dir stays."""

    def stop(lab: LabRecord, member: EtcdMemberRecord) -> EtcdMemberRecord | None:
        if member.daemon is None or not member_running(member):
            say(f"etcd member {member.name} is not running")
            return None
        if kill:
            kill_now(member.daemon)
        else:
            kill_pid(member.daemon.pid, signal.SIGCONT)  # a frozen member cannot exit
            stop_daemon(member.daemon)
        how = "killed" if kill else "stopped"
        say(f"{how} etcd member {member.name} (pid {member.daemon.pid})")
        return replace(member, frozen=False)

    _change_member(settings, name, stop)


def etcd_start(settings: LabSettings, name: str, timeout: float, say: Say) -> None:
    """Starts the member again on its data dir; it rejoins the cluster."""

    def start(lab: LabRecord, member: EtcdMemberRecord) -> EtcdMemberRecord | None:
        if member_running(member):
            say(f"etcd member {member.name} is already running ({member_state(member)})")
            return None
        server, started = launch_member(settings, member, lab.etcd_members)
        write_lab(LabPaths(settings.state_dir).lab_json, _with_member(lab, started))
        server.wait_serving(timeout)
        assert started.daemon is not None
        say(f"started etcd member {member.name} (pid {started.daemon.pid})")
        return started

    _change_member(settings, name, start)


def etcd_freeze(settings: LabSettings, name: str, frozen: bool, say: Say) -> None:
    """SIGSTOP the member (it hangs: connections stay open and silent), or SIGCONT it."""

    def freeze(lab: LabRecord, member: EtcdMemberRecord) -> EtcdMemberRecord | None:
        _require_running(member)
        assert member.daemon is not None
        kill_pid(member.daemon.pid, signal.SIGSTOP if frozen else signal.SIGCONT)
        say(f"{'froze' if frozen else 'thawed'} etcd member {member.name}")
        return replace(member, frozen=frozen)

    _change_member(settings, name, freeze)


def etcd_cut(settings: LabSettings, name: str, cut: bool, say: Say) -> None:
    """Drops all traffic of the member's namespace (its peers and ipamd), or lets it
    through again. Only members in a namespace of their own (--etcd-members 3 or 5)."""

    def partition(lab: LabRecord, member: EtcdMemberRecord) -> EtcdMemberRecord | None:
        if any(node.netns == member.netns for node in lab.nodes):
            raise NodeControlError(
                f"etcd member {member.name} shares {member.netns} with a node; "
                "a lab made with --etcd-members 3 has members of their own to cut off"
            )
        if cut:
            apply_cut(member.netns, isolation_rules())
            say(f"cut etcd member {member.name} off from its peers and ipamd")
        else:
            remove_cut(member.netns)
            say(f"healed etcd member {member.name}")
        return replace(member, cut=cut)

    _change_member(settings, name, partition)


def status_text(lab: LabRecord, statuses: list[MemberStatus]) -> str:
    lines = []
    for member, status in zip(lab.etcd_members, statuses, strict=True):
        where = f"{member.name:<8} {member.address:<18} {member_state(member):<8}"
        if status.member_id is None:
            lines.append(f"{where} no answer ({status.error})")
            continue
        role = "leader" if status.is_leader else "follower"
        alarms = f"  alarms {','.join(status.alarms)}" if status.alarms else ""
        lines.append(
            f"{where} {role:<8} term {status.raft_term}  db {status.db_size} bytes{alarms}"
        )
    return "\n".join(lines)


def etcd_status(settings: LabSettings) -> tuple[LabRecord, list[MemberStatus]]:
    lab = require_lab(settings)
    return lab, member_statuses(settings, lab)
