"""The call guard in front of a stand-in Ipam servicer, over real mutual TLS: what it lets
through reaches the servicer, what it refuses never does and is counted by method and
reason on the registry it was given."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from podnet.tls.files import WatchedTlsFiles
from podnet.tls.grpc_credentials import channel_credentials_from_files, server_credentials
from podnet.tls.identity import Role
from podnet.v1 import ipam_pb2, ipam_pb2_grpc
from prometheus_client import CollectorRegistry

from ipamd.call_guard import CallGuard
from ipamd.guard_metrics import GuardMetrics
from ipamd.limits import Limits
from tests.ipamd.conftest import next_event
from tools.lab.pki import LabPki

Context = grpc.aio.ServicerContext[Any, Any]


class Recording(ipam_pb2_grpc.IpamServicer):
    """Answers at once and remembers which calls reached it."""

    def __init__(self) -> None:
        self.reached: list[str] = []

    async def ListAllocations(
        self, request: ipam_pb2.ListAllocationsRequest, context: Context
    ) -> ipam_pb2.ListAllocationsReply:
        self.reached.append(f"list {request.node}")
        return ipam_pb2.ListAllocationsReply()

    async def WatchNodeRanges(
        self, request: ipam_pb2.WatchNodeRangesRequest, context: Context
    ) -> AsyncIterator[ipam_pb2.NodeRangeEvent]:
        self.reached.append("watch")
        yield ipam_pb2.NodeRangeEvent(snapshot=ipam_pb2.NodeRangeSnapshot(), revision=1)


@pytest.fixture
async def guarded(pki: LabPki) -> AsyncIterator[tuple[str, Recording, CollectorRegistry]]:
    registry = CollectorRegistry()
    guard = CallGuard("podnet.local", Limits(), None, GuardMetrics(registry))
    servicer = Recording()  # type: ignore[abstract]  # the rest: UNIMPLEMENTED
    server = grpc.aio.server(interceptors=[guard])
    ipam_pb2_grpc.add_IpamServicer_to_server(servicer, server)
    credentials = server_credentials(WatchedTlsFiles(pki.ipamd_server(["127.0.0.1"])))
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    try:
        yield f"127.0.0.1:{port}", servicer, registry
    finally:
        await server.stop(None)


def denied(registry: CollectorRegistry, method: str, reason: str) -> float:
    value = registry.get_sample_value(
        "podnet_ipamd_requests_denied_total", {"method": method, "reason": reason}
    )
    return value or 0.0


async def test_refused_calls_never_reach_the_servicer_and_are_counted(
    guarded: tuple[str, Recording, CollectorRegistry], pki: LabPki
) -> None:
    address, servicer, registry = guarded
    credentials = channel_credentials_from_files(pki.node("worker"))
    async with grpc.aio.secure_channel(address, credentials) as channel:
        stub = ipam_pb2_grpc.IpamStub(channel)
        await stub.ListAllocations(ipam_pb2.ListAllocationsRequest(node="worker"))
        for _ in range(3):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ListAllocations(ipam_pb2.ListAllocationsRequest(node="control-plane"))
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        watch = stub.WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest())
        assert (await next_event(watch)).WhichOneof("change") == "snapshot"
        # A method the servicer does not implement is still guarded first.
        with pytest.raises(grpc.aio.AioRpcError) as unauthorized:
            await stub.AcquireNodeRange(ipam_pb2.AcquireNodeRangeRequest(node="elsewhere"))
        assert unauthorized.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert servicer.reached == ["list worker", "watch"]
    assert denied(registry, "ListAllocations", "node_mismatch") == 3
    assert denied(registry, "AcquireNodeRange", "node_mismatch") == 1

    credentials = channel_credentials_from_files(pki.files(Role.ETCD_CLIENT, "ipamd"))
    async with grpc.aio.secure_channel(address, credentials) as channel:
        watch = ipam_pb2_grpc.IpamStub(channel).WatchNodeRanges(ipam_pb2.WatchNodeRangesRequest())
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await watch.read()
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert denied(registry, "WatchNodeRanges", "role_not_allowed") == 1
    assert servicer.reached == ["list worker", "watch"]
