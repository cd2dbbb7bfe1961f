"""CNI errors: the spec's well-known codes and podnet's own (100+).

See docs/cni-errors.md for when each code is returned.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    # CNI SPEC 1.1.0, "Error codes": 0-99 are reserved for the spec.
    INCOMPATIBLE_CNI_VERSION = 1
    UNSUPPORTED_FIELD = 2
    UNKNOWN_CONTAINER = 3
    INVALID_ENVIRONMENT_VARIABLES = 4
    IO_FAILURE = 5
    DECODING_FAILURE = 6
    INVALID_NETWORK_CONFIG = 7
    TRY_AGAIN_LATER = 11
    PLUGIN_NOT_AVAILABLE = 50
    PLUGIN_NOT_AVAILABLE_LIMITED_CONNECTIVITY = 51
    # podnet's own.
    ADDRESS_RANGE_EXHAUSTED = 100
    IPAM_ERROR = 101
    DATAPLANE_ERROR = 102
    CHECK_FAILED = 103
    IPAM_INTERNAL_ERROR = 104


class CniError(Exception):
    """A CNI failure as the runtime sees it: code, message and details."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(f"CNI error {code}: {msg}" + (f" ({details})" if details else ""))
        self.code = int(code)
        self.msg = msg
        self.details = details

    def __repr__(self) -> str:
        return f"CniError(code={self.code}, msg={self.msg!r}, details={self.details!r})"
