"""Paths resolved the way the process that sent them sees its filesystem.

A runtime may keep its pod netns mounts in a mount namespace of its own (podman
in a private mount namespace, containerd with private netns mounts, a runtime
inside a kind node container), so CNI_NETNS can name a file that does not exist
in the agent's view. The agent therefore resolves it inside the root directory
of the calling process, reached through /proc/<pid>/root: path walking from
there crosses the mounts of the caller's mount namespace. openat2's
RESOLVE_IN_ROOT keeps '..' and absolute symlinks (e.g. /var/run -> /run) inside
that root, as they are for the caller.
"""

from __future__ import annotations

import ctypes
import errno
import os
from dataclasses import dataclass

_SYS_OPENAT2 = 437  # the same number on every architecture (Linux >= 5.6)
_RESOLVE_IN_ROOT = 0x10
_EAGAIN_RETRIES = 3

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


@dataclass(frozen=True)
class CallerRoot:
    """The root directory of the process that sent a request: an O_PATH fd its holder
    owns and keeps open while the request is served, and that process's pid."""

    fd: int
    pid: int


@dataclass(frozen=True)
class NetnsPath:
    """A pod netns path with the root it is resolved in (None: the agent's own)."""

    path: str
    root: CallerRoot | None = None

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.path

    @property
    def seen_by(self) -> str:
        """Where the path was looked up, for error messages ("" for the agent's view)."""
        if self.root is None:
            return ""
        return f"in the filesystem of the calling process (pid {self.root.pid})"


def _openat2(dir_fd: int, path: str, flags: int, resolve: int) -> int:
    how = _OpenHow(flags, 0, resolve)
    encoded = os.fsencode(path)
    for _ in range(_EAGAIN_RETRIES):
        fd = _syscall(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dir_fd),
            ctypes.c_char_p(encoded),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        code = ctypes.get_errno()
        if code != errno.EAGAIN:  # EAGAIN: a rename raced the walk of '..'
            break
    raise OSError(code, os.strerror(code), path)


def open_in_root(root_fd: int, path: str) -> int:
    """An O_RDONLY fd on path as seen by the process whose root directory root_fd is.

    A relative path is taken from that root. A magic link (/proc/<pid>/ns/net,
    buildah's /proc/<pid>/fd/<n>) may only be the last component: it is followed
    after its directory has been resolved inside the root (RESOLVE_IN_ROOT refuses
    magic links with EXDEV). Kernels without openat2 walk /proc/self/fd/<root_fd>/path,
    where absolute symlinks resolve in the agent's root instead.
    """
    flags = os.O_RDONLY | os.O_CLOEXEC
    try:
        return _openat2(root_fd, path, flags, _RESOLVE_IN_ROOT)
    except OSError as error:
        if error.errno == errno.ENOSYS:
            return os.open(f"/proc/self/fd/{root_fd}/{path.lstrip('/')}", flags)
        if error.errno != errno.EXDEV:
            raise
    parent, _, name = path.rstrip("/").rpartition("/")
    if name in ("", ".", ".."):
        raise OSError(errno.ELOOP, "a magic link must be the last path component", path)
    parent_fd = _openat2(
        root_fd, parent or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, _RESOLVE_IN_ROOT
    )
    try:
        return os.open(name, flags, dir_fd=parent_fd)
    finally:
        os.close(parent_fd)
