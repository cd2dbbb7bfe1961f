"""ipamd's Prometheus metrics, on a registry of its own (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass
class IpamdMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.rpcs = Counter(
            "podnet_ipamd_rpcs",
            "Ipam RPCs answered, by method and gRPC status code",
            ["method", "code"],
            registry=self.registry,
        )
        self.rpc_latency = Histogram(
            "podnet_ipamd_rpc_duration_seconds",
            "Time ipamd spent on a unary Ipam RPC, by method",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.allocations_in_use = Gauge(
            "podnet_ipamd_allocations_in_use",
            "Pod IP allocations held in the cluster, as ipamd's address index sees them",
            registry=self.registry,
        )
        self.node_ranges_held = Gauge(
            "podnet_ipamd_node_ranges_held",
            "Node ranges claimed in the cluster CIDR (live or quarantined)",
            registry=self.registry,
        )
        self.node_ranges_capacity = Gauge(
            "podnet_ipamd_node_ranges_capacity",
            "Node ranges the cluster CIDR can hold at the configured node prefix length",
            registry=self.registry,
        )
        self.range_streams_open = Gauge(
            "podnet_ipamd_range_streams_open",
            "WatchNodeRanges streams open now",
            registry=self.registry,
        )
        self.etcd_failures = Counter(
            "podnet_ipamd_etcd_request_failures",
            "etcd calls that failed, by etcd method (each endpoint tried counts)",
            ["method"],
            registry=self.registry,
        )

    def count_from(self, allocations: Callable[[], int], node_ranges: Callable[[], int]) -> None:
        """The two index gauges read the indexes at scrape time."""
        self.allocations_in_use.set_function(allocations)
        self.node_ranges_held.set_function(node_ranges)
