"""Which node holds each claimed node range, mirrored from the claims in etcd, for
authorization (a node may allocate only in the range it holds). A hint like every index:
the allocator's transaction still checks the claim."""

from __future__ import annotations

import logging

from podnet.logs import log_event

from ipamd.keys import KeyLayout
from ipamd.records import RangeClaim
from ipamd.store import ChangeKind, KeyChange

log = logging.getLogger(__name__)


class RangeHolders:
    def __init__(self, keys: KeyLayout) -> None:
        self._keys = keys
        self._holders: dict[str, str] = {}  # range id ('10.244.1.0-24') -> node

    def reset(self) -> None:
        self._holders.clear()

    def apply(self, change: KeyChange) -> None:
        range_key = self._keys.last_segment(change.key)
        if change.kind is ChangeKind.DELETE:
            self._holders.pop(range_key, None)
            return
        try:
            self._holders[range_key] = RangeClaim.decode(change.value).node
        except (ValueError, KeyError) as error:
            log_event(log, "range_claim_unreadable", logging.WARNING, key=change.key, error=error)
            self._holders.pop(range_key, None)

    def holder_of(self, cidr: str) -> str | None:
        """The node holding cidr ('10.244.1.0/24'); None when nobody does (or cidr is not a
        range's name)."""
        return self._holders.get(cidr.replace("/", "-"))
