"""The agent's Prometheus metrics, on a registry of its own (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass
class AgentMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.cni_latency = Histogram(
            "podnet_cni_request_duration_seconds",
            "Time the agent spent on a CNI request, by verb and CNI result code",
            ["verb", "code"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.allocations_in_use = Gauge(
            "podnet_allocations_in_use",
            "Pod IP allocations this node holds (attachments it has wired)",
            registry=self.registry,
        )
        self.range_held = Gauge(
            "podnet_node_range_held",
            "1 while the node holds its pod range lease, 0 while fenced",
            registry=self.registry,
        )
        self.peer_routes = Gauge(
            "podnet_peer_routes", "Routes to other nodes' pod ranges", registry=self.registry
        )
        self.cni_callers_refused = Counter(
            "podnet_cni_callers_refused",
            "Calls on the CNI socket refused because the caller's uid is not allowed",
            registry=self.registry,
        )
        self.spool_pending = Gauge(
            "podnet_spool_pending_dels",
            "DEL requests waiting in the spool for the agent to replay them",
            registry=self.registry,
        )
        self.spooled_dels_replayed = Counter(
            "podnet_spooled_dels_replayed",
            "DEL requests recorded while the agent or ipamd was down, replayed since",
            registry=self.registry,
        )
