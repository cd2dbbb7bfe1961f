"""Dialing from inside a network namespace (`--netns`, the lab's podnetctl.json): the
whole process moves there before any gRPC thread or socket exists."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from podnetctl.errors import CommandError

CLONE_NEWNET = 0x40000000


def netns_file(name: str) -> Path:
    """A name as `ip netns` knows it, or a path to a namespace file."""
    return Path(name) if "/" in name else Path("/run/netns") / name


def enter_netns(name: str) -> None:
    """Moves the calling thread (podnetctl has no other yet) into the namespace."""
    path = netns_file(name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:
        raise CommandError(f"network namespace {path}: {error.strerror}") from None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise CommandError(f"cannot enter network namespace {path}: {os.strerror(errno)}")
    finally:
        os.close(fd)
