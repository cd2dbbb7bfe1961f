"""The gRPC endpoint the CNI shim calls: a unix socket, reflection and health."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import grpc.aio
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from podnet.v1 import cni_pb2, cni_pb2_grpc

InvocationHandler = Callable[[cni_pb2.CniInvocation], Awaitable[cni_pb2.CniOutcome]]
SERVICE_NAME = cni_pb2.DESCRIPTOR.services_by_name["CniAgent"].full_name


class CniAgentServicer(cni_pb2_grpc.CniAgentServicer):
    def __init__(self, handler: InvocationHandler) -> None:
        self._handler = handler

    async def Invoke(
        self,
        request: cni_pb2.CniInvocation,
        context: grpc.aio.ServicerContext[cni_pb2.CniInvocation, cni_pb2.CniOutcome],
    ) -> cni_pb2.CniOutcome:
        return await self._handler(request)


def prepare_socket_path(path: Path) -> None:
    """The socket's directory is 0700 and any stale socket is removed."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    path.unlink(missing_ok=True)


async def start_cni_server(
    socket_path: Path, handler: InvocationHandler
) -> tuple[grpc.aio.Server, health_aio.HealthServicer]:
    """Starts the server on socket_path; on failure nothing is left started."""
    prepare_socket_path(socket_path)
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    cni_pb2_grpc.add_CniAgentServicer_to_server(CniAgentServicer(handler), server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    old_umask = os.umask(0o177)
    try:
        server.add_insecure_port(f"unix:{socket_path}")
        await server.start()
    except BaseException:
        await server.stop(None)
        raise
    finally:
        os.umask(old_umask)
    os.chmod(socket_path, 0o600)
    await health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.NOT_SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    return server, health_servicer
