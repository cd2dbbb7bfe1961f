"""The invariants a churn run must keep, as a pure core: observations in, violations out.

Nothing here reads the kernel or talks to a daemon; tools.churn.observe does
that and hands the results in.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PodLifetime:
    """When a pod certainly held its address: from ADD's result to the start of its DEL.

    released_at is None while the pod is still live (never deleted).
    """

    container_id: str
    node: str
    ip: str
    added_at: float
    released_at: float | None


@dataclass(frozen=True)
class Allocation:
    """One address the allocator (ipamd, or host-local's data dir) holds."""

    node: str
    ip: str
    container_id: str


@dataclass(frozen=True)
class NodeState:
    """What a node namespace holds that a pod could leave behind."""

    veths: frozenset[str] = frozenset()
    host_routes: frozenset[str] = frozenset()  # "<dst> dev <ifname>" of /32 routes
    ruleset_lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChurnArtifacts:
    """Identifiers the run's pods used, to recognise their leftovers by."""

    container_ids: frozenset[str] = frozenset()
    ips: frozenset[str] = frozenset()
    host_veths: frozenset[str] = frozenset()
    host_ports: frozenset[int] = frozenset()


@dataclass(frozen=True)
class NodeObservation:
    node: str
    before: NodeState
    after: NodeState


@dataclass(frozen=True)
class RunObservations:
    lifetimes: Sequence[PodLifetime]
    allocations: Sequence[Allocation]
    live_container_ids: frozenset[str]
    nodes: Sequence[NodeObservation]
    artifacts: ChurnArtifacts
    leftover_pod_netns: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class Violation:
    invariant: str  # "duplicate-ip", "leaked-allocation", "leftover-veth", ...
    detail: str


def duplicate_ips(lifetimes: Iterable[PodLifetime]) -> list[Violation]:
    """Pairs of pods that held the same address at the same time."""
    by_ip: dict[str, list[PodLifetime]] = defaultdict(list)
    for lifetime in lifetimes:
        by_ip[lifetime.ip].append(lifetime)
    violations = []
    for ip, holders in sorted(by_ip.items()):
        holders.sort(key=lambda held: held.added_at)
        latest = holders[0]
        for current in holders[1:]:
            if latest.released_at is None or current.added_at < latest.released_at:
                violations.append(
                    Violation(
                        "duplicate-ip",
                        f"{ip} given to {current.container_id[:12]} on {current.node} while "
                        f"{latest.container_id[:12]} on {latest.node} still held it",
                    )
                )
            if _ends_later(current, latest):
                latest = current
    return violations


def _ends_later(candidate: PodLifetime, incumbent: PodLifetime) -> bool:
    if incumbent.released_at is None:
        return False
    return candidate.released_at is None or candidate.released_at > incumbent.released_at


def leaked_allocations(
    allocations: Iterable[Allocation], live_container_ids: frozenset[str]
) -> list[Violation]:
    """Allocations whose owner is not a live pod."""
    return [
        Violation(
            "leaked-allocation",
            f"{allocation.ip} on {allocation.node} still allocated to "
            f"{allocation.container_id[:12] or '<no owner>'}, which is not a live pod",
        )
        for allocation in sorted(allocations, key=lambda found: (found.node, found.ip))
        if allocation.container_id not in live_container_ids
    ]


def _mentions(line: str, artifacts: ChurnArtifacts) -> bool:
    if any(cid and cid in line for cid in artifacts.container_ids):
        return True
    if any(name in line for name in artifacts.host_veths):
        return True
    words = set(re.findall(r"[0-9]+(?:\.[0-9]+){3}", line))
    if words & artifacts.ips:
        return True
    ports = {int(port) for port in re.findall(r"dport ([0-9]+)", line)}
    return bool(ports & artifacts.host_ports)


def node_leftovers(observation: NodeObservation, artifacts: ChurnArtifacts) -> list[Violation]:
    """veths, /32 routes and rules the run added to a node and did not remove.

    A rule counts when it is new since the run started and names one of the
    run's pods (address, container id, host veth or host port): shared chains a
    chained plugin creates once and keeps (portmap's CNI-HOSTPORT-*) are not
    per-pod state.
    """
    node, before, after = observation.node, observation.before, observation.after
    violations = [
        Violation("leftover-veth", f"{name} on {node}")
        for name in sorted((after.veths - before.veths) | (after.veths & artifacts.host_veths))
    ]
    violations += [
        Violation("leftover-route", f"{route} on {node}")
        for route in sorted(after.host_routes - before.host_routes)
    ]
    added_lines = Counter(after.ruleset_lines) - Counter(before.ruleset_lines)
    violations += [
        Violation("leftover-rule", f"{line.strip()} on {node}")
        for line in sorted(added_lines)
        if _mentions(line, artifacts)
    ]
    return violations


def check_run(observations: RunObservations) -> list[Violation]:
    """Every violation of every invariant, in a stable order."""
    violations = duplicate_ips(observations.lifetimes)
    violations += leaked_allocations(observations.allocations, observations.live_container_ids)
    for node in observations.nodes:
        violations += node_leftovers(node, observations.artifacts)
    violations += [
        Violation("leftover-netns", name) for name in sorted(observations.leftover_pod_netns)
    ]
    return violations
