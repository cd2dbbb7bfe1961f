"""Who may do what on podnet.v1.Ipam: a pure function of the caller's identity (from its
verified certificate), the method, the request's fields, and which node holds the range
the request names. Never of what the request says about its caller.

Default deny: a method this table does not know is refused to everyone, so a new RPC is
closed until someone decides who may call it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from podnet.tls.identity import Role, SpiffeId

ACQUIRE = "AcquireNodeRange"
RENEW = "RenewNodeRange"
KEEP = "KeepNodeRange"  # RenewNodeRange as a stream of requests (each one is checked)
ALLOCATE = "AllocatePodIp"
RELEASE = "ReleasePodIp"
LIST = "ListAllocations"
WATCH = "WatchNodeRanges"
LIST_NODES = "ListNodes"  # podnetctl nodes
STATUS = "GetStatus"  # podnetctl status

# What a node may do, and only for itself: for these, request.node must be its own name.
_NODE_OWN = frozenset({ACQUIRE, RENEW, KEEP, ALLOCATE, RELEASE, LIST})
_NODE_ANY = frozenset({WATCH})
# Admin reads and cleans up; it never takes ranges or addresses (only agents do).
_ADMIN = frozenset({LIST, RELEASE, WATCH, LIST_NODES, STATUS})
KNOWN_METHODS = _NODE_OWN | _NODE_ANY | _ADMIN


class Reason(enum.StrEnum):
    """Why a call was refused: the `reason` label of the denial counter (bounded)."""

    INVALID_IDENTITY = "invalid_identity"  # no podnet identity of this trust domain
    UNKNOWN_METHOD = "unknown_method"
    ROLE_NOT_ALLOWED = "role_not_allowed"  # ipamd, etcd, etcd-client: no Ipam calls at all
    ADMIN_CANNOT_ALLOCATE = "admin_cannot_allocate"  # acquire, renew, allocate
    NODE_MISMATCH = "node_mismatch"  # request.node is not the certificate's node
    RANGE_OF_ANOTHER_NODE = "range_of_another_node"  # the cidr is held by another node


@dataclass(frozen=True)
class CallFacts:
    """What authorization looks at besides the caller."""

    method: str  # the bare method name, e.g. "AllocatePodIp"
    node: str = ""  # request.node ("" when the request has none)
    cidr: str = ""  # request.cidr ("" when the request has none)
    cidr_holder: str | None = None  # which node holds cidr now (None: nobody, or unknown)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Reason | None = None
    message: str = ""


ALLOW = Decision(True)


def _deny(reason: Reason, message: str) -> Decision:
    return Decision(False, reason, message)


def authorize(caller: SpiffeId, facts: CallFacts) -> Decision:
    method = facts.method
    if method not in KNOWN_METHODS:
        return _deny(Reason.UNKNOWN_METHOD, f"{method} is not callable by anyone")
    if caller.role is Role.ADMIN:
        if method in _ADMIN:
            return ALLOW
        return _deny(
            Reason.ADMIN_CANNOT_ALLOCATE,
            f"{caller} is an operator: it may list, release and watch, not call {method}",
        )
    if caller.role is not Role.NODE:
        return _deny(
            Reason.ROLE_NOT_ALLOWED, f"{caller} ({caller.role.value}) may not call {method}"
        )
    if method in _NODE_ANY:
        return ALLOW
    if facts.node != caller.name:
        return _deny(
            Reason.NODE_MISMATCH,
            f"{caller} may call {method} only for node {caller.name!r}, "
            f"not for node {facts.node!r}",
        )
    # Renewing a range one does not hold stays the allocator's NOT_FOUND ("acquire again"),
    # which is how an agent learns that its range was reclaimed and handed on.
    if method == ALLOCATE and facts.cidr_holder not in (None, caller.name):
        return _deny(
            Reason.RANGE_OF_ANOTHER_NODE,
            f"{caller} may allocate only in its own node's range; {facts.cidr} is held by "
            f"node {facts.cidr_holder!r}",
        )
    return ALLOW
