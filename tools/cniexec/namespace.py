"""Running a callable inside a network namespace without forking.

setns(2) with CLONE_NEWNET switches only the calling thread, so the callable
runs on a short-lived thread that enters the namespace first. Sockets it opens
stay in that namespace, and processes it starts inherit it, which is how a
runtime living in a node's namespace starts its plugins.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = Path("/run/netns")

_libc = ctypes.CDLL(None, use_errno=True)


def netns_path(netns: str | Path) -> Path:
    """A namespace name (as `ip netns` knows it) or a path to a namespace file."""
    text = str(netns)
    return Path(text) if "/" in text else NETNS_RUN_DIR / text


def enter_netns(path: Path) -> None:
    """Moves the calling thread (only it) into the network namespace at path."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({path}): {os.strerror(errno)}")
    finally:
        os.close(fd)


def call_in_netns(netns: str | Path | None, function: Callable[[], T]) -> T:
    """function() run inside netns (in the caller's namespace for None)."""
    if netns is None:
        return function()
    path = netns_path(netns)
    outcome: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            enter_netns(path)
            outcome.append(function())
        except BaseException as error:
            failure.append(error)

    worker = threading.Thread(target=body, name=f"netns:{path.name}", daemon=True)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return outcome[0]
