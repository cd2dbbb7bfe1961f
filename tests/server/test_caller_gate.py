"""The caller gate on real unix sockets: routing by uid, identity, relaying under backpressure."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from netagent.server.caller_gate import CallerGate
from netagent.server.callers import Caller, CallerRegistry

PAYLOAD = os.urandom(6 * 1024 * 1024)  # well over the socket buffers: partial sends happen


@dataclass
class Upstream:
    """A blocking unix server standing in for a gRPC server behind the gate."""

    path: Path
    registry: CallerRegistry
    serve: Callable[[socket.socket], None]
    callers: list[Caller | None] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)

    def start(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(8)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            connection, address = listener.accept()
        peer = "unix-abstract:" + address.removeprefix(b"\0").decode()
        self.peers.append(peer)
        self.callers.append(self.registry.lookup(peer))
        with connection:
            self.serve(connection)


def slow_echo_of_digest(connection: socket.socket) -> None:
    """Reads slowly until EOF, then answers PAYLOAD and the digest of what it read."""
    digest = hashlib.sha256()
    while chunk := connection.recv(16384):
        digest.update(chunk)
        time.sleep(0.0005)
    connection.sendall(PAYLOAD + digest.digest())


def call(path: Path) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(str(path))
        client.sendall(PAYLOAD)
        client.shutdown(socket.SHUT_WR)
        received = bytearray()
        while chunk := client.recv(65536):
            received += chunk
    return bytes(received)


async def through_gate(tmp_path: Path, allowed: frozenset[int]) -> tuple[bytes, Upstream, Upstream]:
    registry = CallerRegistry()
    admitted = Upstream(tmp_path / "admitted", registry, slow_echo_of_digest)
    refused = Upstream(tmp_path / "refused", registry, slow_echo_of_digest)
    admitted.start()
    refused.start()
    gate = CallerGate(registry, admitted.path, refused.path, allowed)
    await gate.start(tmp_path / "public")
    try:
        answer = await asyncio.to_thread(call, tmp_path / "public")
        for _ in range(100):  # the gate sees the caller's EOF after the caller has its answer
            if not len(registry):
                break
            await asyncio.sleep(0.01)
        assert len(registry) == 0
    finally:
        gate.close()
    return answer, admitted, refused


def test_an_allowed_caller_is_relayed_with_its_identity_and_root(tmp_path: Path) -> None:
    answer, admitted, refused = asyncio.run(through_gate(tmp_path, frozenset({os.getuid()})))
    assert answer == PAYLOAD + hashlib.sha256(PAYLOAD).digest()
    assert refused.callers == []
    [caller] = admitted.callers
    assert caller is not None
    assert caller.credentials.pid == os.getpid() and caller.credentials.uid == os.getuid()
    assert caller.root_fd is not None  # opened at accept; closed with the connection since
    assert admitted.peers[0].startswith("unix-abstract:")


def test_any_other_uid_goes_to_the_refusal_upstream_without_a_root(tmp_path: Path) -> None:
    answer, admitted, refused = asyncio.run(through_gate(tmp_path, frozenset({12345})))
    assert answer == PAYLOAD + hashlib.sha256(PAYLOAD).digest()
    assert admitted.callers == []
    [caller] = refused.callers
    assert caller is not None and caller.credentials.uid == os.getuid()
    assert caller.root_fd is None


def test_a_caller_is_cut_off_cleanly_when_the_upstream_is_down(tmp_path: Path) -> None:
    async def scenario() -> tuple[bytes, int]:
        registry = CallerRegistry()
        gate = CallerGate(registry, tmp_path / "absent", tmp_path / "absent", frozenset({0}))
        await gate.start(tmp_path / "public")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.connect(str(tmp_path / "public"))
                client.settimeout(5)
                received = await asyncio.to_thread(client.recv, 10)
        finally:
            gate.close()
        return received, len(registry)

    received, registered = asyncio.run(scenario())
    assert received == b""
    assert registered == 0
