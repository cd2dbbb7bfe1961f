"""The lab's etcd members: starting them (all at `up`, one again later) and asking them
for their status and who leads."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from podnetctl.etcd_access import EtcdAccess
from tools.lab.daemons import ETCD_PREFIX
from tools.lab.docker_network import attach_etcd_member
from tools.lab.errors import LabStartError
from tools.lab.etcd_server import EtcdServer
from tools.lab.layout import ETCD_CLIENT_PORT, ETCD_PEER_PORT, EtcdMemberPlan, LabPaths, LabSettings
from tools.lab.netns import in_netns
from tools.lab.pki import IPAMD_ETCD_USER, LabPki
from tools.lab.state import DaemonRecord, EtcdMemberRecord, LabRecord


def member_record(plan: EtcdMemberPlan) -> EtcdMemberRecord:
    return EtcdMemberRecord(plan.name, plan.netns, plan.ip, ETCD_CLIENT_PORT, ETCD_PEER_PORT)


def member_server(
    settings: LabSettings, member: EtcdMemberRecord, members: Sequence[EtcdMemberRecord]
) -> EtcdServer:
    """The member's server with its data dir, certificate and the whole cluster's peers."""
    paths = LabPaths(settings.state_dir)
    return EtcdServer(
        paths.etcd_data_dir(member.name),
        member.ip,
        member.client_port,
        member.peer_port,
        tls=LabPki(paths.pki_dir).etcd_member(member.name, member.ip),
        netns=member.netns,
        name=member.name,
        cluster={m.name: f"https://{m.ip}:{m.peer_port}" for m in members},
    )


def launch_member(
    settings: LabSettings, member: EtcdMemberRecord, members: Sequence[EtcdMemberRecord]
) -> tuple[EtcdServer, EtcdMemberRecord]:
    """Starts the member's process (detached: it outlives the CLI) and records it."""
    server = member_server(settings, member, members)
    server.launch()
    assert server.process is not None
    daemon = DaemonRecord(
        "etcd", member.netns, member.address, server.process.pid, str(server.log_path)
    )
    return server, replace(member, daemon=daemon, frozen=False)


def start_etcd(
    settings: LabSettings,
    plans: Sequence[EtcdMemberPlan],
    timeout: float,
    record: Callable[[list[EtcdMemberRecord]], None],
) -> list[EtcdMemberRecord]:
    """Every member started at once (a new cluster serves once a quorum runs), recorded
    as soon as its process exists, then RBAC enabled through the first."""
    for plan in plans:
        attach_etcd_member(settings, plan)
    members = [member_record(plan) for plan in plans]
    servers = []
    for index, member in enumerate(members):
        server, members[index] = launch_member(settings, member, members)
        servers.append(server)
        record(list(members))
    for server in servers:
        server.wait_serving(timeout)
    pki = LabPki(LabPaths(settings.state_dir).pki_dir)
    servers[0].enable_auth(pki.etcd_root(), EtcdAccess(ETCD_PREFIX, IPAMD_ETCD_USER))
    return members


@dataclass(frozen=True)
class MemberStatus:
    name: str
    address: str
    member_id: int | None  # None: the member did not answer
    leader_id: int | None
    db_size: int | None
    raft_term: int | None
    alarms: tuple[str, ...]
    error: str | None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> MemberStatus:
        return cls(
            name=raw["name"],
            address=raw["address"],
            member_id=raw.get("member_id"),
            leader_id=raw.get("leader_id") or None,
            db_size=raw.get("db_size"),
            raft_term=raw.get("raft_term"),
            alarms=tuple(raw.get("errors", ())),
            error=raw.get("error"),
        )

    @property
    def is_leader(self) -> bool:
        return self.member_id is not None and self.member_id == self.leader_id


def member_statuses(settings: LabSettings, lab: LabRecord) -> list[MemberStatus]:
    """Every member's answer to Status, asked from the control-plane (where ipamd runs)."""
    root = LabPki(LabPaths(settings.state_dir).pki_dir).etcd_root()
    argv = [
        sys.executable, "-m", "tools.lab.etcd_probe",
        "--ca", str(root.ca), "--cert", str(root.cert), "--key", str(root.key),
        *(f"{member.name}={member.address}" for member in lab.etcd_members),
    ]  # fmt: skip
    done = subprocess.run(
        in_netns(lab.nodes[0].netns, argv), capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise LabStartError(f"etcd status failed: {done.stderr.strip()[-500:]}")
    return [MemberStatus.from_json(json.loads(line)) for line in done.stdout.splitlines()]


def leader_name(statuses: Sequence[MemberStatus]) -> str | None:
    """The member every answering member agrees leads, None without agreement."""
    answered = [status for status in statuses if status.member_id is not None]
    leaders = {status.leader_id for status in answered}
    if len(leaders) != 1 or None in leaders:
        return None
    return next((status.name for status in answered if status.is_leader), None)
