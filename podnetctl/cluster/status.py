"""`podnetctl status`: health, version and fencing of every ipamd replica and agent.

Exit status 0 when every one serves (agents ready), 1 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from podnetctl.cluster.clients import AgentStatusView, Cluster, IpamdStatusView
from podnetctl.cluster.output import print_json, print_table
from podnetctl.errors import CommandError

SERVING = "SERVING"


def _ipamd_ok(view: IpamdStatusView) -> bool:
    return view.health == SERVING and not view.error


def _agent_ok(view: AgentStatusView) -> bool:
    return view.health == SERVING and view.ready and not view.error


def _ipamd_detail(view: IpamdStatusView) -> str:
    if view.error:
        return view.error
    etcd = "reachable" if view.etcd_reachable else "UNREACHABLE"
    return f"etcd {view.etcd_endpoint} {etcd}"


def _agent_detail(view: AgentStatusView) -> str:
    if view.error:
        return view.error
    ipamd = "ipamd connected" if view.ipamd_connected else "ipamd NOT connected"
    return f"{view.readiness}, {ipamd}"


def _fenced(view: AgentStatusView) -> str:
    if view.error:
        return "-"
    return "yes" if view.fenced else "no"


async def _agent_names(cluster: Cluster) -> list[str]:
    """The configured agents and every node ipamd knows (if it answers)."""
    names = set(cluster.config.agents)
    with contextlib.suppress(CommandError):  # ipamd's own row says why
        names |= {node.name for node in await cluster.nodes()}
    return sorted(names)


async def show_status(cluster: Cluster, as_json: bool) -> int:
    replicas, names = await asyncio.gather(
        asyncio.gather(*(cluster.ipamd_status(e) for e in cluster.config.require_ipamd())),
        _agent_names(cluster),
    )
    agents = await asyncio.gather(*(cluster.agent_status(name) for name in names))
    healthy = all(map(_ipamd_ok, replicas)) and all(map(_agent_ok, agents))
    if as_json:
        print_json(
            {
                "healthy": healthy,
                "ipamd": [dataclasses.asdict(view) for view in replicas],
                "agents": [dataclasses.asdict(view) for view in agents],
            }
        )
    else:
        rows = [
            ("ipamd", r.endpoint, r.health, r.version or "-", "-", _ipamd_detail(r))
            for r in replicas
        ]
        rows += [
            (f"agent {a.name}", a.endpoint or "-", a.health, a.version or "-", _fenced(a),
             _agent_detail(a))
            for a in agents
        ]  # fmt: skip
        print_table(("COMPONENT", "ADDRESS", "HEALTH", "VERSION", "FENCED", "DETAIL"), rows)
    return 0 if healthy else 1
