"""The daemon knobs chosen at `up`, kept in lab.json so later starts reuse them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class DaemonOptions:
    """Knobs `up` passes to ipamd and the agents."""

    node_lease_ttl: int = 30
    quarantine: int = 5
    log_level: str = "info"
    mtu: int | None = None

    @classmethod
    def from_json(cls, raw: Any) -> DaemonOptions:
        """Tolerant: a lab.json written before options were recorded gives the defaults."""
        if not isinstance(raw, dict):
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in raw.items() if key in known})
