"""EtcdStore: every read and guarded transaction ipamd makes, in terms of its records.

The allocator decides *what* to try; the store makes each attempt one etcd
transaction whose compares make it safe against other replicas and callers.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aetcd import rpc

from ipamd.addressing import parse_network
from ipamd.errors import ConfigMismatch
from ipamd.etcd_connection import EtcdConnection, prefix_end
from ipamd.keys import KeyLayout, range_id
from ipamd.records import (
    AttachmentRecord,
    IpRecord,
    NodeRecord,
    QuarantineMark,
    RangeClaim,
    StoredClusterConfig,
)

# --- transaction building blocks -------------------------------------------------


def _absent(key: str) -> Any:
    return rpc.Compare(
        key=key.encode(), target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL, create_revision=0
    )


def _present(key: str) -> Any:
    return rpc.Compare(
        key=key.encode(), target=rpc.Compare.CREATE, result=rpc.Compare.GREATER, create_revision=0
    )


def _created_at(key: str, revision: int) -> Any:
    return rpc.Compare(
        key=key.encode(),
        target=rpc.Compare.CREATE,
        result=rpc.Compare.EQUAL,
        create_revision=revision,
    )


def _modified_at(key: str, revision: int) -> Any:
    return rpc.Compare(
        key=key.encode(), target=rpc.Compare.MOD, result=rpc.Compare.EQUAL, mod_revision=revision
    )


def _value_is(key: str, value: bytes) -> Any:
    return rpc.Compare(
        key=key.encode(), target=rpc.Compare.VALUE, result=rpc.Compare.EQUAL, value=value
    )


def _put(key: str, value: bytes, lease: int = 0) -> Any:
    return rpc.RequestOp(request_put=rpc.PutRequest(key=key.encode(), value=value, lease=lease))


def _delete(key: str) -> Any:
    return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key.encode()))


def _delete_prefix(prefix: str) -> Any:
    raw = prefix.encode()
    return rpc.RequestOp(
        request_delete_range=rpc.DeleteRangeRequest(key=raw, range_end=prefix_end(raw))
    )


def _get(key: str) -> Any:
    return rpc.RequestOp(request_range=rpc.RangeRequest(key=key.encode()))


def _get_prefix(prefix: str, keys_only: bool = False) -> Any:
    raw = prefix.encode()
    return rpc.RequestOp(
        request_range=rpc.RangeRequest(key=raw, range_end=prefix_end(raw), keys_only=keys_only)
    )


def _first_kv(response: Any) -> Any | None:
    kvs = response.response_range.kvs
    return kvs[0] if kvs else None


# --- results ---------------------------------------------------------------------


@dataclass(frozen=True)
class NodeState:
    node: str
    record: NodeRecord
    record_revision: int
    heartbeat_lease: int | None


@dataclass(frozen=True)
class NodeLiveness:
    node: str
    record: NodeRecord
    record_revision: int
    has_heartbeat: bool
    quarantine_revision: int | None


class ClaimOutcome(enum.Enum):
    CLAIMED = "claimed"
    RANGE_TAKEN = "range_taken"
    NODE_EXISTS = "node_exists"


class ReserveOutcome(enum.Enum):
    RESERVED = "reserved"
    ADDRESS_TAKEN = "address_taken"
    ATTACHMENT_EXISTS = "attachment_exists"
    RANGE_NOT_HELD = "range_not_held"


@dataclass(frozen=True)
class ReserveResult:
    outcome: ReserveOutcome
    existing: AttachmentRecord | None = None


@dataclass(frozen=True)
class Reservation:
    """One wanted pod address: the ip record and attachment to create if both are absent."""

    node_range: ipaddress.IPv4Network
    address: ipaddress.IPv4Address
    record: IpRecord


@dataclass(frozen=True)
class AttachmentLookup:
    attachment: AttachmentRecord | None
    claim_holder: str | None


class ChangeKind(enum.Enum):
    PUT = "put"
    DELETE = "delete"


@dataclass(frozen=True)
class KeyChange:
    kind: ChangeKind
    key: str
    value: bytes
    prev_value: bytes | None
    revision: int


@dataclass(frozen=True)
class HeartbeatLease:
    ttl: int  # as granted
    remaining: int  # seconds left; 0 or less once lapsed


@dataclass(frozen=True)
class NodeOverview:
    """What an operator sees of one node (ListNodes), read at one revision."""

    node: str
    record: NodeRecord
    heartbeat: HeartbeatLease | None  # None: the heartbeat lapsed
    quarantined_since: str | None  # the mark's wall time; None: not quarantined
    allocated: int  # pod addresses held in the node's range


@dataclass(frozen=True)
class StoredAllocation:
    address: str
    record: IpRecord


class EtcdStore:
    def __init__(self, connection: EtcdConnection, keys: KeyLayout) -> None:
        self._etcd = connection
        self.keys = keys

    # --- cluster configuration ---------------------------------------------------

    async def ensure_cluster_config(self, wanted: StoredClusterConfig) -> None:
        """Creates the config record if absent; ConfigMismatch if it holds something else."""
        key = self.keys.config
        reply = await self._etcd.txn([_absent(key)], [_put(key, wanted.encode())], [_get(key)])
        if reply.succeeded:
            return
        kv = _first_kv(reply.responses[0])
        if kv is None:
            return await self.ensure_cluster_config(wanted)
        stored = StoredClusterConfig.decode(kv.value)
        if stored != wanted:
            raise ConfigMismatch(
                f"etcd {key} holds cluster_cidr={stored.cluster_cidr} "
                f"node_prefix_length={stored.node_prefix_length}, but this ipamd was started "
                f"with cluster_cidr={wanted.cluster_cidr} "
                f"node_prefix_length={wanted.node_prefix_length}; refusing to start"
            )
        return None

    # --- node ranges ---------------------------------------------------------------

    async def read_node(self, node: str) -> NodeState | None:
        reply = await self._etcd.txn(
            [], [_get(self.keys.node(node)), _get(self.keys.heartbeat(node))]
        )
        record_kv = _first_kv(reply.responses[0])
        if record_kv is None:
            return None
        heartbeat_kv = _first_kv(reply.responses[1])
        return NodeState(
            node=node,
            record=NodeRecord.decode(record_kv.value),
            record_revision=record_kv.mod_revision,
            heartbeat_lease=heartbeat_kv.lease if heartbeat_kv is not None else None,
        )

    async def claim_new_range(
        self, node: str, node_range: ipaddress.IPv4Network, node_ip: str, lease: int
    ) -> ClaimOutcome:
        """One txn: range claim + node record + heartbeat, if neither claim nor node exists."""
        record = NodeRecord(str(node_range), node_ip).encode()
        claim_key, node_key = self.keys.claim(node_range), self.keys.node(node)
        reply = await self._etcd.txn(
            [_absent(claim_key), _absent(node_key)],
            [
                _put(claim_key, RangeClaim(node).encode()),
                _put(node_key, record),
                _put(self.keys.heartbeat(node), record, lease),
            ],
            [_get(node_key)],
        )
        if reply.succeeded:
            return ClaimOutcome.CLAIMED
        if _first_kv(reply.responses[0]) is not None:
            return ClaimOutcome.NODE_EXISTS
        return ClaimOutcome.RANGE_TAKEN

    async def refresh_node(self, state: NodeState, node_ip: str, lease: int) -> bool:
        """Re-puts node record (new node_ip) and heartbeat (new lease), ends any quarantine;
        only if the record is unchanged since read and its range claim is still the node's."""
        record = NodeRecord(state.record.cidr, node_ip).encode()
        node_range = parse_network(state.record.cidr)
        reply = await self._etcd.txn(
            [
                _modified_at(self.keys.node(state.node), state.record_revision),
                _value_is(self.keys.claim(node_range), RangeClaim(state.node).encode()),
            ],
            [
                _put(self.keys.node(state.node), record),
                _put(self.keys.heartbeat(state.node), record, lease),
                _delete(self.keys.quarantine(state.node)),
            ],
        )
        return bool(reply.succeeded)

    async def restore_heartbeat(self, state: NodeState, lease: int) -> bool:
        """Re-creates a lapsed heartbeat for a node whose record still stands (quarantine)."""
        heartbeat_key = self.keys.heartbeat(state.node)
        reply = await self._etcd.txn(
            [
                _modified_at(self.keys.node(state.node), state.record_revision),
                _absent(heartbeat_key),
            ],
            [
                _put(heartbeat_key, state.record.encode(), lease),
                _delete(self.keys.quarantine(state.node)),
            ],
        )
        return bool(reply.succeeded)

    async def grant_lease(self, ttl: int) -> int:
        return await self._etcd.grant_lease(ttl)

    async def revoke_lease(self, lease: int) -> None:
        await self._etcd.revoke_lease(lease)

    async def keep_alive(self, lease: int) -> int:
        return await self._etcd.keep_alive_once(lease)

    # --- quarantine and reclaim ------------------------------------------------------

    async def node_liveness(self) -> list[NodeLiveness]:
        """Every node record with whether its heartbeat and quarantine mark exist, read at
        one revision."""
        keys = self.keys
        reply = await self._etcd.txn(
            [],
            [
                _get_prefix(keys.nodes),
                _get_prefix(keys.heartbeats),
                _get_prefix(keys.quarantines),
            ],
        )
        nodes, heartbeats, quarantines = (r.response_range.kvs for r in reply.responses)
        beating = {keys.last_segment(kv.key.decode()) for kv in heartbeats}
        marks = {keys.last_segment(kv.key.decode()): kv.create_revision for kv in quarantines}
        result = []
        for kv in nodes:
            node = keys.last_segment(kv.key.decode())
            result.append(
                NodeLiveness(
                    node=node,
                    record=NodeRecord.decode(kv.value),
                    record_revision=kv.mod_revision,
                    has_heartbeat=node in beating,
                    quarantine_revision=marks.get(node),
                )
            )
        return result

    async def node_overview(self) -> list[NodeOverview]:
        """Every node record with its heartbeat lease, quarantine mark and how many pod
        addresses its range holds. Records, marks and address keys are read at one
        revision; each lease's time to live just after."""
        keys = self.keys
        reply = await self._etcd.txn(
            [],
            [
                _get_prefix(keys.nodes),
                _get_prefix(keys.heartbeats),
                _get_prefix(keys.quarantines),
                _get_prefix(keys.ips, keys_only=True),
            ],
        )
        nodes, heartbeats, quarantines, ips = (r.response_range.kvs for r in reply.responses)
        lease_of = {keys.last_segment(kv.key.decode()): kv.lease for kv in heartbeats}
        since_of = {
            keys.last_segment(kv.key.decode()): QuarantineMark.decode(kv.value).since
            for kv in quarantines
        }
        per_range: dict[str, int] = {}
        for kv in ips:
            range_text = kv.key.decode()[len(keys.ips) :].partition("/")[0]
            per_range[range_text] = per_range.get(range_text, 0) + 1
        records = [
            (keys.last_segment(kv.key.decode()), NodeRecord.decode(kv.value)) for kv in nodes
        ]
        leases = await asyncio.gather(
            *(self._heartbeat_lease(lease_of.get(node)) for node, _ in records)
        )
        return [
            NodeOverview(
                node=node,
                record=record,
                heartbeat=lease,
                quarantined_since=since_of.get(node),
                allocated=per_range.get(range_id(parse_network(record.cidr)), 0),
            )
            for (node, record), lease in zip(records, leases, strict=True)
        ]

    async def _heartbeat_lease(self, lease: int | None) -> HeartbeatLease | None:
        if not lease:
            return None
        ttl, remaining = await self._etcd.lease_time_to_live(lease)
        return HeartbeatLease(ttl, remaining) if remaining > 0 else None

    async def start_quarantine(self, node: NodeLiveness) -> int | None:
        """Marks a silent node; returns the mark's revision, None if something changed."""
        mark_key = self.keys.quarantine(node.node)
        since = datetime.now(UTC).isoformat(timespec="seconds")
        reply = await self._etcd.txn(
            [
                _modified_at(self.keys.node(node.node), node.record_revision),
                _absent(self.keys.heartbeat(node.node)),
                _absent(mark_key),
            ],
            [_put(mark_key, QuarantineMark(node.record.cidr, since).encode())],
        )
        return int(reply.header.revision) if reply.succeeded else None

    async def end_quarantine(self, node: str, mark_revision: int) -> None:
        """Drops a stale mark of a node that heartbeats again."""
        mark_key = self.keys.quarantine(node)
        await self._etcd.txn(
            [_created_at(mark_key, mark_revision), _present(self.keys.heartbeat(node))],
            [_delete(mark_key)],
        )

    async def reclaim(self, node: NodeLiveness) -> bool:
        """One txn deleting the node record, its range claim, quarantine mark and every pod
        record of the range, only if the node is still silent and unchanged."""
        assert node.quarantine_revision is not None
        keys = self.keys
        node_range = parse_network(node.record.cidr)
        reply = await self._etcd.txn(
            [
                _modified_at(keys.node(node.node), node.record_revision),
                _absent(keys.heartbeat(node.node)),
                _created_at(keys.quarantine(node.node), node.quarantine_revision),
                _value_is(keys.claim(node_range), RangeClaim(node.node).encode()),
            ],
            [
                _delete(keys.node(node.node)),
                _delete(keys.claim(node_range)),
                _delete(keys.quarantine(node.node)),
                _delete_prefix(keys.ips_of(node_range)),
                _delete_prefix(keys.attachments_of(node_range)),
            ],
        )
        return bool(reply.succeeded)

    # --- pod addresses -------------------------------------------------------------

    async def reserve_addresses(
        self, reservations: Sequence[Reservation]
    ) -> list[ReserveResult | None]:
        """One txn for several reservations: every ip record and attachment is created only if
        all are absent and every range claim names its caller. If any compare fails, nothing
        is written and the same round trip reads every key involved at that revision, which
        decides each reservation that could not have succeeded; the others get None (not
        decided: submit them again). At least one reservation is decided per failed call.

        Attachment keys and addresses must be distinct within one call; together with one
        claim compare per (range, node) that keeps a call within 3 * len(reservations)
        compares and reads (etcd allows 128 of each per txn by default)."""
        keys = self.keys
        ip_keys = [keys.ip(r.node_range, r.address) for r in reservations]
        attachment_keys = [
            keys.attachment(r.node_range, r.record.container_id, r.record.ifname)
            for r in reservations
        ]
        claim_pairs = dict.fromkeys((keys.claim(r.node_range), r.record.node) for r in reservations)
        claim_keys = list(dict.fromkeys(claim_key for claim_key, _ in claim_pairs))
        compares = [_value_is(key, RangeClaim(node).encode()) for key, node in claim_pairs]
        puts = []
        for reservation, ip_key, attachment_key in zip(
            reservations, ip_keys, attachment_keys, strict=True
        ):
            compares += [_absent(ip_key), _absent(attachment_key)]
            attachment = AttachmentRecord(
                str(reservation.address), str(reservation.node_range), reservation.record.node
            )
            puts += [
                _put(ip_key, reservation.record.encode()),
                _put(attachment_key, attachment.encode()),
            ]
        reads = [_get(key) for key in (*ip_keys, *attachment_keys, *claim_keys)]
        reply = await self._etcd.txn(compares, puts, reads)
        if reply.succeeded:
            return [ReserveResult(ReserveOutcome.RESERVED) for _ in reservations]
        found = [_first_kv(response) for response in reply.responses]
        count = len(reservations)
        ip_found, attachment_found = found[:count], found[count : 2 * count]
        holders = {
            key: RangeClaim.decode(kv.value).node if kv is not None else None
            for key, kv in zip(claim_keys, found[2 * count :], strict=True)
        }
        results: list[ReserveResult | None] = []
        for reservation, ip_kv, attachment_kv in zip(
            reservations, ip_found, attachment_found, strict=True
        ):
            if attachment_kv is not None:
                existing = AttachmentRecord.decode(attachment_kv.value)
                results.append(ReserveResult(ReserveOutcome.ATTACHMENT_EXISTS, existing))
            elif holders[keys.claim(reservation.node_range)] != reservation.record.node:
                results.append(ReserveResult(ReserveOutcome.RANGE_NOT_HELD))
            elif ip_kv is not None:
                results.append(ReserveResult(ReserveOutcome.ADDRESS_TAKEN))
            else:
                results.append(None)
        return results

    async def lookup_attachment(
        self, node_range: ipaddress.IPv4Network, container_id: str, ifname: str
    ) -> AttachmentLookup:
        reply = await self._etcd.txn(
            [],
            [
                _get(self.keys.attachment(node_range, container_id, ifname)),
                _get(self.keys.claim(node_range)),
            ],
        )
        attachment_kv = _first_kv(reply.responses[0])
        claim_kv = _first_kv(reply.responses[1])
        return AttachmentLookup(
            AttachmentRecord.decode(attachment_kv.value) if attachment_kv is not None else None,
            RangeClaim.decode(claim_kv.value).node if claim_kv is not None else None,
        )

    async def release(
        self,
        node_range: ipaddress.IPv4Network,
        container_id: str,
        ifname: str,
        only_address: str = "",
    ) -> AttachmentRecord | None:
        """Deletes attachment + ip record if the ip record is still this attachment's (both
        were written by one txn, so they share a mod revision). Returns what was released.
        only_address: release only if the attachment holds that address."""
        attachment_key = self.keys.attachment(node_range, container_id, ifname)
        for _ in range(5):
            reply = await self._etcd.txn([], [_get(attachment_key)])
            kv = _first_kv(reply.responses[0])
            if kv is None:
                return None
            attachment = AttachmentRecord.decode(kv.value)
            if only_address not in ("", attachment.address):
                return None
            ip_key = self.keys.ip(node_range, ipaddress.IPv4Address(attachment.address))
            released = await self._etcd.txn(
                [
                    _modified_at(attachment_key, kv.mod_revision),
                    _modified_at(ip_key, kv.mod_revision),
                ],
                [_delete(attachment_key), _delete(ip_key)],
                [_get(attachment_key), _get(ip_key)],
            )
            if released.succeeded:
                return attachment
            current_attachment = _first_kv(released.responses[0])
            if current_attachment is None or current_attachment.mod_revision != kv.mod_revision:
                continue
            # The ip record is gone or belongs to someone else: drop only the stale index.
            await self._etcd.txn(
                [_modified_at(attachment_key, kv.mod_revision)], [_delete(attachment_key)]
            )
            return None
        return None

    async def list_allocations(self, node_range: ipaddress.IPv4Network) -> list[StoredAllocation]:
        kvs, _ = await self._etcd.range_prefix(self.keys.ips_of(node_range).encode())
        return [
            StoredAllocation(self.keys.last_segment(kv.key.decode()), IpRecord.decode(kv.value))
            for kv in kvs
        ]

    # --- snapshots and changes, for the warm indexes and the range stream ----------

    async def current_revision(self) -> int:
        """etcd's revision now, from a read of one small key."""
        reply = await self._etcd.range(self.keys.config.encode())
        return int(reply.header.revision)

    async def load(self, prefix: str) -> tuple[list[tuple[str, bytes]], int]:
        kvs, revision = await self._etcd.range_prefix(prefix.encode())
        return [(kv.key.decode(), kv.value) for kv in kvs], revision

    async def changes(
        self, prefix: str, start_revision: int, prev_kv: bool = False
    ) -> AsyncIterator[Sequence[KeyChange]]:
        raw = prefix.encode()
        async for response in self._etcd.watch(raw, prefix_end(raw), start_revision, prev_kv):
            batch = []
            for event in response.events:
                kind = ChangeKind.DELETE if event.type == rpc.Event.DELETE else ChangeKind.PUT
                has_prev = prev_kv and event.HasField("prev_kv")
                batch.append(
                    KeyChange(
                        kind=kind,
                        key=event.kv.key.decode(),
                        value=event.kv.value,
                        prev_value=event.prev_kv.value if has_prev else None,
                        revision=event.kv.mod_revision,
                    )
                )
            yield batch
