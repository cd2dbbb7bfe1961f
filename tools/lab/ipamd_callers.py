"""gRPC clients of an ipamd that present certificates of a LabPki: one channel per
identity, and a stub that calls as whichever node each request names (as that node's
agent would), for tests and benchmarks that play many nodes at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import grpc
from podnet.tls.grpc_credentials import channel_credentials_from_files
from podnet.tls.identity import Role
from podnet.v1 import ipam_pb2_grpc

from tools.lab.pki import ADMIN_NAME, LabPki


class AsEachNode:
    """An Ipam stub whose every call presents the certificate of the node its request
    names; a request naming no node (a range watch) presents the admin's."""

    def __init__(self, stub_for: Callable[[str], ipam_pb2_grpc.IpamAsyncStub]) -> None:
        self._stub_for = stub_for

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def call(request: Any, *args: Any, **kwargs: Any) -> Any:
            node = getattr(request, "node", "")
            return getattr(self._stub_for(node), method)(request, *args, **kwargs)

        return call


class IpamdCallers:
    def __init__(
        self, address: str, pki: LabPki | None, options: list[tuple[str, Any]] | None = None
    ) -> None:
        """pki None: ipamd serves plaintext (--insecure-plaintext)."""
        self.address = address
        self.pki = pki
        self._options = options or []
        self.channels: dict[tuple[Role, str], grpc.aio.Channel] = {}

    def channel(self, role: Role = Role.ADMIN, name: str = ADMIN_NAME) -> grpc.aio.Channel:
        """A channel presenting role/name's certificate (issued on first use)."""
        key = (role, name) if self.pki is not None else (Role.ADMIN, "")
        if key not in self.channels:
            if self.pki is None:
                channel = grpc.aio.insecure_channel(self.address, options=self._options)
            else:
                credentials = channel_credentials_from_files(self.pki.files(role, name))
                channel = grpc.aio.secure_channel(self.address, credentials, options=self._options)
            self.channels[key] = channel
        return self.channels[key]

    def stub_as(self, role: Role, name: str) -> ipam_pb2_grpc.IpamAsyncStub:
        return ipam_pb2_grpc.IpamStub(self.channel(role, name))

    def node_stub(self, node: str) -> ipam_pb2_grpc.IpamAsyncStub:
        return self.stub_as(Role.NODE, node)

    def as_each_node(self) -> ipam_pb2_grpc.IpamAsyncStub:
        def stub_for(node: str) -> ipam_pb2_grpc.IpamAsyncStub:
            return self.node_stub(node) if node else self.stub_as(Role.ADMIN, ADMIN_NAME)

        return cast("ipam_pb2_grpc.IpamAsyncStub", AsEachNode(stub_for))

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close(None)
        self.channels.clear()
