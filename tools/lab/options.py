"""The daemon knobs chosen at `up`, kept in lab.json so later starts reuse them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from netagent.mtu import MAX_MTU, MIN_MTU
from tools.lab.errors import LabUsageError


@dataclass(frozen=True)
class DaemonOptions:
    """Knobs `up` passes to ipamd and the agents."""

    node_lease_ttl: int = 30
    quarantine: int = 5
    log_level: str = "info"
    mtu: int | None = None
    agent_image: str | None = None  # run agents from this image with podman
    insecure_plaintext: bool = False  # gRPC between agents and ipamd without TLS

    def __post_init__(self) -> None:
        if self.node_lease_ttl < 1:
            raise LabUsageError(f"--node-lease-ttl: must be at least 1, got {self.node_lease_ttl}")
        if self.quarantine < 0:
            raise LabUsageError(f"--quarantine: must not be negative, got {self.quarantine}")
        if self.mtu is not None and not MIN_MTU <= self.mtu <= MAX_MTU:
            raise LabUsageError(f"--mtu: must be between {MIN_MTU} and {MAX_MTU}, got {self.mtu}")
        if self.agent_image is not None and (
            not self.agent_image or any(char.isspace() for char in self.agent_image)
        ):
            raise LabUsageError(f"--agent-image: not an image name: {self.agent_image!r}")

    @classmethod
    def from_json(cls, raw: Any) -> DaemonOptions:
        """Tolerant: a lab.json written before options were recorded gives the defaults."""
        if not isinstance(raw, dict):
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in raw.items() if key in known})
