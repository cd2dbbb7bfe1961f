"""Where the agent's gRPC servers listen behind the caller gate: a 0700 directory
beside the public socket, so only the agent (root) can connect to them directly."""

from __future__ import annotations

from pathlib import Path

MAX_UNIX_SOCKET_PATH = 107  # sun_path holds 108 bytes, NUL included


def internal_dir(public_socket: Path) -> Path:
    return public_socket.parent / f".{public_socket.name}.d"


def admitted_socket(public_socket: Path) -> Path:
    return internal_dir(public_socket) / "grpc"


def refused_socket(public_socket: Path) -> Path:
    return internal_dir(public_socket) / "refuse"


def longest_path(public_socket: Path) -> int:
    """Bytes of the longest unix socket path the agent binds for public_socket."""
    return max(
        len(bytes(path))
        for path in (public_socket, admitted_socket(public_socket), refused_socket(public_socket))
    )
