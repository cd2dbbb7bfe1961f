"""The dataplane's exception tree.

Everything the dataplane raises is a DataplaneError; callers translate these
to gRPC status or CNI error codes at their edges.

    DataplaneError
    ├── InvalidPodNetworkSpec      (also a ValueError)
    ├── NetnsNotFound
    ├── NotANetns
    ├── InterfaceExists
    ├── NetlinkOperationFailed     (.errno, .operation)
    ├── DataplaneTimeout
    ├── AttachmentMismatch         (.problems)
    ├── PeerRouteSyncFailed        (.failures)
    ├── NftablesFailed             (.returncode, .stderr)
    └── HostPortTaken              (.taken)
"""

from __future__ import annotations

from collections.abc import Sequence


class DataplaneError(Exception):
    """Base of every error the dataplane raises."""


class InvalidPodNetworkSpec(DataplaneError, ValueError):
    """A PodNetworkSpec whose fields contradict each other."""


class NetnsNotFound(DataplaneError):
    """The pod network namespace path does not exist."""

    def __init__(self, path: str, seen_by: str = "") -> None:
        where = f" {seen_by}" if seen_by else ""
        super().__init__(f"network namespace {path!r} does not exist{where}")
        self.path = path


class NotANetns(DataplaneError):
    """The path exists but is not a network namespace (nsfs) handle."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path!r} is not a network namespace: {reason}")
        self.path = path


class InterfaceExists(DataplaneError):
    """An interface the attach would create already exists; nothing was changed."""

    def __init__(self, ifname: str, where: str) -> None:
        super().__init__(f"interface {ifname!r} already exists in {where}")
        self.ifname = ifname
        self.where = where


class NetlinkOperationFailed(DataplaneError):
    """The kernel refused a netlink request."""

    def __init__(self, operation: str, errno: int, message: str) -> None:
        super().__init__(f"{operation}: {message} (errno {errno})")
        self.operation = operation
        self.errno = errno


class DataplaneTimeout(DataplaneError):
    """A kernel or nft operation did not finish within its configured time."""


class AttachmentMismatch(DataplaneError):
    """CHECK found the kernel state different from what ADD made."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


class PeerRouteSyncFailed(DataplaneError):
    """Some peer routes could not be programmed; the others were."""

    def __init__(self, failures: Sequence[str]) -> None:
        super().__init__("; ".join(failures))
        self.failures = tuple(failures)


class NftablesFailed(DataplaneError):
    """nft exited non-zero."""

    def __init__(self, returncode: int, stderr: str) -> None:
        super().__init__(f"nft exited with {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stderr = stderr


class HostPortTaken(DataplaneError):
    """Another pod on this node already holds one of the requested host ports."""

    def __init__(self, taken: Sequence[str]) -> None:
        super().__init__("host port already mapped: " + "; ".join(taken))
        self.taken = tuple(taken)
