"""The allocation logic: which range or address to try next, and what each outcome means.
Every attempt is one guarded transaction in the store; races are retried a bounded number
of times."""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass

from podnet.logs import log_event

from ipamd.addressing import address_at, gateway_of, is_node_range_of, parse_network
from ipamd.allocation_store import AddressReserver, AllocationStore
from ipamd.config import ClusterConfig
from ipamd.errors import (
    Contention,
    InvalidRequest,
    NodeRangeGone,
    NodeRangeNotHeld,
    RangeExhausted,
    StoreUnavailable,
)
from ipamd.indexes import AddressIndex, ClaimIndex
from ipamd.records import AttachmentRecord, IpRecord, PodRef
from ipamd.store import ClaimOutcome, NodeState, Reservation, ReserveOutcome

log = logging.getLogger(__name__)

MAX_ADDRESS_ATTEMPTS = 64
MAX_RANGE_ATTEMPTS = 8


@dataclass(frozen=True)
class NodeRangeGrant:
    node: str
    cidr: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    node_ip: str
    cluster_cidr: ipaddress.IPv4Network
    lease_ttl_seconds: int


@dataclass(frozen=True)
class PodAttachment:
    address: ipaddress.IPv4Address
    node_range: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    node: str
    container_id: str
    ifname: str
    pod: PodRef


_SLASH_OR_SPACE = re.compile(r"[/\s]")


def _require_name(what: str, value: str) -> None:
    if not value:
        raise InvalidRequest(f"{what} must not be empty")
    if _SLASH_OR_SPACE.search(value):
        raise InvalidRequest(f"{what} {value!r} must not contain '/' or whitespace")


