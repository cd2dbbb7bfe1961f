"""A tiny grpc.aio server with podnet.tls's mutual-TLS credentials that records who called,
and a client that reads which certificate a server presents."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import grpc
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc
from podnet.tls.errors import InvalidIdentity
from podnet.tls.files import TlsFiles, WatchedTlsFiles
from podnet.tls.grpc_credentials import server_credentials
from podnet.tls.identity import SpiffeId
from podnet.tls.peer import peer_identity


@dataclass
class IdentityRecorder(health_pb2_grpc.HealthServicer):  # type: ignore[misc]  # untyped base
    trust_domain: str
    callers: list[SpiffeId] = field(default_factory=list)

    async def Check(
        self,
        request: health_pb2.HealthCheckRequest,
        context: grpc.aio.ServicerContext[
            health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse
        ],
    ) -> health_pb2.HealthCheckResponse:
        try:
            self.callers.append(peer_identity(context, self.trust_domain))
        except InvalidIdentity as error:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


@dataclass
class RunningServer:
    address: str
    recorder: IdentityRecorder


@asynccontextmanager
async def mtls_server(files: WatchedTlsFiles) -> AsyncIterator[RunningServer]:
    server = grpc.aio.server()
    recorder = IdentityRecorder(files.current().trust_domain)
    health_pb2_grpc.add_HealthServicer_to_server(recorder, server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(files))
    await server.start()
    try:
        yield RunningServer(f"127.0.0.1:{port}", recorder)
    finally:
        await server.stop(None)


async def check(channel: grpc.aio.Channel) -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(), timeout=5
    )
    status: int = reply.status
    return status


def _served_certificate(address: str, client: TlsFiles) -> x509.Certificate:
    host, _, port = address.rpartition(":")
    context = ssl.create_default_context(cafile=str(client.ca))
    context.load_cert_chain(client.cert, client.key)
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


async def served_certificate(address: str, client: TlsFiles) -> x509.Certificate:
    """The certificate a new TLS connection to address is shown (a handshake of its own)."""
    return await asyncio.to_thread(_served_certificate, address, client)
