"""Running test code inside a named network namespace, in-process.

setns(2) for a network namespace switches only the calling thread, so a
dedicated thread can live in a node namespace while pytest itself stays in the
root namespace. Code run there sees the node namespace as "the current one",
exactly as the agent does in production; subprocesses it starts inherit it.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from tools.cniexec.namespace import call_in_netns as in_netns
from tools.cniexec.namespace import enter_netns
from tools.lab.netns import NETNS_DIR

T = TypeVar("T")


def _enter_netns(name: str) -> None:
    """Moves the calling thread into /run/netns/<name>, verifying it arrived."""
    path = NETNS_DIR / name
    enter_netns(path)
    if os.stat("/proc/thread-self/ns/net").st_ino != os.stat(path).st_ino:
        raise RuntimeError(f"thread did not enter netns {name}")


def call_in_netns(name: str, function: Callable[..., T], *args: Any) -> T:
    """function(*args) on a fresh thread inside netns name."""
    return in_netns(name, lambda: function(*args))


class NetnsEventLoop:
    """An asyncio event loop on a thread that lives in netns name.

    with NetnsEventLoop("node") as node:
        node.run(dataplane.attach(spec))
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> NetnsEventLoop:
        started: Future[asyncio.AbstractEventLoop] = Future()

        def serve() -> None:
            try:
                _enter_netns(self.name)
                loop = asyncio.new_event_loop()
            except BaseException as error:
                started.set_exception(error)
                return
            asyncio.set_event_loop(loop)
            started.set_result(loop)
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()

        self._thread = threading.Thread(target=serve, name=f"loop-in-{self.name}", daemon=True)
        self._thread.start()
        self._loop = started.result(10)
        return self

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("NetnsEventLoop used outside its with block")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def __exit__(self, *_: object) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = None
