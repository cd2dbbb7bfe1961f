"""How the agent reads ipamd's gRPC status: try again later only when a later call can
succeed; ipamd failing internally is reported as that (code 104), with ipamd's message."""

from __future__ import annotations

import grpc
import pytest
from aetcd import rpc
from podnet.tls.files import WatchedTlsFiles
from podnet.v1 import ipam_pb2

from netagent.cni.errors import ErrorCode
from netagent.errors import (
    IpamBusy,
    IpamFailed,
    IpamRangeExhausted,
    IpamRangeNotHeld,
    IpamRejected,
    IpamUnavailable,
)
from netagent.ipam_client import IpamClient, agent_error_for
from netagent.verbs.error_mapping import to_cni_error
from tests.ipamd.conftest import Ipamd, IpamdFactory
from tools.lab.pki import LabPki

S = grpc.StatusCode
STATUS_MEANINGS = [
    (S.UNAVAILABLE, IpamUnavailable, ErrorCode.TRY_AGAIN_LATER),
    (S.DEADLINE_EXCEEDED, IpamUnavailable, ErrorCode.TRY_AGAIN_LATER),
    (S.CANCELLED, IpamUnavailable, ErrorCode.TRY_AGAIN_LATER),
    (S.ABORTED, IpamBusy, ErrorCode.TRY_AGAIN_LATER),
    (S.INTERNAL, IpamFailed, ErrorCode.IPAM_INTERNAL_ERROR),
    (S.UNKNOWN, IpamFailed, ErrorCode.IPAM_INTERNAL_ERROR),
    (S.DATA_LOSS, IpamFailed, ErrorCode.IPAM_INTERNAL_ERROR),
    (S.RESOURCE_EXHAUSTED, IpamRangeExhausted, ErrorCode.ADDRESS_RANGE_EXHAUSTED),
    (S.FAILED_PRECONDITION, IpamRangeNotHeld, ErrorCode.TRY_AGAIN_LATER),
    (S.NOT_FOUND, IpamRangeNotHeld, ErrorCode.TRY_AGAIN_LATER),
    (S.INVALID_ARGUMENT, IpamRejected, ErrorCode.IPAM_ERROR),
    (S.ALREADY_EXISTS, IpamRejected, ErrorCode.IPAM_ERROR),
    (S.PERMISSION_DENIED, IpamRejected, ErrorCode.IPAM_ERROR),
    (S.UNAUTHENTICATED, IpamUnavailable, ErrorCode.TRY_AGAIN_LATER),
    (S.OUT_OF_RANGE, IpamRejected, ErrorCode.IPAM_ERROR),
    (S.UNIMPLEMENTED, IpamRejected, ErrorCode.IPAM_ERROR),
]


def test_the_table_covers_every_failure_status() -> None:
    assert {row[0] for row in STATUS_MEANINGS} == set(S) - {S.OK}


@pytest.mark.parametrize(("status", "error_type", "cni_code"), STATUS_MEANINGS)
def test_each_status_has_one_meaning(
    status: grpc.StatusCode, error_type: type[Exception], cni_code: ErrorCode
) -> None:
    error = agent_error_for(status, "what ipamd said")
    assert type(error) is error_type
    cni_error = to_cni_error(error, "ADD")
    assert cni_error.code == cni_code
    assert "what ipamd said" in cni_error.details


def test_ipamd_busy_is_try_again_later_not_a_full_range() -> None:
    """ipamd's own limits answer RESOURCE_EXHAUSTED with a trailer: busy, not full."""
    error = agent_error_for(S.RESOURCE_EXHAUSTED, "too many calls in flight", limited=True)
    assert type(error) is IpamBusy
    assert to_cni_error(error, "ADD").code == ErrorCode.TRY_AGAIN_LATER


def node_client(ipamd: Ipamd, pki: LabPki, node: str, timeout: float) -> IpamClient:
    """The agent's client, presenting node's certificate as its agent does."""
    return IpamClient(ipamd.address, timeout, WatchedTlsFiles(pki.node(node)))


async def test_ipamd_failing_internally_is_not_try_again_later(
    ipamd: Ipamd, ipamd_factory: IpamdFactory, pki: LabPki, etcd_prefix: str
) -> None:
    """A record ipamd cannot read makes its handler raise: the agent reports code 104
    with ipamd's own message, where it used to say "ipamd unavailable, try again"."""
    client = node_client(ipamd, pki, "node-a", timeout=5)
    try:
        node_range = await client.acquire_range("node-a", "192.0.2.10")
        pod = ipam_pb2.PodRef(k8s_namespace="default", k8s_name="web", k8s_uid="u1")
        await client.allocate(node_range, "c0", "eth0", pod)
        range_id = str(node_range.cidr).replace("/", "-")
        key = f"{etcd_prefix}/attachments/{range_id}/c0/eth0".encode()
        async with ipamd_factory.etcd_connection() as store:
            put = rpc.PutRequest(key=key, value=b"{broken")
            await store.txn([], [rpc.RequestOp(request_put=put)])

        with pytest.raises(IpamFailed) as failed:
            await client.release("node-a", "c0", "eth0")
        cni_error = to_cni_error(failed.value, "DEL")
        assert cni_error.code == 104  # docs/cni-errors.md
        assert cni_error.msg == "ipamd failed internally"
        assert "UNKNOWN" in cni_error.details and "JSONDecodeError" in cni_error.details
    finally:
        await client.close()


async def test_ipamd_out_of_reach_is_try_again_later(ipamd: Ipamd, pki: LabPki) -> None:
    client = node_client(ipamd, pki, "node-a", timeout=1)
    try:
        await ipamd.stop()
        with pytest.raises(IpamUnavailable) as unavailable:
            await client.release("node-a", "c0", "eth0")
        assert type(unavailable.value) is IpamUnavailable
        assert to_cni_error(unavailable.value, "ADD").code == ErrorCode.TRY_AGAIN_LATER
    finally:
        await client.close()
