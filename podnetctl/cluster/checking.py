"""`podnetctl ipam check`: leaks and orphans, with the evidence from both sides.

It looks twice, `--settle` seconds apart, and reports what both looks found: a pod in
the middle of ADD or DEL is allocated and not yet (or no longer) wired for a moment.
Exit status: 0 clean, 1 problems found, 2 could not check (ipamd or an agent did not
answer; the nodes that were checked are still reported).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from podnetctl.cluster.clients import Cluster, Unreachable
from podnetctl.cluster.ipam_check import Finding, Kind, compare, persisting
from podnetctl.cluster.model import Allocation, AttachedInterface, Unchecked
from podnetctl.cluster.output import print_json, print_table, short_id
from podnetctl.errors import CommandError

EXIT_CLEAN = 0
EXIT_PROBLEMS = 1
EXIT_UNCHECKED = 2


@dataclass(frozen=True)
class Look:
    allocations: list[Allocation]
    attachments: dict[str, list[AttachedInterface]]  # by node, the nodes that answered
    unchecked: list[Unchecked]
    findings: list[Finding]


async def _attachments(cluster: Cluster, node: str) -> list[AttachedInterface] | Unchecked:
    try:
        return await cluster.attachments(node)
    except CommandError as error:
        return Unchecked(node, str(error))


async def look(cluster: Cluster) -> Look:
    """ipamd's allocations first, then every agent's attachments: an address allocated and
    released in between is then seen as neither."""
    nodes = [node.name for node in await cluster.nodes()]
    allocations = await cluster.allocations(nodes)
    names = sorted(set(nodes) | set(cluster.config.agents))
    answers = await asyncio.gather(*(_attachments(cluster, name) for name in names))
    attachments = {
        name: answer
        for name, answer in zip(names, answers, strict=True)
        if isinstance(answer, list)
    }
    unchecked = [answer for answer in answers if isinstance(answer, Unchecked)]
    return Look(allocations, attachments, unchecked, compare(allocations, attachments))


def _finding_json(finding: Finding) -> dict[str, str]:
    return {key: str(value) for key, value in dataclasses.asdict(finding).items()}


def _report_json(last: Look, findings: Sequence[Finding]) -> None:
    print_json(
        {
            "clean": not findings and not last.unchecked,
            "nodes_checked": sorted(last.attachments),
            "allocations": len(last.allocations),
            "attachments": sum(len(a) for a in last.attachments.values()),
            "leaks": [_finding_json(f) for f in findings if f.kind is Kind.LEAK],
            "orphans": [_finding_json(f) for f in findings if f.kind is Kind.ORPHAN],
            "unchecked": [dataclasses.asdict(u) for u in last.unchecked],
        }
    )


def _report_table(last: Look, findings: Sequence[Finding]) -> None:
    if findings:
        print_table(
            ("KIND", "NODE", "ADDRESS", "CONTAINER", "IFNAME", "IPAMD", "AGENT"),
            (
                (
                    f.kind.value,
                    f.node,
                    f.address or "-",
                    short_id(f.container_id) or "-",
                    f.ifname or "-",
                    f.ipamd_says,
                    f.agent_says,
                )
                for f in findings
            ),
        )
    leaks = sum(1 for f in findings if f.kind is Kind.LEAK)
    orphans = len(findings) - leaks
    attached = sum(len(a) for a in last.attachments.values())
    print(
        f"checked {len(last.attachments)} node(s): {len(last.allocations)} allocation(s), "
        f"{attached} attachment(s); {leaks} leak(s), {orphans} orphan(s)"
    )
    for unchecked in last.unchecked:
        print(f"could not check node {unchecked.node}: {unchecked.reason}")


async def check_ipam(cluster: Cluster, settle: float, as_json: bool) -> int:
    cluster.config.require_agent_tls()
    try:
        first = await look(cluster)
        last = first
        findings = first.findings
        if findings and settle > 0:
            await asyncio.sleep(settle)
            last = await look(cluster)
            findings = persisting(first.findings, last.findings)
    except Unreachable as error:
        raise CouldNotCheck(str(error)) from None
    if as_json:
        _report_json(last, findings)
    else:
        _report_table(last, findings)
    if last.unchecked:
        return EXIT_UNCHECKED
    return EXIT_PROBLEMS if findings else EXIT_CLEAN


class CouldNotCheck(CommandError):
    """ipamd did not answer: nothing could be compared (exit status 2)."""

    exit_status = EXIT_UNCHECKED
