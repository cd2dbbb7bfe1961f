"""Percentile summaries of latency samples."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks; samples need not be sorted."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


@dataclass(frozen=True)
class LatencySummary:
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> LatencySummary:
        if not seconds:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        return cls(
            len(seconds),
            percentile(seconds, 0.50) * 1000,
            percentile(seconds, 0.95) * 1000,
            percentile(seconds, 0.99) * 1000,
            sum(seconds) / len(seconds) * 1000,
        )

    def as_json(self) -> dict[str, float | int | None]:
        def rounded(value: float) -> float | None:
            return None if math.isnan(value) else round(value, 2)

        return {
            "count": self.count,
            "p50_ms": rounded(self.p50_ms),
            "p95_ms": rounded(self.p95_ms),
            "p99_ms": rounded(self.p99_ms),
            "mean_ms": rounded(self.mean_ms),
        }
