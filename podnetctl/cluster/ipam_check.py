"""`podnetctl ipam check`'s comparison: every allocation ipamd holds against what each
node's agent reports wired. Pure: the caller reads both sides.

- a leak is an address ipamd has allocated that is not attached on its node (nothing
  will release it: its pod is gone, or never got it);
- an orphan is an address attached on a node that ipamd has not allocated to that
  attachment (ipamd may give it to another pod: two pods, one address).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from podnetctl.cluster.model import Allocation, AttachedInterface


class Kind(enum.StrEnum):
    LEAK = "leak"
    ORPHAN = "orphan"


@dataclass(frozen=True)
class Finding:
    kind: Kind
    node: str
    address: str  # empty for an attached interface without any address
    container_id: str
    ifname: str
    ipamd_says: str
    agent_says: str

    @property
    def identity(self) -> tuple[str, ...]:
        """What makes two findings the same problem (seen again on a second look)."""
        return (self.kind, self.node, self.address, self.container_id, self.ifname)


def _who(container_id: str, ifname: str) -> str:
    return f"{container_id or '?'}/{ifname or '?'}"


def _leak(
    allocation: Allocation,
    by_key: Mapping[tuple[str, str], AttachedInterface],
    by_address: Mapping[str, AttachedInterface],
) -> Finding | None:
    attached = by_key.get((allocation.container_id, allocation.ifname))
    if attached is not None and allocation.address in attached.addresses:
        return None
    if attached is not None:
        routed = ", ".join(attached.addresses) or "no address"
        agent_says = f"{attached.host_veth} of this attachment routes {routed}"
    elif allocation.address in by_address:
        other = by_address[allocation.address]
        agent_says = (
            f"{allocation.address} is routed to {other.host_veth} of "
            f"{_who(other.container_id, other.ifname)}, and this attachment has no interface"
        )
    else:
        agent_says = f"no interface of this attachment, nothing routes {allocation.address}"
    pod = f" (pod {allocation.pod})" if allocation.pod else ""
    return Finding(
        Kind.LEAK,
        allocation.node,
        allocation.address,
        allocation.container_id,
        allocation.ifname,
        f"allocated to {_who(allocation.container_id, allocation.ifname)}{pod}",
        agent_says,
    )


def _orphans(
    attached: AttachedInterface,
    by_address: Mapping[str, Allocation],
    by_key: Mapping[tuple[str, str, str], Allocation],
) -> list[Finding]:
    findings = []
    own = by_key.get((attached.node, attached.container_id, attached.ifname))
    if not attached.addresses and own is not None:
        return []  # its allocation shows as a leak: "... of this attachment routes no address"
    for address in attached.addresses or ("",):
        allocation = by_address.get(address) if address else None
        if allocation is not None and allocation == own:
            continue
        if allocation is not None:
            ipamd_says = (
                f"{address} is allocated to {_who(allocation.container_id, allocation.ifname)} "
                f"on node {allocation.node}"
            )
        elif own is not None:
            ipamd_says = f"this attachment holds {own.address}, {address} is free"
        elif address:
            ipamd_says = f"{address} is not allocated"
        else:
            ipamd_says = "no allocation for this attachment"
        routes = f"routes {address}" if address else "routes no address"
        findings.append(
            Finding(
                Kind.ORPHAN,
                attached.node,
                address,
                attached.container_id,
                attached.ifname,
                ipamd_says,
                f"{attached.host_veth} {routes}",
            )
        )
    return findings


def compare(
    allocations: Iterable[Allocation],
    attachments: Mapping[str, Sequence[AttachedInterface]],
) -> list[Finding]:
    """Leaks and orphans on the nodes in attachments (the nodes whose agent answered);
    allocations of other nodes are not judged."""
    allocations = list(allocations)
    allocation_by_address = {a.address: a for a in allocations}
    allocation_by_key = {(a.node, a.container_id, a.ifname): a for a in allocations}
    findings: list[Finding] = []
    for node, attached in attachments.items():
        by_key = {(a.container_id, a.ifname): a for a in attached if a.container_id}
        by_address = {address: a for a in attached for address in a.addresses}
        for allocation in allocations:
            if allocation.node == node:
                leak = _leak(allocation, by_key, by_address)
                if leak is not None:
                    findings.append(leak)
        for interface in attached:
            findings += _orphans(interface, allocation_by_address, allocation_by_key)
    return sorted(findings, key=lambda f: (f.node, f.kind, f.address, f.container_id))


def persisting(first: Sequence[Finding], second: Sequence[Finding]) -> list[Finding]:
    """The findings of the second look that the first look had too: a pod in the middle
    of ADD or DEL is allocated but not yet (or no longer) wired for a moment."""
    seen = {finding.identity for finding in first}
    return [finding for finding in second if finding.identity in seen]
