"""The call guard's counters, on a registry passed in (ipamd's /metrics registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class GuardMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.denied = Counter(
            "podnet_ipamd_requests_denied",
            "Calls refused because the caller's certificate does not allow them",
            ["method", "reason"],
            registry=self.registry,
        )
        self.limited = Counter(
            "podnet_ipamd_requests_limited",
            "Calls refused with RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED by a limit of ipamd",
            ["method", "limit"],
            registry=self.registry,
        )
