"""Collecting the observations of a finished run and checking its invariants."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tools.churn.invariants import (
    Allocation,
    ChurnArtifacts,
    NodeObservation,
    NodeState,
    PodLifetime,
    RunObservations,
    Violation,
    check_run,
)
from tools.churn.observe import (
    host_local_allocations,
    ipamd_allocations,
    leftover_pod_netns,
    node_state,
)
from tools.churn.pod_cycle import CycleRecord
from tools.churn.runner import ChurnOutcome
from tools.churn.targets import Target


@dataclass(frozen=True)
class Baseline:
    """Node state before the run, to tell the run's leftovers from what was there."""

    nodes: dict[str, NodeState]


def take_baseline(target: Target) -> Baseline:
    return Baseline({node.netns: node_state(node.netns) for node in target.nodes})


def current_allocations(target: Target) -> list[Allocation]:
    allocations = ipamd_allocations(target.ipamd) if target.ipamd is not None else []
    for node, network_dir in target.host_local_dirs:
        allocations += host_local_allocations(node, network_dir)
    return allocations


def lifetimes(records: tuple[CycleRecord, ...]) -> list[PodLifetime]:
    return [
        PodLifetime(
            record.container_id, record.node, record.ip, record.added_at, record.released_at
        )
        for record in records
        if record.ip and record.added_at is not None
    ]


def artifacts(records: tuple[CycleRecord, ...]) -> ChurnArtifacts:
    return ChurnArtifacts(
        container_ids=frozenset(record.container_id for record in records),
        ips=frozenset(record.ip for record in records if record.ip),
        host_veths=frozenset(record.host_veth for record in records if record.host_veth),
        host_ports=frozenset(record.host_port for record in records if record.host_port),
    )


def observe_run(outcome: ChurnOutcome, baseline: Baseline) -> RunObservations:
    target = outcome.target
    return RunObservations(
        lifetimes=lifetimes(outcome.records),
        allocations=current_allocations(target),
        live_container_ids=target.live_container_ids,
        nodes=[
            NodeObservation(node.name, baseline.nodes[node.netns], node_state(node.netns))
            for node in target.nodes
        ],
        artifacts=artifacts(outcome.records),
        leftover_pod_netns=leftover_pod_netns(target.pod_netns_prefix),
    )


# A duplicate IP is history and cannot heal; leaks and leftovers can, legitimately, for a
# moment: a DEL the shim spooled while its agent was away is released when the agent
# is back. Only what is still there after the settle time counts.
PERMANENT = frozenset({"duplicate-ip"})


def verify_run(
    outcome: ChurnOutcome, baseline: Baseline, settle_seconds: float = 0.0
) -> list[Violation]:
    deadline = time.monotonic() + settle_seconds
    while True:
        violations = check_run(observe_run(outcome, baseline))
        permanent = any(v.invariant in PERMANENT for v in violations)
        if not violations or permanent or time.monotonic() >= deadline:
            return violations
        time.sleep(0.5)
