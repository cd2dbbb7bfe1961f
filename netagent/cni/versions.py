"""Version arithmetic on CNI spec versions ("1.0.0" style)."""

from __future__ import annotations

from podnet.shim.versions import SUPPORTED_VERSIONS

from netagent.cni.errors import CniError, ErrorCode

__all__ = ["SUPPORTED_VERSIONS", "at_least", "version_tuple"]


def version_tuple(version: str) -> tuple[int, int, int]:
    parts = version.split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise CniError(ErrorCode.DECODING_FAILURE, f"invalid cniVersion {version!r}")
    major, minor, patch = (int(part) for part in parts)
    return major, minor, patch


def at_least(version: str, minimum: str) -> bool:
    return version_tuple(version) >= version_tuple(minimum)
