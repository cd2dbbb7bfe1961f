"""The public CNI socket: learns who each caller is, then relays its bytes to gRPC.

For every accepted connection the gate reads SO_PEERCRED. A caller whose uid is
allowed is relayed to the agent's gRPC server, any other to the refusal server
(which answers every call with PERMISSION_DENIED). Both listen on sockets in a
0700 directory only the agent can enter. The relay's own socket is autobound
to a unique abstract address under which the caller is registered (see
callers.py); for an allowed caller the registry also holds its root directory,
opened at accept time while the caller waits for its answer.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

from podnet.logs import log_event

from netagent.server.callers import (
    Caller,
    CallerRegistry,
    abstract_name,
    open_root_of,
    peer_credentials,
)

logger = logging.getLogger("podnet.agent.caller_gate")


class CallerGate:
    def __init__(
        self,
        registry: CallerRegistry,
        admitted_upstream: Path,
        refused_upstream: Path,
        allowed_uids: frozenset[int],
    ) -> None:
        self.registry = registry
        self.allowed_uids = allowed_uids
        self._admitted_upstream = str(admitted_upstream)
        self._refused_upstream = str(refused_upstream)
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[_CallerSide] = set()
        self._warned_no_root = False

    async def start(self, path: Path) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _CallerSide(self), path=str(path))

    def close(self) -> None:
        """Stops accepting; connections already relayed finish (see abort_connections)."""
        if self._server is not None:
            self._server.close()

    def abort_connections(self) -> None:
        for connection in list(self._connections):
            connection.abort()

    def upstream_for(self, uid: int) -> str:
        return self._admitted_upstream if uid in self.allowed_uids else self._refused_upstream

    def warn_once_no_root(self, caller: Caller) -> None:
        if self._warned_no_root:
            return
        self._warned_no_root = True
        log_event(
            logger,
            "cni_caller_root_unavailable",
            logging.WARNING,
            peer_pid=caller.credentials.pid,
            peer_uid=caller.credentials.uid,
            consequence="CNI_NETNS is resolved in the agent's own mount namespace",
            fix="run the agent in the host PID namespace, as root with CAP_SYS_PTRACE",
        )

    def track(self, connection: _CallerSide, open_: bool) -> None:
        if open_:
            self._connections.add(connection)
        else:
            self._connections.discard(connection)


class _CallerSide(asyncio.Protocol):
    """The shim's connection; its bytes go to the upstream (gRPC) side and back."""

    def __init__(self, gate: CallerGate) -> None:
        self._gate = gate
        self._transport: asyncio.Transport | None = None
        self._upstream: asyncio.Transport | None = None
        self._opening: asyncio.Task[None] | None = None
        self._address = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.pause_reading()  # until the upstream side is connected
        self._gate.track(self, True)
        credentials = peer_credentials(transport.get_extra_info("socket"))
        admitted = credentials.uid in self._gate.allowed_uids
        caller = Caller(credentials, open_root_of(credentials.pid) if admitted else None)
        if admitted and caller.root_fd is None:
            self._gate.warn_once_no_root(caller)
        self._opening = asyncio.get_running_loop().create_task(
            self._open_upstream(caller, self._gate.upstream_for(credentials.uid))
        )

    async def _open_upstream(self, caller: Caller, upstream_path: str) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.bind("")  # autobind: the kernel picks a unique abstract address
            self._address = abstract_name(sock)
        except OSError as error:
            sock.close()
            caller.release()
            self._fail(error)
            return
        self._gate.registry.add(self._address, caller)
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_connect(sock, upstream_path)
            transport, _ = await loop.create_unix_connection(lambda: _UpstreamSide(self), sock=sock)
        except OSError as error:
            sock.close()
            self._fail(error)
            return
        except BaseException:
            sock.close()
            raise
        assert isinstance(transport, asyncio.Transport)
        self._upstream = transport
        if self._transport is not None:
            self._transport.resume_reading()

    def _fail(self, error: OSError) -> None:
        log_event(logger, "cni_relay_failed", logging.ERROR, error=str(error))
        self.abort()

    def data_received(self, data: bytes) -> None:
        if self._upstream is not None:
            self._upstream.write(data)

    def eof_received(self) -> bool:
        if self._upstream is not None and self._upstream.can_write_eof():
            self._upstream.write_eof()
        return True

    def pause_writing(self) -> None:
        if self._upstream is not None:
            self._upstream.pause_reading()

    def resume_writing(self) -> None:
        if self._upstream is not None:
            self._upstream.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._gate.track(self, False)
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
        if self._upstream is not None:
            self._upstream.close()
        if self._address:
            self._gate.registry.remove(self._address)

    # Called from the upstream side.
    def write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)

    def write_eof(self) -> None:
        if self._transport is not None and self._transport.can_write_eof():
            self._transport.write_eof()

    def pause_reading(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and self._upstream is not None:
            self._transport.resume_reading()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


class _UpstreamSide(asyncio.Protocol):
    """The relay's connection to a gRPC server, on behalf of one caller."""

    def __init__(self, caller_side: _CallerSide) -> None:
        self._caller_side = caller_side

    def data_received(self, data: bytes) -> None:
        self._caller_side.write(data)

    def eof_received(self) -> bool:
        self._caller_side.write_eof()
        return True

    def pause_writing(self) -> None:
        self._caller_side.pause_reading()

    def resume_writing(self) -> None:
        self._caller_side.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._caller_side.close()
