"""Who is on the other end of a CNI socket connection, as the gRPC handlers learn it.

grpc gives a handler no access to its connection's socket, so SO_PEERCRED
cannot be read there (grpc/grpc#28755). The caller gate reads it on the public
socket instead and relays each connection from a socket of its own, autobound
to a unique abstract address; grpc reports that address as the call's peer
("unix-abstract:<name>"), and this registry maps it back to the caller.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from netagent.dataplane.caller_view import CallerRoot

_UCRED = struct.Struct("3i")
_ABSTRACT_PEER = "unix-abstract:"


@dataclass(frozen=True)
class PeerCredentials:
    """SO_PEERCRED: the process that connected, as of connect(2). pid is 0 when that
    process is outside the agent's PID namespace."""

    pid: int
    uid: int
    gid: int


def peer_credentials(sock: socket.socket) -> PeerCredentials:
    pid, uid, gid = _UCRED.unpack(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    )
    return PeerCredentials(pid, uid, gid)


def open_root_of(pid: int) -> int | None:
    """An O_PATH fd on pid's root directory, or None when it cannot be had (pid 0: the
    caller is in another PID namespace; the process is gone; no ptrace access)."""
    if pid <= 0:
        return None
    try:
        return os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None


@dataclass(frozen=True)
class Caller:
    credentials: PeerCredentials
    root_fd: int | None
    """Opened when the connection was accepted, so the root stays the caller's even
    if its pid were reused before the call is served; closed by release()."""

    def release(self) -> None:
        if self.root_fd is not None:
            os.close(self.root_fd)


class CallerRegistry:
    """Callers of the connections the gate is relaying, by relay socket address."""

    def __init__(self) -> None:
        self._callers: dict[str, Caller] = {}

    def add(self, address: str, caller: Caller) -> None:
        self._callers[address] = caller

    def remove(self, address: str) -> None:
        caller = self._callers.pop(address, None)
        if caller is not None:
            caller.release()

    def __len__(self) -> int:
        return len(self._callers)

    def lookup(self, peer: str) -> Caller | None:
        """The caller of a call whose grpc peer is peer; None when the call did not
        come through the gate (a root process on the internal socket) or its caller
        has hung up."""
        if not peer.startswith(_ABSTRACT_PEER):
            return None
        return self._callers.get(peer.removeprefix(_ABSTRACT_PEER))

    @staticmethod
    def relayed(peer: str) -> bool:
        return peer.startswith(_ABSTRACT_PEER)

    @contextlib.contextmanager
    def root_of(self, caller: Caller) -> Iterator[CallerRoot | None]:
        """A duplicate of caller's root fd, valid inside the block even if the gate
        drops the connection meanwhile."""
        if caller.root_fd is None:
            yield None
            return
        fd = os.dup(caller.root_fd)
        try:
            yield CallerRoot(fd, caller.credentials.pid)
        finally:
            os.close(fd)


def abstract_name(sock: socket.socket) -> str:
    """The abstract address sock is bound to, as grpc prints it (without the NUL)."""
    address = sock.getsockname()
    raw = address if isinstance(address, bytes) else os.fsencode(address)
    return raw.removeprefix(b"\0").decode("ascii")
