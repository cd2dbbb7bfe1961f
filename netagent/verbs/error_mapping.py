"""The one place where the agent's exceptions become CNI error codes."""

from __future__ import annotations

from netagent.cni.errors import CniError, ErrorCode
from netagent.dataplane import errors as dp
from netagent.errors import (
    CheckMismatch,
    IpamBusy,
    IpamFailed,
    IpamRangeExhausted,
    IpamRangeNotHeld,
    IpamRejected,
    IpamUnavailable,
    NodeFenced,
)


def to_cni_error(error: Exception, command: str) -> CniError:
    if isinstance(error, CniError):
        return error
    if command == "STATUS" and isinstance(error, NodeFenced | IpamUnavailable):
        return CniError(ErrorCode.PLUGIN_NOT_AVAILABLE, "podnet is not ready", str(error))
    if isinstance(error, NodeFenced | IpamRangeNotHeld):
        return CniError(ErrorCode.TRY_AGAIN_LATER, "node holds no pod range", str(error))
    if isinstance(error, IpamBusy):
        return CniError(
            ErrorCode.TRY_AGAIN_LATER, "ipamd is busy with concurrent changes", str(error)
        )
    if isinstance(error, IpamUnavailable):
        return CniError(ErrorCode.TRY_AGAIN_LATER, "ipamd unavailable", str(error))
    if isinstance(error, IpamFailed):
        return CniError(ErrorCode.IPAM_INTERNAL_ERROR, "ipamd failed internally", str(error))
    if isinstance(error, IpamRangeExhausted):
        return CniError(
            ErrorCode.ADDRESS_RANGE_EXHAUSTED, "no free address in the node's pod range", str(error)
        )
    if isinstance(error, IpamRejected):
        return CniError(ErrorCode.IPAM_ERROR, "ipamd refused the request", str(error))
    if isinstance(error, CheckMismatch):
        return CniError(ErrorCode.CHECK_FAILED, "attachment differs from what ADD made", str(error))
    if isinstance(error, dp.NetnsNotFound):
        return CniError(ErrorCode.UNKNOWN_CONTAINER, "network namespace not found", str(error))
    if isinstance(error, dp.NotANetns):
        return CniError(
            ErrorCode.INVALID_ENVIRONMENT_VARIABLES,
            "CNI_NETNS is not a network namespace",
            str(error),
        )
    if isinstance(error, dp.InterfaceExists):
        return CniError(
            ErrorCode.DATAPLANE_ERROR, "interface already exists in the pod", str(error)
        )
    if isinstance(error, dp.HostPortTaken):
        return CniError(
            ErrorCode.DATAPLANE_ERROR,
            "a requested host port is already in use on this node",
            str(error),
        )
    if isinstance(error, dp.DataplaneError):
        return CniError(ErrorCode.DATAPLANE_ERROR, "network setup failed", str(error))
    return CniError(ErrorCode.DATAPLANE_ERROR, "internal error", repr(error))
