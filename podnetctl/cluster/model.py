"""What podnetctl reads from ipamd and the agents, as plain values (no protobuf), so that
comparing and printing them needs no gRPC."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeView:
    """One node as ipamd holds it (ListNodes)."""

    name: str
    cidr: str
    node_ip: str
    live: bool
    lease_ttl_seconds: int
    lease_remaining_seconds: int
    quarantined: bool
    quarantined_since: str
    allocated: int

    @property
    def renewed_seconds_ago(self) -> int | None:
        """How long ago the node last renewed its lease; None once it lapsed."""
        return self.lease_ttl_seconds - self.lease_remaining_seconds if self.live else None


@dataclass(frozen=True)
class Allocation:
    """One pod address ipamd has given out (ListAllocations)."""

    address: str
    node: str
    container_id: str
    ifname: str
    pod_namespace: str
    pod_name: str

    @property
    def pod(self) -> str:
        return f"{self.pod_namespace}/{self.pod_name}" if self.pod_name else ""


@dataclass(frozen=True)
class AttachedInterface:
    """One pod interface an agent reports wired on its node (ListAttachments)."""

    node: str
    container_id: str  # empty when the host veth names no attachment
    ifname: str
    addresses: tuple[str, ...]  # routed through the host veth
    host_veth: str
    pod_netns: str  # empty when the agent does not know it
    since: str  # RFC 3339; empty when the agent does not know it


@dataclass(frozen=True)
class Unchecked:
    """A node whose agent could not answer: nothing about it is known."""

    node: str
    reason: str
