"""The exception tree of ipamd. The servicer maps it to gRPC status codes; main maps
configuration errors to exit status 2. Nothing else catches these by type."""

from __future__ import annotations


class IpamError(Exception):
    """Base of every error ipamd raises on purpose."""


class InvalidRequest(IpamError):
    """The caller sent something malformed (empty ids, a CIDR outside the cluster)."""


class RangeExhausted(IpamError):
    """No free node range in the cluster CIDR, or no free address in a node range."""


class NodeRangeNotHeld(IpamError):
    """The node does not hold the range it named (its claim is gone or belongs to another)."""


class NodeRangeGone(IpamError):
    """The node's range was reclaimed; the node must acquire a range again."""


class Contention(IpamError):
    """Too many lost races in a row; the caller may retry."""


class StoreUnavailable(IpamError):
    """etcd could not be reached (or answered nothing useful) within the timeout."""


class ConfigError(IpamError):
    """The daemon's configuration is invalid."""


class ConfigMismatch(ConfigError):
    """The cluster configuration stored in etcd disagrees with this daemon's flags."""


class HistoryCompacted(IpamError):
    """etcd no longer has the history a watch asked to resume from."""

    def __init__(self, compact_revision: int) -> None:
        super().__init__(f"etcd history is compacted up to revision {compact_revision}")
        self.compact_revision = compact_revision
