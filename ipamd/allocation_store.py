"""What the Allocator and the ReservationBatcher need from the store, as typing Protocols.

The Allocator decides which range or address to try next and what each outcome means;
every attempt is one guarded operation of an AllocationStore. EtcdStore is the real one;
unit tests use an in-memory store with the same outcomes. Importing this module does not
import the etcd client: the value types are only named for type checking.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ipamd.records import AttachmentRecord
    from ipamd.store import (
        AttachmentLookup,
        ClaimOutcome,
        NodeState,
        Reservation,
        ReserveResult,
        StoredAllocation,
    )


class AllocationStore(Protocol):
    """Node records, range claims, heartbeat leases and pod address records."""

    async def read_node(self, node: str) -> NodeState | None: ...

    async def claim_new_range(
        self, node: str, node_range: ipaddress.IPv4Network, node_ip: str, lease: int
    ) -> ClaimOutcome: ...

    async def refresh_node(self, state: NodeState, node_ip: str, lease: int) -> bool: ...

    async def restore_heartbeat(self, state: NodeState, lease: int) -> bool: ...

    async def grant_lease(self, ttl: int) -> int: ...

    async def revoke_lease(self, lease: int) -> None: ...

    async def keep_alive(self, lease: int) -> int: ...

    async def lookup_attachment(
        self, node_range: ipaddress.IPv4Network, container_id: str, ifname: str
    ) -> AttachmentLookup: ...

    async def release(
        self,
        node_range: ipaddress.IPv4Network,
        container_id: str,
        ifname: str,
        only_address: str = "",
    ) -> AttachmentRecord | None: ...

    async def list_allocations(
        self, node_range: ipaddress.IPv4Network
    ) -> list[StoredAllocation]: ...


class ReservationStore(Protocol):
    """Several address reservations in one guarded operation (see EtcdStore)."""

    async def reserve_addresses(
        self, reservations: Sequence[Reservation]
    ) -> list[ReserveResult | None]: ...


class AddressReserver(Protocol):
    """One address reservation: ReservationBatcher, or a store used directly."""

    async def reserve(self, reservation: Reservation) -> ReserveResult: ...
