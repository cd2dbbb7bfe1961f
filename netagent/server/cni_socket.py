"""The gRPC endpoint the CNI shim calls: a unix socket, reflection and health.

The public socket belongs to the caller gate (caller_gate.py), which checks
each caller's uid and relays it to the gRPC server here, on an internal socket.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from podnet.v1 import cni_pb2, cni_pb2_grpc

from netagent.dataplane.caller_view import CallerRoot
from netagent.server.caller_gate import CallerGate
from netagent.server.callers import CallerRegistry
from netagent.server.internal_sockets import admitted_socket, internal_dir, refused_socket
from netagent.server.refusal import RefuseEveryCall

InvocationHandler = Callable[
    [cni_pb2.CniInvocation, CallerRoot | None], Awaitable[cni_pb2.CniOutcome]
]
SERVICE_NAME = cni_pb2.DESCRIPTOR.services_by_name["CniAgent"].full_name


class CniAgentServicer(cni_pb2_grpc.CniAgentServicer):
    def __init__(self, handler: InvocationHandler, callers: CallerRegistry) -> None:
        self._handler = handler
        self._callers = callers

    async def Invoke(
        self,
        request: cni_pb2.CniInvocation,
        context: grpc.aio.ServicerContext[cni_pb2.CniInvocation, cni_pb2.CniOutcome],
    ) -> cni_pb2.CniOutcome:
        peer = context.peer()
        caller = self._callers.lookup(peer)
        if caller is None:
            if self._callers.relayed(peer):
                await context.abort(
                    grpc.StatusCode.CANCELLED, "the caller hung up before its call was served"
                )
            # Straight on the internal socket, which only root can reach: the agent's view.
            return await self._handler(request, None)
        with self._callers.root_of(caller) as root:
            return await self._handler(request, root)


@dataclass
class CniEndpoint:
    """The running endpoint: the gate on the public socket and the servers behind it."""

    socket_path: Path
    gate: CallerGate
    server: grpc.aio.Server
    refusal: grpc.aio.Server
    health: health_aio.HealthServicer

    async def stop(self, grace: float) -> None:
        self.gate.close()
        await self.server.stop(grace)
        await self.refusal.stop(None)
        self.gate.abort_connections()
        shutil.rmtree(internal_dir(self.socket_path), ignore_errors=True)


def prepare_socket_path(path: Path) -> None:
    """The socket's directory is 0700 and any stale socket is removed."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    path.unlink(missing_ok=True)


def _prepare_internal_dir(public_socket: Path) -> None:
    directory = internal_dir(public_socket)
    directory.mkdir(exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    for stale in (admitted_socket(public_socket), refused_socket(public_socket)):
        stale.unlink(missing_ok=True)


def _cni_server(
    handler: InvocationHandler, callers: CallerRegistry
) -> tuple[grpc.aio.Server, health_aio.HealthServicer]:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    cni_pb2_grpc.add_CniAgentServicer_to_server(CniAgentServicer(handler, callers), server)
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
    return server, health_servicer


async def start_cni_server(
    socket_path: Path,
    handler: InvocationHandler,
    allowed_uids: frozenset[int],
    on_refused: Callable[[], None],
) -> CniEndpoint:
    # The paths first: a socket directory that cannot be made leaves no server behind.
    prepare_socket_path(socket_path)
    _prepare_internal_dir(socket_path)
    callers = CallerRegistry()
    server, health_servicer = _cni_server(handler, callers)
    refusal = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    refusal.add_generic_rpc_handlers((RefuseEveryCall(callers, allowed_uids, on_refused),))
    gate = CallerGate(
        callers, admitted_socket(socket_path), refused_socket(socket_path), allowed_uids
    )
    old_umask = os.umask(0o177)
    try:
        server.add_insecure_port(f"unix:{admitted_socket(socket_path)}")
        refusal.add_insecure_port(f"unix:{refused_socket(socket_path)}")
        await server.start()
        await refusal.start()
        await gate.start(socket_path)
    except BaseException:
        await CniEndpoint(socket_path, gate, server, refusal, health_servicer).stop(0)
        raise
    finally:
        os.umask(old_umask)
    os.chmod(socket_path, 0o600)
    await health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.NOT_SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    return CniEndpoint(socket_path, gate, server, refusal, health_servicer)