class Allocator:
    def __init__(
        self,
        store: AllocationStore,
        cluster: ClusterConfig,
        lease_ttl: int,
        claims: ClaimIndex,
        addresses: AddressIndex,
        reserver: AddressReserver,
    ) -> None:
        self._store = store
        self._reserver = reserver
        self._valid_ranges: dict[str, ipaddress.IPv4Network] = {}
        self._cluster = cluster
        self._lease_ttl = lease_ttl
        self._claims = claims
        self._addresses = addresses

    def _grant(self, node: str, cidr: str, node_ip: str) -> NodeRangeGrant:
        node_range = parse_network(cidr)
        return NodeRangeGrant(
            node=node,
            cidr=node_range,
            gateway=gateway_of(node_range),
            node_ip=node_ip,
            cluster_cidr=self._cluster.cluster_cidr,
            lease_ttl_seconds=self._lease_ttl,
        )

    def _node_range(self, cidr: str) -> ipaddress.IPv4Network:
        """The node range cidr names; InvalidRequest unless it is one of the cluster's."""
        known = self._valid_ranges.get(cidr)
        if known is not None:
            return known
        try:
            node_range = parse_network(cidr)
        except ValueError as error:
            raise InvalidRequest(f"cidr {cidr!r} is not an IPv4 network: {error}") from None
        if not is_node_range_of(
            node_range, self._cluster.cluster_cidr, self._cluster.node_prefix_length
        ):
            raise InvalidRequest(
                f"cidr {cidr} is not a /{self._cluster.node_prefix_length} node range of "
                f"{self._cluster.cluster_cidr}"
            )
        self._valid_ranges[cidr] = node_range
        return node_range

    async def _revoke_quietly(self, lease: int) -> None:
        try:
            await self._store.revoke_lease(lease)
        except StoreUnavailable as error:
            log_event(log, "lease_revoke_failed", logging.WARNING, lease=lease, error=error)

    # --- node ranges ---------------------------------------------------------------

    async def acquire_node_range(self, node: str, node_ip: str) -> NodeRangeGrant:
        _require_name("node", node)
        try:
            ipaddress.IPv4Address(node_ip)
        except ValueError:
            raise InvalidRequest(f"node_ip {node_ip!r} is not an IPv4 address") from None
        for _ in range(MAX_RANGE_ATTEMPTS):
            state = await self._store.read_node(node)
            lease = await self._store.grant_lease(self._lease_ttl)
            if state is not None:
                if await self._store.refresh_node(state, node_ip, lease):
                    if state.heartbeat_lease:
                        await self._revoke_quietly(state.heartbeat_lease)
                    return self._grant(node, state.record.cidr, node_ip)
                await self._revoke_quietly(lease)
                continue
            outcome = await self._claim_free_range(node, node_ip, lease)
            if outcome is not None:
                return outcome
            await self._revoke_quietly(lease)
        raise Contention(f"node {node}: too many concurrent changes, try again")

    async def _claim_free_range(self, node: str, node_ip: str, lease: int) -> NodeRangeGrant | None:
        """Claims the first free range; None when the node record appeared meanwhile."""
        for candidate in self._claims.free_ranges():
            outcome = await self._store.claim_new_range(node, candidate, node_ip, lease)
            if outcome is ClaimOutcome.CLAIMED:
                self._claims.mark_claimed(candidate)
                log_event(log, "node_range_claimed", node=node, cidr=str(candidate))
                return self._grant(node, str(candidate), node_ip)
            if outcome is ClaimOutcome.NODE_EXISTS:
                return None
            self._claims.mark_claimed(candidate)
        await self._revoke_quietly(lease)
        raise RangeExhausted(
            f"cluster CIDR {self._cluster.cluster_cidr} has no free "
            f"/{self._cluster.node_prefix_length} node range left"
        )

    async def renew_node_range(self, node: str, cidr: str) -> NodeRangeGrant:
        _require_name("node", node)
        self._node_range(cidr)
        for _ in range(MAX_RANGE_ATTEMPTS):
            state = await self._store.read_node(node)
            if state is None or state.record.cidr != cidr:
                raise NodeRangeGone(f"node {node} no longer holds {cidr}; acquire a range again")
            if state.heartbeat_lease and await self._store.keep_alive(state.heartbeat_lease) > 0:
                return self._grant(node, cidr, state.record.node_ip)
            if await self._restore_heartbeat(state):
                log_event(log, "node_heartbeat_restored", node=node, cidr=cidr)
                return self._grant(node, cidr, state.record.node_ip)
        raise Contention(f"node {node}: too many concurrent changes, try again")

    async def _restore_heartbeat(self, state: NodeState) -> bool:
        lease = await self._store.grant_lease(self._lease_ttl)
        if await self._store.restore_heartbeat(state, lease):
            return True
        await self._revoke_quietly(lease)
        return False

    # --- pod addresses -------------------------------------------------------------

    def _attachment(
        self, node_range: ipaddress.IPv4Network, address: str, record: IpRecord
    ) -> PodAttachment:
        return PodAttachment(
            address=ipaddress.IPv4Address(address),
            node_range=node_range,
            gateway=gateway_of(node_range),
            node=record.node,
            container_id=record.container_id,
            ifname=record.ifname,
            pod=record.pod,
        )

    async def allocate_pod_ip(
        self, node: str, cidr: str, container_id: str, ifname: str, pod: PodRef
    ) -> PodAttachment:
        _require_name("node", node)
        _require_name("container_id", container_id)
        _require_name("ifname", ifname)
        node_range = self._node_range(cidr)
        record = IpRecord(container_id, ifname, node, pod)
        pool = self._addresses.pool(node_range)
        for _ in range(MAX_ADDRESS_ATTEMPTS):
            offset = pool.take()
            if offset is None:
                return await self._existing_or_exhausted(node_range, record)
            address = address_at(node_range, offset)
            try:
                result = await self._reserver.reserve(Reservation(node_range, address, record))
            except BaseException:
                pool.give_back(offset)
                raise
            if result.outcome is ReserveOutcome.RESERVED:
                pool.mark_used(offset)
                return self._attachment(node_range, str(address), record)
            if result.outcome is ReserveOutcome.ADDRESS_TAKEN:
                pool.mark_used(offset)
                continue
            pool.give_back(offset)
            if result.outcome is ReserveOutcome.RANGE_NOT_HELD:
                raise NodeRangeNotHeld(f"node {node} does not hold range {cidr}")
            assert result.existing is not None
            return self._attachment(node_range, result.existing.address, record)
        raise Contention(f"range {cidr}: lost {MAX_ADDRESS_ATTEMPTS} races in a row, try again")

    async def _existing_or_exhausted(
        self, node_range: ipaddress.IPv4Network, record: IpRecord
    ) -> PodAttachment:
        """The index has nothing free: a retried call may still own an address."""
        found = await self._store.lookup_attachment(node_range, record.container_id, record.ifname)
        if found.attachment is not None:
            return self._attachment(node_range, found.attachment.address, record)
        if found.claim_holder != record.node:
            raise NodeRangeNotHeld(f"node {record.node} does not hold range {node_range}")
        raise RangeExhausted(f"node range {node_range} has no free pod address")

    async def release_pod_ip(
        self, node: str, container_id: str, ifname: str, only_address: str = ""
    ) -> AttachmentRecord | None:
        _require_name("node", node)
        _require_name("container_id", container_id)
        _require_name("ifname", ifname)
        state = await self._store.read_node(node)
        if state is None:
            return None
        return await self._store.release(
            parse_network(state.record.cidr), container_id, ifname, only_address
        )

    async def list_allocations(self, node: str) -> list[PodAttachment]:
        _require_name("node", node)
        state = await self._store.read_node(node)
        if state is None:
            return []
        node_range = parse_network(state.record.cidr)
        return [
            self._attachment(node_range, allocation.address, allocation.record)
            for allocation in await self._store.list_allocations(node_range)
        ]
