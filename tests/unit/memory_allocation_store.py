"""An in-memory AllocationStore and ReservationStore (ipamd.allocation_store) that gives the
outcomes EtcdStore's guarded transactions give, for the Allocator's logic.

`before` hooks (and `before_reserve`, which sees the batch) run at the start of an
operation and may change the state, as another replica or node would between the
Allocator's read and its write; `fail` makes an operation raise. Every call is recorded
in `calls`, every reservation batch in `reserve_calls`.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ipamd.records import AttachmentRecord, IpRecord, NodeRecord, PodRef
from ipamd.store import (
    AttachmentLookup,
    ClaimOutcome,
    NodeState,
    Reservation,
    ReserveOutcome,
    ReserveResult,
    StoredAllocation,
)

Network = ipaddress.IPv4Network
Address = ipaddress.IPv4Address


@dataclass
class MemoryAllocationStore:
    nodes: dict[str, tuple[NodeRecord, int]] = field(default_factory=dict)
    heartbeats: dict[str, int] = field(default_factory=dict)
    claims: dict[Network, str] = field(default_factory=dict)
    ips: dict[tuple[Network, Address], IpRecord] = field(default_factory=dict)
    attachments: dict[tuple[Network, str, str], AttachmentRecord] = field(default_factory=dict)
    leases: dict[int, int] = field(default_factory=dict)
    revoked: list[int] = field(default_factory=list)
    reserve_calls: list[list[Reservation]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    before: dict[str, Callable[[], None]] = field(default_factory=dict)
    before_reserve: Callable[[Sequence[Reservation]], None] | None = None
    fail: dict[str, BaseException] = field(default_factory=dict)
    _revisions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _enter(self, operation: str) -> None:
        self.calls.append(operation)
        hook = self.before.get(operation)
        if hook is not None:
            hook()
        error = self.fail.get(operation)
        if error is not None:
            raise error

    def put_node(self, node: str, cidr: Network, node_ip: str = "192.0.2.1") -> None:
        """A node record and range claim written by someone else (no heartbeat)."""
        self.nodes[node] = (NodeRecord(str(cidr), node_ip), next(self._revisions))
        self.claims[cidr] = node

    def take_address(self, node_range: Network, address: Address, container_id: str) -> None:
        """An address reserved by another replica, unknown to this one's index."""
        record = IpRecord(container_id, "eth0", self.claims[node_range], _pod(container_id))
        self.ips[(node_range, address)] = record
        self.attachments[(node_range, container_id, "eth0")] = AttachmentRecord(
            str(address), str(node_range), record.node
        )

    # --- node ranges ----------------------------------------------------------------

    async def read_node(self, node: str) -> NodeState | None:
        self._enter("read_node")
        if node not in self.nodes:
            return None
        record, revision = self.nodes[node]
        return NodeState(node, record, revision, self.heartbeats.get(node))

    async def claim_new_range(
        self, node: str, node_range: Network, node_ip: str, lease: int
    ) -> ClaimOutcome:
        self._enter("claim_new_range")
        if node in self.nodes:
            return ClaimOutcome.NODE_EXISTS
        if node_range in self.claims:
            return ClaimOutcome.RANGE_TAKEN
        self.put_node(node, node_range, node_ip)
        self.heartbeats[node] = lease
        return ClaimOutcome.CLAIMED

    async def refresh_node(self, state: NodeState, node_ip: str, lease: int) -> bool:
        self._enter("refresh_node")
        current = self.nodes.get(state.node)
        cidr = ipaddress.IPv4Network(state.record.cidr)
        if current is None or current[1] != state.record_revision:
            return False
        if self.claims.get(cidr) != state.node:
            return False
        self.nodes[state.node] = (NodeRecord(state.record.cidr, node_ip), next(self._revisions))
        self.heartbeats[state.node] = lease
        return True

    async def restore_heartbeat(self, state: NodeState, lease: int) -> bool:
        self._enter("restore_heartbeat")
        current = self.nodes.get(state.node)
        if current is None or current[1] != state.record_revision:
            return False
        if state.node in self.heartbeats:
            return False
        self.heartbeats[state.node] = lease
        return True

    async def grant_lease(self, ttl: int) -> int:
        self._enter("grant_lease")
        lease = next(self._revisions)
        self.leases[lease] = ttl
        return lease

    async def revoke_lease(self, lease: int) -> None:
        self._enter("revoke_lease")
        self.revoked.append(lease)
        self.leases.pop(lease, None)
        for node in [n for n, held in self.heartbeats.items() if held == lease]:
            del self.heartbeats[node]

    async def keep_alive(self, lease: int) -> int:
        self._enter("keep_alive")
        return self.leases.get(lease, 0)

    # --- pod addresses --------------------------------------------------------------

    async def reserve_addresses(
        self, reservations: Sequence[Reservation]
    ) -> list[ReserveResult | None]:
        """All or nothing, as one transaction; on a conflict every reservation that could
        not have succeeded is decided and the others are None."""
        self._enter("reserve_addresses")
        if self.before_reserve is not None:
            self.before_reserve(reservations)
        self.reserve_calls.append(list(reservations))
        results: list[ReserveResult | None] = []
        for r in reservations:
            existing = self.attachments.get((r.node_range, r.record.container_id, r.record.ifname))
            if existing is not None:
                results.append(ReserveResult(ReserveOutcome.ATTACHMENT_EXISTS, existing))
            elif self.claims.get(r.node_range) != r.record.node:
                results.append(ReserveResult(ReserveOutcome.RANGE_NOT_HELD))
            elif (r.node_range, r.address) in self.ips:
                results.append(ReserveResult(ReserveOutcome.ADDRESS_TAKEN))
            else:
                results.append(None)
        if any(result is not None for result in results):
            return results
        for r in reservations:
            self.ips[(r.node_range, r.address)] = r.record
            self.attachments[(r.node_range, r.record.container_id, r.record.ifname)] = (
                AttachmentRecord(str(r.address), str(r.node_range), r.record.node)
            )
        return [ReserveResult(ReserveOutcome.RESERVED) for _ in reservations]

    async def lookup_attachment(
        self, node_range: Network, container_id: str, ifname: str
    ) -> AttachmentLookup:
        self._enter("lookup_attachment")
        return AttachmentLookup(
            self.attachments.get((node_range, container_id, ifname)), self.claims.get(node_range)
        )

    async def release(
        self, node_range: Network, container_id: str, ifname: str, only_address: str = ""
    ) -> AttachmentRecord | None:
        self._enter("release")
        attachment = self.attachments.get((node_range, container_id, ifname))
        if attachment is None or only_address not in ("", attachment.address):
            return None
        del self.attachments[(node_range, container_id, ifname)]
        self.ips.pop((node_range, ipaddress.IPv4Address(attachment.address)), None)
        return attachment

    async def list_allocations(self, node_range: Network) -> list[StoredAllocation]:
        self._enter("list_allocations")
        return [
            StoredAllocation(str(address), record)
            for (network, address), record in sorted(self.ips.items())
            if network == node_range
        ]


def _pod(container_id: str) -> PodRef:
    return PodRef("default", f"pod-{container_id}", f"uid-{container_id}")
