"""Network namespace handles, and netlink sockets opened inside them without forking.

setns(2) on a network namespace switches only the calling thread, so a socket
for a pod namespace is created by a short-lived thread that enters the
namespace, opens the socket and leaves. The socket stays bound to the
namespace it was created in and is then used from the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import os
import socket
import threading
from collections.abc import Iterator

from netagent.dataplane.caller_view import NetnsPath, open_in_root
from netagent.dataplane.errors import DataplaneError, NetnsNotFound, NotANetns

CLONE_NEWNET = 0x40000000
NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3), Linux >= 4.11
NETLINK_ROUTE = 0
_OWN_THREAD_NETNS = "/proc/thread-self/ns/net"

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _open_handle(netns: str | os.PathLike[str]) -> int:
    path = os.fspath(netns)
    root = netns.root if isinstance(netns, NetnsPath) else None
    try:
        if root is None:
            return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        return open_in_root(root.fd, path)
    except FileNotFoundError:
        seen_by = netns.seen_by if isinstance(netns, NetnsPath) else ""
        raise NetnsNotFound(path, seen_by) from None
    except OSError as error:
        reason = (
            "a magic link (/proc/...) before the last path component"
            if error.errno == errno.EXDEV
            else error.strerror or str(error)
        )
        raise NotANetns(path, reason) from None


@contextlib.contextmanager
def open_pod_netns(netns: str | os.PathLike[str]) -> Iterator[int]:
    """An O_RDONLY fd on a pod's network namespace handle.

    A NetnsPath with a caller root is resolved as that caller sees it (see
    caller_view); any other path in the agent's own view. Rejects missing paths,
    anything that is not a network namespace, and the agent's own (the node's)
    namespace, which no pod operation may touch.
    """
    path = os.fspath(netns)
    fd = _open_handle(netns)
    try:
        try:
            nstype = fcntl.ioctl(fd, NS_GET_NSTYPE)
        except OSError as error:
            reason = "not an nsfs file" if error.errno == errno.ENOTTY else str(error)
            raise NotANetns(path, reason) from None
        if nstype != CLONE_NEWNET:
            raise NotANetns(path, f"namespace type {nstype:#x}")
        pod = os.fstat(fd)
        own = os.stat(_OWN_THREAD_NETNS)
        if (pod.st_dev, pod.st_ino) == (own.st_dev, own.st_ino):
            raise NotANetns(path, "it is the node's own network namespace")
        yield fd
    finally:
        os.close(fd)


def _netlink_socket_in_netns(netns_fd: int) -> socket.socket:
    own = os.open(_OWN_THREAD_NETNS, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(netns_fd)
        try:
            return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
        finally:
            # The thread ends right after; going back is hygiene, not correctness.
            with contextlib.suppress(OSError):
                _setns(own)
    finally:
        os.close(own)


async def netlink_socket_in_netns(netns_fd: int) -> socket.socket:
    """A NETLINK_ROUTE socket living in the namespace netns_fd refers to.

    Runs in a fresh thread (never a pooled one), so no thread that other code
    reuses can be left in a foreign namespace. The thread works on its own
    duplicate of netns_fd, so a cancelled caller may close the original.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[socket.socket] = loop.create_future()
    thread_fd = os.dup(netns_fd)

    def deliver_socket(sock: socket.socket) -> None:
        if done.cancelled():
            sock.close()
        else:
            done.set_result(sock)

    def deliver_error(error: DataplaneError) -> None:
        if not done.cancelled():
            done.set_exception(error)

    def run() -> None:
        try:
            sock = _netlink_socket_in_netns(thread_fd)
        except OSError as error:
            failure = DataplaneError(f"cannot open a netlink socket in the pod netns: {error}")
            loop.call_soon_threadsafe(deliver_error, failure)
        else:
            loop.call_soon_threadsafe(deliver_socket, sock)
        finally:
            os.close(thread_fd)

    threading.Thread(target=run, name="podnet-netns-socket", daemon=True).start()
    return await done
