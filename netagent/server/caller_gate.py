"""The public CNI socket: learns who each caller is, then relays its bytes to gRPC.

For every accepted connection the gate reads SO_PEERCRED. A caller whose uid is
allowed is relayed to the agent's gRPC server, any other to the refusal server
(which answers every call with PERMISSION_DENIED). Both listen on sockets in a
0700 directory only the agent can enter. The relay's own socket is autobound
to a unique abstract address under which the caller is registered (see
callers.py); for an allowed caller the registry also holds its root directory,
opened at accept time, while the caller waits for its answer.

The relay works on raw non-blocking sockets with the event loop's reader and
writer callbacks rather than transports: a CNI call is one short connection,
and this keeps the gate's share of it to a few syscalls and loop wake-ups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
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

_BACKLOG = 128
_ACCEPTS_PER_WAKEUP = 64
_CHUNK = 65536


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
        self._listener: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._relays: set[_Relay] = set()
        self._warned_no_root = False

    async def start(self, path: Path) -> None:
        """Listens on path (created under the caller's umask)."""
        self._loop = asyncio.get_running_loop()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))
            listener.listen(_BACKLOG)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self._loop.add_reader(listener.fileno(), self._accept_ready)

    def close(self) -> None:
        """Stops accepting; connections already relayed go on (see abort_connections)."""
        if self._listener is not None and self._loop is not None:
            self._loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None

    def abort_connections(self) -> None:
        for relay in list(self._relays):
            relay.close()

    def _accept_ready(self) -> None:
        assert self._listener is not None
        for _ in range(_ACCEPTS_PER_WAKEUP):
            try:
                connection, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # EMFILE and the like: the caller sees a reset
                log_event(logger, "cni_accept_failed", logging.ERROR, error=error)
                return
            self._admit(connection)

    def _admit(self, connection: socket.socket) -> None:
        assert self._loop is not None
        connection.setblocking(False)
        try:
            credentials = peer_credentials(connection)
        except OSError:
            connection.close()
            return
        admitted = credentials.uid in self.allowed_uids
        caller = Caller(credentials, open_root_of(credentials.pid) if admitted else None)
        if admitted and caller.root_fd is None:
            self._warn_once_no_root(caller)
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        address = ""
        try:
            upstream.bind("")  # autobind: the kernel picks a unique abstract address
            address = abstract_name(upstream)
            self.registry.add(address, caller)  # before the server can see the connection
            # A unix connect completes at once, or fails (EAGAIN: the backlog is full).
            upstream.connect(self._admitted_upstream if admitted else self._refused_upstream)
        except OSError as error:
            upstream.close()
            connection.close()
            if address:
                self.registry.remove(address)
            else:
                caller.release()
            log_event(logger, "cni_relay_failed", logging.ERROR, error=error)
            return

        def closed(finished: _Relay) -> None:
            self._relays.discard(finished)
            self.registry.remove(address)

        relay = _Relay(self._loop, connection, upstream, closed)
        self._relays.add(relay)
        relay.start()

    def _warn_once_no_root(self, caller: Caller) -> None:
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


class _Relay:
    """Copies bytes both ways between a caller and its upstream until both directions
    have ended (EOF passed on as a half-close) or either socket fails."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        caller: socket.socket,
        upstream: socket.socket,
        on_closed: Callable[[_Relay], None],
    ) -> None:
        self._sockets = (caller, upstream)
        self._on_closed = on_closed
        self._closed = False
        self._flows = (_Flow(loop, self, caller, upstream), _Flow(loop, self, upstream, caller))

    def start(self) -> None:
        for flow in self._flows:
            flow.start()
        # The caller usually wrote its request before it was accepted: pass it on now
        # rather than one loop iteration later.
        self._flows[0].pump_now()

    def flow_ended(self) -> None:
        if all(flow.ended for flow in self._flows):
            self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for flow in self._flows:
            flow.stop()
        for sock in self._sockets:
            sock.close()
        self._on_closed(self)


class _Flow:
    """One direction of a relay: reads src, writes dst; stops reading while dst is full."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        relay: _Relay,
        src: socket.socket,
        dst: socket.socket,
    ) -> None:
        self._loop = loop
        self._relay = relay
        self._src = src
        self._dst = dst
        self._src_fd = src.fileno()
        self._dst_fd = dst.fileno()
        self._pending = b""
        self.ended = False

    def start(self) -> None:
        self._loop.add_reader(self._src_fd, self._readable)

    def pump_now(self) -> None:
        self._readable()

    def stop(self) -> None:
        self._loop.remove_reader(self._src_fd)
        self._loop.remove_writer(self._dst_fd)

    def _readable(self) -> None:
        try:
            data = self._src.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._relay.close()
            return
        if not data:
            self._loop.remove_reader(self._src_fd)
            with contextlib.suppress(OSError):
                self._dst.shutdown(socket.SHUT_WR)
            self.ended = True
            self._relay.flow_ended()
            return
        self._send(data)

    def _send(self, data: bytes) -> None:
        try:
            sent = self._dst.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._relay.close()
            return
        if sent == len(data):
            if self._pending:
                self._pending = b""
                self._loop.remove_writer(self._dst_fd)
                self._loop.add_reader(self._src_fd, self._readable)
            return
        if not self._pending:
            self._loop.remove_reader(self._src_fd)
            self._loop.add_writer(self._dst_fd, self._writable)
        self._pending = data[sent:]

    def _writable(self) -> None:
        self._send(self._pending)
